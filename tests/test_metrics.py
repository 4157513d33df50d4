"""Metrics: callable metrics and their errors, the built-ins over a list of wrong tokens, top1,
decision positions (at=), ic.estimate, the ratio-of-means normalized patching effect, the embed
and ln_final sites, and per-prompt values in the report row — with parity across backends."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import interpclaims as ic
from interpclaims._data import load_data
from interpclaims._estimate import estimate_ratio
from interpclaims.stats import bootstrap_ratio, derive_rng
from interpclaims.verdicts import Claim, ClaimResult

N_ROWS = 40
PARITY = 1e-4  # relative to the scale of the quantity


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [dict(r) for r in load_data("agreement").rows[:N_ROWS]]


@pytest.fixture(scope="module")
def tl(zoo_models):
    return zoo_models["zoo/agreement", "tl"]


@pytest.fixture(scope="module")
def nn(zoo_models):
    return zoo_models["zoo/agreement", "nnsight"]


def _last_logits(model, rows, at=None):
    """``[batch, d_vocab]`` float64 logits at each prompt's last real token (or field ``at``)."""
    import torch

    batch = model.tokenize([r["text"] for r in rows], [r["id"] for r in rows])
    logits, _ = model.run(batch.tokens)
    pos = batch.lengths - 1 if at is None else torch.tensor([r[at] for r in rows])
    return logits[torch.arange(len(rows)), pos].double()


def _ids(model, words):
    return [model.token_id(w, where="test") for w in words]


def logit_diff_by_hand(logits, rows):
    """A callable metric: logit(answer) − logit(wrong), from the token ids in each row."""
    import torch

    idx = torch.arange(len(rows))
    return logits[idx, [r["answer_id"] for r in rows]] - logits[idx, [r["wrong_id"] for r in rows]]


@pytest.fixture(scope="module")
def id_rows(tl, rows) -> list[dict]:
    """The rows with the answer / wrong token ids as fields (a callable metric reads them)."""
    return [{**r, "answer_id": _ids(tl, [r["answer"]])[0], "wrong_id": _ids(tl, [r["wrong"]])[0]}
            for r in rows]


# -- callable metrics -----------------------------------------------------------------------------


def test_callable_metric_equals_the_built_in(tl, id_rows) -> None:
    mine = ic.measure(tl, id_rows, metric=logit_diff_by_hand)
    builtin = ic.measure(tl, id_rows, metric="logit_diff")
    scale = float(np.abs(builtin.samples).max())
    assert np.allclose(mine.samples, builtin.samples, atol=1e-5 * scale)
    assert mine.unit_ids == tuple(r["id"] for r in id_rows)
    assert "logit_diff_by_hand" in mine.label


def test_callable_metric_is_called_once_per_run_with_every_field(tl, id_rows) -> None:
    calls = []

    def spy(logits, rows):
        calls.append((tuple(logits.shape), str(logits.dtype), sorted(rows[0])))
        return logit_diff_by_hand(logits, rows)

    ic.ablate(tl, "L1H3", id_rows, how="mean", metric=spy)
    assert len(calls) == 2  # the clean run and the ablated run
    assert all(c[0] == (N_ROWS, tl.spec.d_vocab) and c[1] == "torch.float32" for c in calls)
    assert set(id_rows[0]) <= set(calls[0][2])


def test_callable_effect_is_intervened_minus_clean(tl, id_rows) -> None:
    mine = ic.ablate(tl, "L1H3", id_rows, how="mean", metric=logit_diff_by_hand)
    builtin = ic.ablate(tl, "L1H3", id_rows, how="mean", metric="logit_diff")
    scale = float(np.abs(builtin.samples).max())
    assert np.allclose(mine.samples, builtin.samples, atol=1e-5 * scale)
    assert builtin.value < -1.0  # L1H3 carries subject number: the effect is large and negative


def _raises(logits, rows):
    raise KeyError("no_such_field")


def _wrong_shape(logits, rows):
    return logits[:, :2]


def _nan(logits, rows):
    out = logits[:, 0].clone()
    out[3] = float("nan")
    return out


def _a_list(logits, rows):
    return [0.0] * len(rows)


@pytest.mark.parametrize(("metric", "says"), [
    (_raises, [r"metric _raises of ablate\(\)", r"the clean run", r"agr-0000\.\.agr-0039",
               r"raised KeyError", r"no_such_field"]),
    (_wrong_shape, [r"metric _wrong_shape of ablate\(\)", r"returned shape \[40, 2\]",
                    r"expected \[40\]"]),
    (_nan, [r"metric _nan of ablate\(\)", r"1 non-finite value", r"row 'agr-0003'"]),
    (_a_list, [r"metric _a_list of ablate\(\)", r"returned list", r"torch tensor or a numpy"]),
])
def test_a_bad_callable_metric_gets_a_clear_error(tl, rows, metric, says) -> None:
    with pytest.raises(ic.InterpClaimsError) as info:
        ic.ablate(tl, "L1H3", rows, how="mean", metric=metric)
    for pattern in says:
        assert info.match(pattern)


def test_every_analysis_with_metric_takes_a_callable(tl, id_rows) -> None:
    """ablate_pair, steer, localize and patch_heads give the built-in's values for the same metric
    written as a callable."""
    def same(mine, builtin, scale=None):
        # the scale of what the values are computed from (an interaction is a difference of
        # effects of several logits, so it takes their scale, not its own)
        scale = scale if scale is not None else float(np.abs(builtin.samples).max())
        assert np.allclose(mine.samples, builtin.samples, atol=1e-5 * scale), (mine, builtin)

    pair = [ic.ablate_pair(tl, "L1H3", "L1H2", id_rows, metric=m)
            for m in (logit_diff_by_hand, "logit_diff")]
    same(pair[0].interaction, pair[1].interaction,
         scale=max(float(np.abs(getattr(pair[1], k).samples).max()) for k in ("a", "b", "joint")))
    vec = ic.mean_difference(tl, "L0.resid_post", id_rows, "number", "plural", "singular",
                             position="subject_pos")
    steer = [ic.steer(tl, "L0.resid_post", vec, id_rows, metric=m, positions="subject_pos",
                      side_data=id_rows[:5]) for m in (logit_diff_by_hand, "logit_diff")]
    same(steer[0].effect(1.0), steer[1].effect(1.0))
    loc = ic.localize(tl, id_rows, metrics=["logit_diff", logit_diff_by_hand], top_k=1)
    assert loc.impact.cols == ("logit_diff", "logit_diff_by_hand")
    top = loc.top()[0]
    same(loc.impact[top, "logit_diff_by_hand"], loc.impact[top, "logit_diff"])
    heads = ic.patch_heads(tl, id_rows, positions=-1, metric=logit_diff_by_hand)
    same(heads["L1", "H3"], ic.patch_heads(tl, id_rows, positions=-1, metric="logit_diff")["L1", "H3"])


def test_a_callable_named_like_a_built_in_is_still_the_callable(tl, id_rows) -> None:
    def kl(logits, rows):  # not the built-in KL
        return logit_diff_by_hand(logits, rows)

    def flip_rate(logits, rows):
        return logit_diff_by_hand(logits, rows)

    builtin = ic.ablate(tl, "L1H3", id_rows, how="mean", metric="logit_diff").samples
    for fn in (kl, flip_rate):
        est = ic.ablate(tl, "L1H3", id_rows, how="mean", metric=fn)
        assert np.allclose(est.samples, builtin, atol=1e-5 * np.abs(builtin).max())
        assert "Wilson" not in est.method


def test_a_numpy_result_is_accepted(tl, id_rows) -> None:
    est = ic.measure(tl, id_rows, metric=lambda lg, rs: logit_diff_by_hand(lg, rs).numpy())
    assert est.value > 1.0


# -- built-ins ------------------------------------------------------------------------------------


def test_logit_diff_over_a_list_of_wrong_tokens(tl, rows) -> None:
    extra = ["sleeps", "sleep", "falls", "fall"]
    listed = [{**r, "wrong": [r["wrong"], *[w for w in extra if w != r["answer"]]]} for r in rows]
    last = _last_logits(tl, rows)
    idx = np.arange(len(rows))
    answer = last[idx, _ids(tl, [r["answer"] for r in rows])].numpy()
    wrong = np.stack([last[i, _ids(tl, r["wrong"])].numpy().max() for i, r in enumerate(listed)])
    mean = np.stack([last[i, _ids(tl, r["wrong"])].numpy().mean() for i, r in enumerate(listed)])
    got = ic.measure(tl, listed, metric="logit_diff").samples
    assert np.allclose(got, answer - wrong, atol=1e-6 * np.abs(answer).max())
    got_mean = ic.measure(tl, listed, metric="logit_diff_mean").samples
    assert np.allclose(got_mean, answer - mean, atol=1e-6 * np.abs(answer).max())
    # a one-element list is the single token
    single = [{**r, "wrong": [r["wrong"]]} for r in rows]
    assert np.array_equal(ic.measure(tl, single).samples, ic.measure(tl, rows).samples)


def test_each_run_takes_its_own_strongest_competitor(tl, rows) -> None:
    listed = [{**r, "wrong": [r["wrong"], "the", "cat"]} for r in rows]
    runs = []

    def spy(logits, rows):  # keeps each run's decision logits
        runs.append(logits.double())
        return logits[:, 0]

    ic.ablate(tl, "L1H3", listed, how="mean", metric=spy)
    clean, ablated = runs
    answers = _ids(tl, [r["answer"] for r in rows])
    wrongs = [_ids(tl, r["wrong"]) for r in listed]

    def diff(last):
        return np.array([float(last[i, a] - last[i, w].max())
                         for i, (a, w) in enumerate(zip(answers, wrongs, strict=True))])

    effect = ic.ablate(tl, "L1H3", listed, how="mean", metric="logit_diff")
    assert np.allclose(effect.samples, diff(ablated) - diff(clean), atol=1e-5)
    # the competitor differs between the runs for some prompts, so this is not one fixed token
    best = [(int(np.argmax(c[w].numpy())), int(np.argmax(a[w].numpy())))
            for c, a, w in zip(clean, ablated, wrongs, strict=True)]
    assert any(x != y for x, y in best)


def test_top1_and_pairwise_accuracy(tl, rows) -> None:
    last = _last_logits(tl, rows)
    answers = np.array(_ids(tl, [r["answer"] for r in rows]))
    top1 = ic.measure(tl, rows, metric="top1")
    assert np.array_equal(top1.samples, (last.argmax(-1).numpy() == answers).astype(float))
    assert "Wilson" in top1.method
    pairwise = ic.measure(tl, rows, metric="pairwise_accuracy")
    alias = ic.measure(tl, rows, metric="accuracy")
    assert alias.label == pairwise.label == f"pairwise_accuracy({load_data(rows).name})"
    assert np.array_equal(alias.samples, pairwise.samples)
    assert np.all(pairwise.samples >= top1.samples)  # top1 implies beating the wrong token


def test_a_list_holding_the_answer_is_refused(tl, rows) -> None:
    bad = [{**r, "wrong": [r["wrong"], r["answer"]]} for r in rows]
    with pytest.raises(ic.DataError, match=r"40 of 40 row\(s\).*same token as 'answer' and 'wrong'"):
        ic.measure(tl, bad)


def test_at_reads_the_metric_at_a_field_position(tl, id_rows) -> None:
    def at_subject(logits, rows):
        return logits[:, rows[0]["answer_id"]]

    est = ic.measure(tl, id_rows, metric=at_subject, at="subject_pos")
    last = _last_logits(tl, id_rows, at="subject_pos")
    assert np.allclose(est.samples, last[:, id_rows[0]["answer_id"]].numpy(), atol=1e-5)
    minus_one = ic.measure(tl, id_rows, metric="logit_diff", at=-1)
    assert np.array_equal(minus_one.samples, ic.measure(tl, id_rows).samples)
    with pytest.raises(ic.InterpClaimsError, match=r"measure\(at=\): metric 'loss'"):
        ic.measure(tl, id_rows, metric="loss", at=-1)


# -- ic.estimate ----------------------------------------------------------------------------------


def test_estimate_of_user_values() -> None:
    values = np.linspace(0.0, 2.0, 50)
    est = ic.estimate(values, label="mine")
    assert est.value == pytest.approx(1.0) and est.ci_low < 1.0 < est.ci_high and est.n == 50
    assert est.unit_ids == tuple(str(i) for i in range(50))
    assert est == ic.estimate(list(values), label="mine")  # seeded by the claim's context
    named = ic.estimate(values[:3], label="few", ids=["a", "b", "c"])
    assert named.unit_ids == ("a", "b", "c") and "Student-t" in named.method


def test_estimate_of_a_tensor() -> None:
    import torch

    assert ic.estimate(torch.ones(10), label="t").value == 1.0


@pytest.mark.parametrize(("values", "kwargs", "says"), [
    ([1.0, float("nan"), 2.0], {}, r"estimate 'x': value nan of prompt '1' is not finite"),
    ([[1.0, 2.0]], {}, r"one number per prompt; got shape \[1, 2\]"),
    ([1.0, 2.0], {"ids": ["a"]}, r"ids= must name each of the 2 values once"),
    (["a", "b"], {}, r"values must be numbers"),
])
def test_estimate_errors(values, kwargs, says) -> None:
    with pytest.raises(ic.InterpClaimsError, match=says):
        ic.estimate(values, label="x", **kwargs)


# -- the ratio of means ---------------------------------------------------------------------------


def test_ratio_of_proportional_values_is_exact() -> None:
    den = np.linspace(1.0, 3.0, 30)
    r = bootstrap_ratio(0.7 * den, den, derive_rng(0, "ratio"), n_resamples=500)
    assert r.bounded and r.value == pytest.approx(0.7)
    assert r.low == pytest.approx(0.7) and r.high == pytest.approx(0.7)


def test_ratio_interval_covers_the_true_ratio() -> None:
    """Simulation: num = 0.6 den + noise with a skewed denominator; the 95% interval of
    mean(num)/mean(den) covers the true 0.6 about 95% of the time (binomial band of 400 reps)."""
    rng = np.random.default_rng(1)
    hits = 0
    reps = 400
    for k in range(reps):
        den = rng.gamma(2.0, 1.0, size=60)
        num = 0.6 * den + rng.normal(0.0, 0.8, size=60)
        r = bootstrap_ratio(num, den, derive_rng(k, "sim"), n_resamples=500)
        hits += r.low <= 0.6 <= r.high
    assert 0.905 <= hits / reps <= 0.985, hits / reps


def test_ratio_with_a_denominator_near_zero_is_unbounded() -> None:
    rng = np.random.default_rng(2)
    den = rng.normal(0.05, 1.0, size=40)
    r = bootstrap_ratio(rng.normal(size=40), den, derive_rng(0, "zero"), n_resamples=500)
    assert not r.bounded and math.isinf(r.low) and math.isinf(r.high)
    with pytest.raises(ValueError, match=r"mean\(den\) is 0"):
        bootstrap_ratio([1.0, 2.0], [1.0, -1.0], derive_rng(0, "zero"))
    est = estimate_ratio(rng.normal(size=40), den, method="m", label="r")
    assert "denominator's interval reaches 0" in est.method
    with pytest.raises(ic.ClaimInconclusive), pytest.warns(ic.ClaimWarning, match="unbounded_interval"):
        Claim(lambda r: None).that(est).is_at_least(0.5)


def test_normalized_patching_is_the_ratio_of_means(tl, rows) -> None:
    ratio = ic.patch(tl, "L0.resid_post", rows, positions="subject_pos")
    change = ic.patch(tl, "L0.resid_post", rows, positions="subject_pos", metric="logit_diff")
    clean = ic.measure(tl, rows).samples
    corrupt_rows = [{**r, "text": r["corrupt_text"]} for r in rows]
    corrupt = ic.measure(tl, corrupt_rows).samples
    expected = change.samples.mean() / (clean - corrupt).mean()
    assert ratio.value == pytest.approx(expected, rel=1e-6)
    assert "ratio of means, paired BCa bootstrap" in ratio.method and ratio.samples is None
    parts = ratio.context["ratio_of_means"]
    assert parts["ids"] == [r["id"] for r in rows] and len(parts["numerator"]) == N_ROWS


# -- sites ----------------------------------------------------------------------------------------


def test_embed_and_ln_final_names() -> None:
    assert ic.parse_site("embed") == ic.parse_site("hook_embed") == ic.resid_pre(0)
    assert ic.parse_site("ln_final.hook_normalized") == ic.parse_site("ln_final") == ic.Site("ln_final")
    assert ic.Site("ln_final").tl_name == "ln_final.hook_normalized"
    with pytest.raises(ic.SiteError, match="takes no layer"):
        ic.Site("ln_final", 1)


def test_ln_final_is_the_normalized_last_residual(tl, nn, rows) -> None:
    """ln_final = resid_post of the last layer over its RMS (TransformerLens's definition, before
    the gain), equal on both backends; the last resid_post is *before* the final norm."""
    batch = tl.tokenize([r["text"] for r in rows], [r["id"] for r in rows])
    last = ic.resid_post(tl.spec.n_layers - 1)
    sites = [ic.Site("ln_final"), last]
    _, a = tl.run(batch.tokens, read=sites)
    _, b = nn.run(batch.tokens, read=sites)
    x = a[last]
    eps = tl.unembedding()[3]
    by_hand = x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    m = batch.mask
    scale = float(a[ic.Site("ln_final")][m].abs().max())
    assert float((a[ic.Site("ln_final")] - by_hand)[m].abs().max()) <= 1e-5 * scale
    assert float((a[ic.Site("ln_final")] - b[ic.Site("ln_final")])[m].abs().max()) <= PARITY * scale


def test_ln_final_cannot_be_intervened_on(tl, rows) -> None:
    with pytest.raises(ic.InterpClaimsError, match="cannot intervene on ln_final"):
        ic.ablate(tl, "ln_final.hook_normalized", rows)


def test_embed_is_patchable_and_ablatable(tl, rows) -> None:
    est = ic.patch(tl, "embed", rows, positions="subject_pos")
    assert est.ci_low > 0.8  # the subject's embedding carries its number
    assert ic.ablate(tl, "hook_embed", rows, how="mean", metric="logit_diff").value < -1.0


# -- parity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("analysis", ["ablate", "patch", "measure_list"])
def test_callable_and_list_metrics_match_across_backends(tl, nn, id_rows, analysis) -> None:
    def run(model):
        if analysis == "ablate":
            return ic.ablate(model, "L1H3", id_rows, how="mean", metric=logit_diff_by_hand)
        if analysis == "patch":
            return ic.patch(model, "L0.resid_post", id_rows, positions="subject_pos",
                            metric=logit_diff_by_hand)
        listed = [{**r, "wrong": [r["wrong"], "the", "cat"]} for r in id_rows]
        return ic.measure(model, listed, metric="logit_diff")

    a, b = run(tl), run(nn)
    scale = float(np.abs(a.samples).max())
    assert float(np.abs(a.samples - b.samples).max()) <= PARITY * scale


def test_normalized_patching_matches_across_backends(tl, nn, rows) -> None:
    a = ic.patch(tl, "L0.resid_post", rows, positions="subject_pos")
    b = ic.patch(nn, "L0.resid_post", rows, positions="subject_pos")
    assert abs(a.value - b.value) <= PARITY * max(1.0, abs(a.value))
    assert a.ci_low == pytest.approx(b.ci_low, abs=1e-3) and a.ci_high == pytest.approx(b.ci_high, abs=1e-3)


# -- per-prompt values in the report row ----------------------------------------------------------


def test_per_prompt_values_round_trip() -> None:
    results: list[ClaimResult] = []
    x = ic.estimate(np.linspace(1.0, 2.0, 30), label="x", ids=[f"p{i}" for i in range(30)])
    Claim(results.append).that(x).is_at_least(0.5)
    row = json.loads(json.dumps(results[0].to_json()))
    assert row["per_prompt"]["ids"] == [f"p{i}" for i in range(30)]
    assert row["per_prompt"]["values"] == pytest.approx(list(np.linspace(1.0, 2.0, 30)))
    assert ClaimResult.from_json(row).to_json() == row
    # a paired comparison carries the per-prompt differences
    y = ic.estimate(np.linspace(0.0, 0.5, 30), label="y", ids=[f"p{i}" for i in range(30)])
    Claim(results.append).that(x).exceeds(y)
    diff = results[1].to_json()["per_prompt"]["values"]
    assert diff == pytest.approx(list(np.linspace(1.0, 2.0, 30) - np.linspace(0.0, 0.5, 30)))


def test_per_prompt_values_reach_claims_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine='''
        import interpclaims as ic

        def test_mine(claim):
            values = [0.5 + 0.01 * i for i in range(30)]
            claim.that(ic.estimate(values, label="mine", ids=[f"q{i}" for i in range(30)])
                       ).is_at_least(0.1)
    ''')
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "reports" / "claims.json").read_text())
    (row,) = report["claims"]
    assert row["per_prompt"]["ids"] == [f"q{i}" for i in range(30)]
    assert row["per_prompt"]["values"] == pytest.approx([0.5 + 0.01 * i for i in range(30)])


def test_localize_refuses_two_metrics_with_one_name(tl, id_rows) -> None:
    """Two lambdas share the name ``<lambda>``: the matrix's columns would collide, and a cell
    read by name would silently be the first one's."""
    with pytest.raises(ic.InterpClaimsError, match="two metrics are named"):
        ic.localize(tl, id_rows, metrics=[lambda lg, r: logit_diff_by_hand(lg, r),
                                          lambda lg, r: -logit_diff_by_hand(lg, r)], top_k=1)
