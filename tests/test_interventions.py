"""Interventions: the same numbers on both backends, proof that they fired, and no leaks — also
when an exception is raised inside them."""

from __future__ import annotations

import pytest

import interpclaims as ic
from interpclaims._data import load_data

from .conftest import ZOO

RTOL = 1e-4


def _agreement(n: int = 40):
    return load_data([dict(r) for r in load_data("agreement").rows[:n]])


def _template(n: int = 40):
    rows = [dict(r) for r in load_data("agreement").rows if len(r["text"].split()) == 5]
    return load_data(rows[:n])


def _runs(model):
    """Every intervention type, each reduced to one estimate."""
    data = _agreement()
    vec = ic.mean_difference(model, "L0.resid_post", data, "number", "singular", "plural",
                             position="subject_pos")
    pair = ic.ablate_pair(model, "L1H3", "L1H2", data, how="mean", metric="logit_diff")
    sweep = ic.patch_sweep(model, _template(), kind="resid_pre")
    heads = ic.patch_heads(model, data, direction="noising", metric="logit_diff")
    steering = ic.steer(model, "L0.resid_post", vec, data, strengths=[2.0],
                        positions="subject_pos", side_data=load_data("random_tokens").rows[:30])
    loc = ic.localize(model, data, top_k=2)
    return {
        "ablate zero head": ic.ablate(model, "L1H3", data, how="zero", metric="logit_diff"),
        "ablate mean attn layer": ic.ablate(model, "L1.attn_out", data, how="mean", metric="kl"),
        "ablate resample head": ic.ablate(model, "L1H3", data, how="resample", metric="logit_diff"),
        "ablate mlp layer": ic.ablate(model, "L0.mlp_out", data, how="mean", metric="prob_drop"),
        "ablate neurons": ic.ablate(model, "L1N3", data, how="zero", metric="logit_diff"),
        "ablate several components": ic.ablate(model, ["L0H1", "L1H3", "L1.mlp_out"], data,
                                               how="resample", metric="logit_diff"),
        "ablate pooled mean": ic.ablate(model, "L0.mlp_out", data, how="mean",
                                        metric="logit_diff", mean_over="all"),
        "circuit faithfulness": ic.circuit(model, ["L1H3", "L1.mlp_out"], data, draws=1,
                                           greedy_steps=1).faithfulness,
        "ablate direction": ic.ablate(model, "L0.resid_post", data, how="zero", metric="logit_diff",
                                      direction=vec),
        "pairwise interaction": pair.interaction,
        "patch denoising": ic.patch(model, "L0.resid_post", data, positions="subject_pos"),
        "patch noising": ic.patch(model, "L1.attn_out", data, direction="noising", positions=-1),
        "sweep cell": sweep["L1", "pos2"],
        "head sweep cell": heads["L1", "H0"],
        "steering": steering.effect(2.0),
        "steering side effect": steering.side_effect(2.0),
        "localize": loc.impact[0, 0],
    }


@pytest.mark.parametrize("name", ZOO)
def test_every_intervention_matches_across_backends(zoo_models, name: str) -> None:
    a = _runs(zoo_models[name, "tl"])
    b = _runs(zoo_models[name, "nnsight"])
    assert a.keys() == b.keys()
    # Every metric here is computed from the logits, so its float32 error follows their scale, not
    # the effect's: an effect near 0 (a head that barely matters) is a difference of two logit
    # differences near 7. The tolerance is relative to the larger of the effect and the clean
    # logit difference it is computed from.
    clean = abs(ic.measure(zoo_models[name, "tl"], _agreement(), metric="logit_diff").value)
    for key in a:
        x, y = a[key].value, b[key].value
        scale = max(abs(x), abs(y), clean)
        assert abs(x - y) <= RTOL * scale, f"{name} {key}: tl {x} vs nnsight {y} (scale {scale:.3g})"
        assert a[key].n == b[key].n
    assert zoo_models[name, "tl"].leaks() == [] and zoo_models[name, "nnsight"].leaks() == []


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_known_mechanism_effects(zoo_models, backend: str) -> None:
    """Patching the subject's residual restores the clean behaviour; patching the bos does not
    fire at all (clean and corrupt agree there) and says so."""
    model = zoo_models["zoo/agreement", backend]
    data = _agreement()
    restored = ic.patch(model, "L0.resid_post", data, positions="subject_pos")
    assert restored.ci_low > 0.8
    with pytest.raises(ic.InterventionDidNotFire, match=r"L0\.resid_post.*identical"):
        ic.patch(model, "L0.resid_post", data, positions=0)


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
@pytest.mark.parametrize("name", ZOO)
def test_exceptions_inside_interventions_leave_no_trace(zoo_models, name: str, backend: str) -> None:
    import torch

    model = zoo_models[name, backend]
    data = _agreement(8)
    batch = model.tokenize(data.texts, data.ids)
    clean, _ = model.run(batch.tokens)

    class Boom(Exception):
        pass

    def raising_edit(act, rows):
        raise Boom("inside the edit")

    sites = [ic.Site("z", 1), ic.Site("attn_out", 0), ic.Site("mlp_out", 1),
             ic.Site("resid_mid", 1), ic.Site("resid_post", 0), ic.Site("mlp_post", 0),
             ic.Site("resid_pre", 1)]
    for site in sites:
        # an exception in the body of the context
        with pytest.raises(Boom), model.intervene({site: lambda act, rows: act * 0}, name="t"):
            model.run(batch.tokens)
            raise Boom("in the body")
        # an exception inside the edit, raised during the forward pass
        with pytest.raises(Exception) as info, model.intervene({site: raising_edit}, name="t"):
            model.run(batch.tokens)
        assert "inside the edit" in str(info.value) or isinstance(info.value, Boom)
        assert model.leaks() == [], site
        torch.testing.assert_close(model.run(batch.tokens)[0], clean, rtol=0, atol=0)


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_an_unclosed_context_is_reported_as_a_leak(zoo_models, backend: str) -> None:
    model = zoo_models["zoo/agreement", backend]
    ctx = model.intervene({ic.Site("z", 0): lambda act, rows: act}, name="forgotten")
    ctx.__enter__()
    try:
        assert model.leaks() == ["open interpclaims context 'forgotten'"]
    finally:
        model.clean_up()
    assert model.leaks() == []


def test_bad_intervention_input_is_explained(zoo_models) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    data = _agreement(8)
    with pytest.raises(ic.InterpClaimsError, match="unknown ablation 'average'"):
        ic.ablate(model, "L1H3", data, how="average")
    with pytest.raises(ic.SiteError, match="Did you mean"):
        ic.ablate(model, "blocks.1.hook_resid_pots", data)
    with pytest.raises(ic.SiteError, match="has 4 heads"):
        ic.ablate(model, "L1H9", data)
    with pytest.raises(ic.InterpClaimsError, match="direction must be"):
        ic.ablate(model, "L0.resid_post", data, direction=[1.0, 2.0])
    with pytest.raises(ic.DataError, match="outside prompt"):
        ic.patch(model, "L0.resid_post", data, positions=40)
    with pytest.raises(ic.DataError, match="corrupt_text"):
        ic.patch(model, "L0.resid_post", [{"text": "the dog near the box", "answer": "runs",
                                          "wrong": "run"}])
    with pytest.raises(ic.InterpClaimsError, match="strength"):
        ic.steer(model, "L0.resid_post", [0.0] * 63 + [1.0], data, strengths=[0.0])


def test_a_persistent_nnsight_edit_is_a_leak(zoo_models) -> None:
    import torch

    model = zoo_models["zoo/agreement", "nnsight"]
    data = _agreement(4)
    tokens = model.tokenize(data.texts, data.ids).tokens
    clean, _ = model.run(tokens)
    lm = model.native
    with lm.edit(inplace=True):
        lm.model.layers[0].mlp.output[:] = 0
    try:
        assert (model.run(tokens)[0] - clean).abs().max() > 1e-3  # the edit is live
        assert any("persistent NNsight edit" in leak for leak in model.leaks())
    finally:
        model.clean_up()
    assert model.leaks() == []
    torch.testing.assert_close(model.run(tokens)[0], clean, rtol=0, atol=0)


def test_batches_follow_the_memory_cap(zoo_models, monkeypatch) -> None:
    """Batch size comes from the memory cap; results do not depend on it."""
    import torch

    model = zoo_models["zoo/agreement", "tl"]
    data = _agreement(40)
    tokens = model.tokenize(data.texts, data.ids).tokens
    sites = [ic.resid_post(1), ic.Site("pattern", 0)]
    before = model.forward_passes
    big, big_acts = model.run(tokens, read=sites)
    assert model.forward_passes - before == 1  # 40 prompts fit in one batch
    monkeypatch.setenv("INTERPCLAIMS_MEMORY_CAP_MB", "0.1")  # ~5 prompts of 6 tokens
    before = model.forward_passes
    small, small_acts = model.run(tokens, read=sites)
    assert model.forward_passes - before > 1
    torch.testing.assert_close(small, big)
    for s in sites:
        torch.testing.assert_close(small_acts[s.base], big_acts[s.base])


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_steering_along_a_probe_direction_flips_the_verb(zoo_models, backend: str) -> None:
    """The probe's direction is causal: pushing singular subjects toward 'plural' flips the verb,
    and pushing them further toward 'singular' flips nothing."""
    import torch

    model = zoo_models["zoo/agreement", backend]
    probe = ic.probe(model, ic.resid_post(0), "number", data="agreement", position="subject_pos")
    assert probe.classes == ("plural", "singular")
    direction = torch.tensor(probe.direction, dtype=torch.float32)
    assert abs(float(direction.norm()) - 1.0) < 1e-5
    singular = [r for r in load_data("agreement").rows if r["number"] == "singular"][:40]
    result = ic.steer(model, "L0.resid_post", direction, singular, strengths=[-2.0, 2.0],
                      metric="flip_rate", positions="subject_pos")
    assert result.effect(-2.0).ci_low > 0.8
    assert result.effect(2.0).ci_high < 0.2
