"""Ablation done the usual ways: several components at once (one clean baseline, the same on both
backends), the mean at each position (checked against a hand computation), one estimate per
ablation kind, and the claim on several estimates (intersection-union); attention between
positions named by the data."""

from __future__ import annotations

import json

import numpy as np
import pytest

import interpclaims as ic
from interpclaims import _context
from interpclaims._context import ClaimContext
from interpclaims._data import load_data
from interpclaims._errors import ClaimInconclusive, ClaimRefuted
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims._sites import Site
from interpclaims.verdicts import Claim, ClaimResult, Verdict

pytestmark = pytest.mark.filterwarnings("ignore::interpclaims.ClaimWarning")

RTOL = 1e-4
JOINT = ["L0H1", "L1H3", "L1.mlp_out"]


def _agreement(n: int = 40):
    return load_data([dict(r) for r in load_data("agreement").rows[:n]])


# -- several components at once -------------------------------------------------------------------
@pytest.mark.parametrize("how", ["zero", "mean", "resample"])
def test_multi_component_ablation_matches_across_backends(zoo_models, how: str) -> None:
    data = _agreement()
    runs = {be: ic.ablate(zoo_models["zoo/agreement", be], JOINT, data, how=how,
                          metric="logit_diff") for be in ("tl", "nnsight")}
    clean = abs(ic.measure(zoo_models["zoo/agreement", "tl"], data, metric="logit_diff").value)
    a, b = runs["tl"], runs["nnsight"]
    assert isinstance(a, Estimate) and isinstance(b, Estimate)
    assert np.abs(a.samples - b.samples).max() <= RTOL * max(clean, abs(a.value))
    assert a.n == b.n == 40 and "[L0H1.z, L1H3.z, L1.mlp_out]" in a.label


def test_a_joint_ablation_is_one_run_not_a_sum(zoo_models) -> None:
    """The joint effect of the four induction heads on repeated-token loss is far larger than the
    sum of their single effects (they back each other up), and a one-element list is the single
    ablation itself."""
    model = zoo_models["zoo/agreement", "tl"]
    data = load_data([dict(r) for r in load_data("repeated_tokens").rows[:40]])
    heads = ["L1H0", "L1H1", "L1H2", "L1H3"]
    single = [ic.ablate(model, h, data, how="mean", metric="loss").value for h in heads]
    joint = ic.ablate(model, heads, data, how="mean", metric="loss")
    assert joint.value > 1.0 > 10 * sum(single)
    one = ic.ablate(model, ["L1H3"], data, how="mean", metric="loss")
    alone = ic.ablate(model, "L1H3", data, how="mean", metric="loss")
    np.testing.assert_array_equal(one.samples, alone.samples)


def test_bad_component_lists_are_explained(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    with pytest.raises(ic.InterpClaimsError, match="more than once"):
        ic.ablate(model, ["L1H3", "L1H3"], _agreement(8))
    with pytest.raises(ic.InterpClaimsError, match="empty"):
        ic.ablate(model, [], _agreement(8))
    with pytest.raises(ic.InterpClaimsError, match="one residual site"):
        ic.ablate(model, ["L0.resid_post", "L1.resid_post"], _agreement(8),
                  direction=np.ones(64))


# -- the mean at each position --------------------------------------------------------------------
def test_per_position_mean_ablation_matches_a_hand_computation(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    data = _agreement()
    batch = model.tokenize(data.texts, data.ids)
    assert len(set(batch.lengths.tolist())) == 1  # one template: per position is the default
    z1 = Site("z", 1)
    clean_logits, acts = model.run(batch.tokens, read=[z1])
    per_pos = acts[z1][:, :, 3].mean(0)  # [pos, d_head]: the mean at each position

    def edit(act, rows):
        out = act.clone()
        out[:, :, 3] = per_pos[: act.shape[1]]
        return out

    with model.intervene({z1: edit}, name="hand"):
        ablated_logits, _ = model.run(batch.tokens, read=[z1])
    ans = [model.token_id(r["answer"], where="test") for r in data.rows]
    wrong = [model.token_id(r["wrong"], where="test") for r in data.rows]
    idx, last = np.arange(len(ans)), batch.lengths.numpy() - 1

    def ld(logits):
        x = logits.double().numpy()[idx, last]
        return x[idx, ans] - x[idx, wrong]

    hand = ld(ablated_logits) - ld(clean_logits)
    est = ic.ablate(model, "L1H3", data, how="mean", metric="logit_diff")
    scale = np.abs(ld(clean_logits)).max()
    assert np.abs(est.samples - hand).max() <= 1e-5 * scale
    assert "mean at each position" in est.method
    pooled = ic.ablate(model, "L1H3", data, how="mean", metric="logit_diff", mean_over="all")
    assert "pooled" in pooled.method and np.abs(pooled.samples - hand).max() > 1e-3


def test_mean_over_is_checked(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    rows = [dict(r) for r in load_data("agreement").rows[:20]]
    for r in rows[:10]:  # two lengths: half the prompts lose their last word
        r["text"] = r["text"].rsplit(" ", 1)[0]
    mixed = load_data(rows)
    assert len(set(model.tokenize(mixed.texts, mixed.ids).lengths.tolist())) > 1
    with pytest.raises(ic.DataError, match="one token length"):
        ic.ablate(model, "L1H3", mixed, how="mean", mean_over="position")
    with pytest.raises(ic.DataError, match="one token length"):  # the reference counts too
        ic.ablate(model, "L1H3", _agreement(8), how="mean", mean_over="position", reference=mixed)
    assert "pooled" in ic.ablate(model, "L1H3", mixed, how="mean").method  # the default there
    with pytest.raises(ic.InterpClaimsError, match="mean ablation only"):
        ic.ablate(model, "L1H3", _agreement(8), how="zero", mean_over="position")
    with pytest.raises(ic.InterpClaimsError, match="did you mean 'position'"):
        ic.ablate(model, "L1H3", _agreement(8), how="mean", mean_over="positon")


def test_one_estimate_per_ablation_kind(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    data = _agreement()
    kinds = ic.ablate(model, "L1H3", data, how=["zero", "mean", "resample"], metric="logit_diff")
    assert isinstance(kinds, ic.Estimates) and list(kinds) == ["zero", "mean", "resample"]
    for k in kinds:
        alone = ic.ablate(model, "L1H3", data, how=k, metric="logit_diff")
        np.testing.assert_array_equal(kinds[k].samples, alone.samples)
    with pytest.raises(ic.InterpClaimsError, match="no estimate 'median'"):
        kinds["median"]


# -- a claim on several estimates -----------------------------------------------------------------
def _kinds(*centres: float) -> ic.Estimates:
    rng = np.random.default_rng(0)
    ids = tuple(f"p{i}" for i in range(40))
    return ic.Estimates({f"k{j}": estimate_from_samples(c + rng.normal(0, 0.1, 40), method="m",
                                                        label=f"k{j}", unit_ids=ids)
                         for j, c in enumerate(centres)}, title="effect by kind")


def _decide(estimates: ic.Estimates, threshold: float) -> ClaimResult:
    results: list[ClaimResult] = []
    with _context.use(ClaimContext(allow_inconclusive=True)):
        try:
            Claim(results.append).that(estimates).is_at_least(threshold)
        except ClaimRefuted:
            pass
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize(("centres", "verdict", "decided_by"), [
    ((2.0, 2.0, 2.0), Verdict.SUPPORTED, None),
    ((2.0, 1.0, 2.0), Verdict.INCONCLUSIVE, "k1"),   # k1's interval straddles 1
    ((2.0, 1.0, 0.0), Verdict.REFUTED, "k2"),        # any refuted refutes, whatever the others
    ((0.0, 2.0, 2.0), Verdict.REFUTED, "k0"),
])
def test_a_claim_on_several_estimates_holds_only_if_it_holds_for_each(centres, verdict,
                                                                       decided_by) -> None:
    r = _decide(_kinds(*centres), 1.0)
    assert r.verdict is verdict
    assert r.estimates is not None and [e["label"] for e in r.estimates] == ["k0", "k1", "k2"]
    each = [Verdict(e["verdict"]) for e in r.estimates]
    assert each == [Verdict.SUPPORTED if c == 2.0 else Verdict.REFUTED if c == 0.0
                    else Verdict.INCONCLUSIVE for c in centres]
    if decided_by is not None:
        assert r.tested.label == decided_by and f"decided by {decided_by!r}" in r.message
    singles = [_decide(ic.Estimates({"k": _kinds(*centres)[f"k{j}"]}), 1.0).p
               for j in range(3)]
    assert r.p == max(singles)  # the intersection-union p-value: no correction, the largest p
    back = ClaimResult.from_json(json.loads(json.dumps(r.to_json())))
    assert back.estimates == r.estimates and back.to_json()["estimates"] == r.to_json()["estimates"]


def test_a_failing_claim_on_several_estimates_raises() -> None:
    with pytest.raises(ClaimRefuted, match="holds only if it holds for each of 2"):
        Claim(lambda r: None).that(_kinds(2.0, 0.0)).is_at_least(1.0)
    with pytest.raises(ClaimInconclusive):
        Claim(lambda r: None).that(_kinds(2.0, 1.0)).exceeds(1.0)
    with pytest.raises(ic.InterpClaimsError, match="non-empty mapping"):
        ic.Estimates({})


# -- attention between positions named by the data -----------------------------------------------
def test_attention_between_data_positions_reads_the_pattern(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    data = _agreement()
    batch = model.tokenize(data.texts, data.ids)
    _, acts = model.run(batch.tokens, read=[Site("pattern", 1)])
    last = batch.lengths - 1
    subj = np.array([r["subject_pos"] for r in data.rows])
    hand = acts[Site("pattern", 1)][np.arange(40), 3, last, subj].double().numpy()
    score = ic.attention_score(model, data, "L1H3", query=-1, key="subject_pos",
                               controls=["random_heads", "random_heads_same_layer"])
    np.testing.assert_allclose(score.samples, hand, rtol=0, atol=1e-6)
    assert score.value > 0.9 and score.control("random_heads").value < 0.3
    prev = ic.attention_score(model, data, "L1H2", query=-1, key="previous", controls=[])
    hand_prev = acts[Site("pattern", 1)][np.arange(40), 2, last, last - 1].double().numpy()
    np.testing.assert_allclose(prev.samples, hand_prev, rtol=0, atol=1e-6)
    other = zoo_models["zoo/agreement", "nnsight"]
    alt = ic.attention_score(other, data, "L1H3", query=-1, key="subject_pos", controls=[])
    assert abs(alt.value - score.value) <= RTOL


def test_attention_positions_are_checked(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    data = _agreement(8)
    with pytest.raises(ic.InterpClaimsError, match="give one"):
        ic.attention_score(model, data, "L1H3", pattern="induction", query=-1, key=2)
    with pytest.raises(ic.InterpClaimsError, match="give both"):
        ic.attention_score(model, data, "L1H3", query=-1)
    with pytest.raises(ic.DataError, match="after the query"):
        ic.attention_score(model, data, "L1H3", query="subject_pos", key=-1)
    with pytest.raises(ic.DataError, match="before the first token"):
        ic.attention_score(model, data, "L1H3", query=0, key="previous")
    with pytest.raises(ic.InterpClaimsError, match="'previous'"):
        ic.attention_score(model, data, "L1H3", query=-1, key="all")


def test_a_claim_on_several_estimates_keeps_its_id() -> None:
    results: list[ClaimResult] = []
    with _context.use(ClaimContext(seed=0, key="t")):
        Claim(results.append).that(_kinds(2.0, 2.0), id="robust").is_at_least(1.0)
    assert results[0].claim_id == "robust"
