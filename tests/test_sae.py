"""SAE features: the site spelling, the SAELens folder reader, the edit that keeps the error term,
parity across backends, the AUROC interval, and SAE leak detection."""

from __future__ import annotations

import numpy as np
import pytest

import interpclaims as ic
from interpclaims._data import fixtures_dir
from interpclaims._errors import InterpClaimsError, SiteError
from interpclaims._sites import Site, parse_site
from interpclaims.stats import auroc_interval

SAE_DIR = fixtures_dir() / "models" / "agreement" / "sae"
FEATURE = "L0.resid_post/sae:80"


# -- sites ---------------------------------------------------------------------------------------
def test_feature_site_spellings_round_trip() -> None:
    s = parse_site("L0.resid_post/sae:249")
    assert s == Site("resid_post", 0, feature=249) == parse_site("blocks.0.hook_resid_post/sae:249")
    assert str(s) == "L0.resid_post/sae:249" and s.base == Site("resid_post", 0)
    assert Site.from_json(s.to_json()) == s
    assert parse_site(str(s)) == s


def test_feature_site_errors_say_what_is_valid() -> None:
    with pytest.raises(SiteError, match=r"Did you mean: L0\.resid_post/sae:12"):
        parse_site("L0.resid_post/sea:12", n_layers=2, n_heads=4)
    with pytest.raises(SiteError, match="residual-width site"):
        parse_site("L0H1/sae:3")
    with pytest.raises(SiteError, match=r"ic\.sae_activation"):
        parse_site(FEATURE).select(None)


# -- the SAE reader ------------------------------------------------------------------------------
def test_sae_reader_matches_the_card() -> None:
    sae = ic.load_sae(SAE_DIR)
    assert sae.site == Site("resid_post", 0) and (sae.d_in, sae.d_sae) == (64, 256)
    assert ic.load_sae(SAE_DIR) is sae  # loaded once per folder and content
    with pytest.raises(SiteError, match="256 features"):
        sae.check_feature(256, "test")


def test_sae_reader_errors(tmp_path) -> None:
    with pytest.raises(InterpClaimsError, match=r"cfg.json and sae_weights.safetensors"):
        ic.load_sae(tmp_path)


def test_sae_reader_encodes_like_saelens() -> None:
    sae_lens = pytest.importorskip("sae_lens", reason="needs the 'sae' extra: "
                                   "pip install 'interpclaims[sae]'")
    import torch

    ours = ic.load_sae(SAE_DIR)
    theirs = sae_lens.SAE.load_from_disk(str(SAE_DIR))
    x = torch.randn(5, 7, 64, generator=torch.Generator().manual_seed(3)) * 2
    with torch.no_grad():
        torch.testing.assert_close(ours.encode(x), theirs.encode(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.decode(ours.encode(x)), theirs.decode(theirs.encode(x)),
                                   rtol=0, atol=1e-5)


# -- the edit ------------------------------------------------------------------------------------
def test_feature_edit_changes_exactly_the_feature_contribution() -> None:
    """Ablating feature i moves x by exactly -f_i W_dec[i] (the error term stays); a no-op edit
    (shift 0, or no position) returns the activation bit-identical."""
    import torch

    from interpclaims.interventions import sae_feature_edit

    sae = ic.load_sae(SAE_DIR)
    x = torch.randn(3, 6, 64, generator=torch.Generator().manual_seed(0)) * 3
    f = sae.encode(x)
    i = int(f.reshape(-1, 256).gt(0).sum(0).argmax())  # a feature active somewhere
    where = torch.ones(3, 6, dtype=torch.bool)
    out = sae_feature_edit(sae, [i], "set", 0.0, where)(x, slice(0, 3))
    expected = x - f[..., i, None] * sae.W_dec[i]
    scale = float(x.abs().max())
    assert float((out - expected).abs().max()) <= 1e-6 * scale
    err_before = x - sae.decode(f)
    f_after = f.clone()
    f_after[..., i] = 0
    assert float((out - sae.decode(f_after) - err_before).abs().max()) <= 1e-5 * scale
    assert torch.equal(sae_feature_edit(sae, [i], "add", 0.0, where)(x, slice(0, 3)), x)
    none = torch.zeros(3, 6, dtype=torch.bool)
    assert torch.equal(sae_feature_edit(sae, [i], "set", 5.0, none)(x, slice(0, 3)), x)


# -- through the model, both backends -------------------------------------------------------------
@pytest.fixture(scope="module")
def agreement(zoo_models):
    return {b: zoo_models["zoo/agreement", b] for b in ("tl", "nnsight")}


def test_feature_activations_agree_across_backends(agreement) -> None:
    sae = ic.load_sae(SAE_DIR)
    feats = {}
    for backend, model in agreement.items():
        batch = model.tokenize(ic.load_data("agreement").texts[:40],
                               ic.load_data("agreement").ids[:40])
        _, acts = model.run(batch.tokens, read=[Site("resid_post", 0)])
        feats[backend] = sae.encode(acts[Site("resid_post", 0)])
    scale = float(feats["tl"].abs().max())
    assert float((feats["tl"] - feats["nnsight"]).abs().max()) <= 1e-4 * scale
    est = {b: ic.sae_activation(m, FEATURE, "agreement", positions="subject_pos")
           for b, m in agreement.items()}
    assert est["tl"].value == pytest.approx(est["nnsight"].value, rel=1e-4)


def test_feature_ablation_agrees_across_backends_and_leaves_no_hook(agreement) -> None:
    rows = [dict(r) for r in ic.load_data("agreement").rows if r["number"] == "singular"][:30]
    effects = {}
    for backend, model in agreement.items():
        res = ic.sae_ablate(model, FEATURE, rows, "logit_diff", positions="subject_pos")
        effects[backend] = res.effect
        assert "sae feature ablation of L0.resid_post/sae:80" in res.effect.method
        assert model.leaks() == []
    scale = max(abs(effects["tl"].value), 1.0)
    assert abs(effects["tl"].value - effects["nnsight"].value) <= 1e-4 * scale
    assert effects["tl"].ci_high < -1.0  # the singular feature is necessary (claims/test_sae.py)


def test_an_sae_that_reads_another_site_is_named(agreement) -> None:
    with pytest.raises(SiteError, match=r"reads L0.resid_post, not L1.resid_post.*"
                                        r"L0.resid_post/sae:3"):
        ic.sae_activation(agreement["tl"], "L1.resid_post/sae:3", "agreement")
    with pytest.raises(InterpClaimsError, match="not an SAE feature"):
        ic.sae_activation(agreement["tl"], "L0.resid_post", "agreement")


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_an_attached_sae_is_a_leak(agreement, backend: str) -> None:
    sae_lens = pytest.importorskip("sae_lens", reason="needs the 'sae' extra: "
                                   "pip install 'interpclaims[sae]'")
    model = agreement[backend]
    module = sae_lens.SAE.load_from_disk(str(SAE_DIR))
    root = getattr(model.native, "_model", model.native)
    root.add_module("sae_left_behind", module)
    try:
        leaks = model.leaks()
        assert any("StandardSAE module attached at sae_left_behind" in x for x in leaks), leaks
    finally:
        model.clean_up()
    assert model.leaks() == []
    if backend == "tl":  # HookedSAETransformer's registry of attached SAEs
        model.native.acts_to_saes = {"blocks.0.hook_resid_post": object()}
        try:
            assert any("HookedSAETransformer" in x for x in model.leaks())
        finally:
            del model.native.acts_to_saes
        assert model.leaks() == []


# -- statistics ----------------------------------------------------------------------------------
def test_auroc_known_answers() -> None:
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 40), rng.normal(0, 1, 50)
    auc, lo, hi = auroc_interval(pos, neg)
    u = mannwhitneyu(pos, neg).statistic
    assert auc == pytest.approx(u / (40 * 50)) and lo < auc < hi
    assert auroc_interval([1, 2], [1.5, 0])[0] == 0.75
    assert auroc_interval([1, 1], [1, 1])[0] == 0.5
    perfect = auroc_interval([3, 4, 5], [0, 1, 2])  # perfect separation: never a zero width
    assert perfect[0] == 1.0 and perfect[1] < 1.0 and perfect[2] == 1.0
    with pytest.raises(ValueError, match="two values or more"):
        auroc_interval([1], [0, 1])


def test_auroc_interval_covers() -> None:
    """DeLong's 95% interval covers the true AUROC of two normals (0.76 for a shift of 1) in
    about 95% of 400 draws (band 0.91-0.98)."""
    from scipy.stats import norm

    true = float(norm.cdf(1 / np.sqrt(2)))
    rng = np.random.default_rng(1)
    hits = sum(lo <= true <= hi for lo, hi in
               (auroc_interval(rng.normal(1, 1, 30), rng.normal(0, 1, 30))[1:] for _ in range(400)))
    assert 0.91 <= hits / 400 <= 0.98
