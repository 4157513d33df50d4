"""Attribution patching: the gradient path of both backends (known answers, parity, no leaks),
AtP's ranking against exact patching, and exact patching behind every number a claim reads."""

from __future__ import annotations

import numpy as np
import pytest

import interpclaims as ic
from interpclaims._data import load_data
from interpclaims.backends._grad import gradient_pass

RTOL = 1e-4  # backend parity, relative to the scale of the quantity compared
MODEL = "zoo/agreement"


def _rows(n: int = 48):
    return load_data([dict(r) for r in load_data("agreement").rows[:n]])


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x.ravel(), y.ravel()).statistic)


@pytest.fixture(scope="module")
def sweeps(zoo_models):
    """The head sweep a claim of claims/test_causal.py reads, by AtP and exactly, per backend
    (on a subset of the prompts), with the passes each cost."""
    out = {}
    for backend in ("tl", "nnsight"):
        model = zoo_models[MODEL, backend]
        f0, b0 = model.forward_passes, model.backward_passes
        atp = ic.patch_heads(model, _rows(), positions=-1)
        f1, b1 = model.forward_passes, model.backward_passes
        exact = ic.patch_heads(model, _rows(), positions=-1, method="exact")
        out[backend] = {"atp": atp, "exact": exact, "atp_passes": (f1 - f0, b1 - b0),
                        "exact_passes": model.forward_passes - f1}
    return out


def test_atp_is_exact_for_a_linear_model() -> None:
    """For logits linear in the activation, the first-order change is the change: AtP equals
    exact patching, and the gradient is the cotangent pulled back through the weights."""
    import torch

    site = ic.Site("resid_pre", 0)
    gen = torch.Generator().manual_seed(0)
    x, x_src = torch.randn(3, 4, 5, generator=gen), torch.randn(3, 4, 5, generator=gen)
    w, cot = torch.randn(5, 7, generator=gen), torch.randn(3, 4, 7, generator=gen)

    def run(edits):  # a "backend": one site, then a linear unembedding
        return edits[site](x.clone(), slice(0, 3)) @ w

    logits, acts, grads = gradient_pass(run, [site], {}, cot, "toy")
    torch.testing.assert_close(grads[site], cot @ w.T)
    assert not (logits.requires_grad or acts[site].requires_grad or grads[site].requires_grad)
    where = torch.zeros(3, 4, dtype=torch.bool)
    where[:, 2] = True
    atp = ((x_src - x) * grads[site]).sum(-1)[where]
    patched = torch.where(where[..., None], x_src, x)
    exact = ((patched @ w - x @ w) * cot).sum(-1)[where]
    torch.testing.assert_close(atp, exact, rtol=1e-5, atol=1e-5 * float(exact.abs().max()))


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_gradient_matches_a_finite_difference(zoo_models, backend: str) -> None:
    """The backend's gradient at a site is the model's: its directional derivative equals a
    central difference of the (float64-summed) objective, with edits applied for real."""
    import torch

    model = zoo_models[MODEL, backend]
    rows = _rows(8)
    batch = model.tokenize(rows.texts, rows.ids)
    site = ic.Site("resid_pre", 1)
    cot = torch.randn(*batch.tokens.shape, model.spec.d_vocab,
                      generator=torch.Generator().manual_seed(1))
    f0, b0 = model.forward_passes, model.backward_passes
    _, acts, grads = model.forward_grad(batch.tokens, [site], cot)
    assert (model.forward_passes - f0, model.backward_passes - b0) == (1, 1)
    step = 1e-3 * acts[site].abs().max() * torch.randn(
        acts[site].shape, generator=torch.Generator().manual_seed(2))

    def objective(sign: float) -> float:
        with model.intervene({site: lambda a, rows: a + sign * step[rows]}, name="fd"):
            logits, _ = model.run(batch.tokens)
        return float((logits.double() * cot.double()).sum())

    fd = (objective(1.0) - objective(-1.0)) / 2
    lin = float((grads[site].double() * step.double()).sum())
    assert abs(fd - lin) <= 2e-2 * abs(lin), (fd, lin)
    assert model.leaks() == []  # hooks, edits, and requires_grad of every parameter


def test_gradients_agree_across_backends(zoo_models) -> None:
    import torch

    rows = _rows(8)
    sites = [ic.Site("resid_pre", 0), ic.Site("z", 1), ic.Site("mlp_out", 0),
             ic.Site("resid_mid", 1), ic.Site("resid_post", 1)]
    out = {}
    for backend in ("tl", "nnsight"):
        model = zoo_models[MODEL, backend]
        batch = model.tokenize(rows.texts, rows.ids)
        cot = torch.randn(*batch.tokens.shape, model.spec.d_vocab,
                          generator=torch.Generator().manual_seed(3))
        out[backend] = model.forward_grad(batch.tokens, sites, cot)[2]
        assert model.leaks() == []
    for s in sites:
        a, b = out["tl"][s], out["nnsight"][s]
        scale = float(a.abs().max())
        assert scale > 0, s
        assert float((a - b).abs().max()) <= RTOL * scale, s


def test_atp_scores_agree_across_backends(sweeps) -> None:
    a = np.array(sweeps["tl"]["atp"].scores)
    b = np.array(sweeps["nnsight"]["atp"].scores)
    assert np.abs(a - b).max() <= RTOL * max(np.abs(a).max(), 1.0)


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_atp_ranks_heads_like_exact_patching(sweeps, backend: str) -> None:
    """On the head sweep of claims/ AtP orders the heads as exact patching does (measured 1.00;
    AtP is deterministic, so no seed moves it), finds the claimed head first, and costs one
    forward and one backward pass per batch instead of one forward pass per head."""
    s = sweeps[backend]
    rho = _spearman(np.array(s["atp"].scores), np.array(s["exact"].values()))
    assert rho >= 0.9, rho
    assert s["atp"].ranking()[0] == s["exact"].argmax() == ("L1", "H3")
    fwd, bwd = s["atp_passes"]
    assert bwd >= 1 and fwd < s["exact_passes"] / 2, (fwd, bwd, s["exact_passes"])


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_every_number_a_claim_reads_is_exact(sweeps, zoo_models, backend: str) -> None:
    """A cell, top(k) and argmax of an AtP sweep are exact patching estimates, equal to
    method="exact"'s; the AtP scores are plain floats that claim.that does not accept."""
    atp, exact = sweeps[backend]["atp"], sweeps[backend]["exact"]
    model = zoo_models[MODEL, backend]
    before = model.forward_passes
    cell = atp["L1", "H3"]
    assert model.forward_passes > before  # patched for real on first read
    ref = exact["L1", "H3"]
    assert isinstance(cell, ic.Estimate)
    assert (cell.value, cell.ci_low, cell.ci_high) == (ref.value, ref.ci_low, ref.ci_high)
    np.testing.assert_array_equal(cell.samples, ref.samples)
    assert abs(atp.scores[1][3] - cell.value) > 0.5  # the approximation is far off here...
    assert ("L1", "H3") in atp.confirmed
    again = model.forward_passes
    assert atp["L1", "H3"].value == cell.value and model.forward_passes == again  # kept
    top = atp.top(2)
    assert [e.value for _, e in top] == sorted((exact[rc].value for rc, _ in top), reverse=True)
    assert atp.argmax(2) == exact.argmax()
    assert cell.context["matrix"]["method"] == "atp"
    assert all(isinstance(v, float) for row in atp.scores for v in row)
    full = atp.exact()
    assert full.values() == exact.values() and full.noop == exact.noop
    assert model.leaks() == []


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_position_sweep_ranks_and_confirms(zoo_models, backend: str) -> None:
    """The layer × position sweep: noop cells (before the corrupted token) are the exact sweep's,
    the subject position ranks first, and the claimed cell is exact."""
    model = zoo_models[MODEL, backend]
    rows = _rows(32)
    atp = ic.patch_sweep(model, rows, kind="resid_pre")
    exact = ic.patch_sweep(model, rows, kind="resid_pre", method="exact")
    assert set(atp.noop) == set(exact.noop) and atp.noop
    assert _spearman(np.array(atp.scores), np.array(exact.values())) >= 0.9
    assert atp.ranking()[0][1] == "pos2"
    assert atp["L1", "pos2"].value == exact["L1", "pos2"].value
    for direction in ("noising",):
        a = ic.patch_sweep(model, rows, kind="attn_out", direction=direction, metric="logit_diff")
        e = ic.patch_sweep(model, rows, kind="attn_out", direction=direction,
                           metric="logit_diff", method="exact")
        assert a["L1", -1].value == e["L1", -1].value


def test_exact_sweep_equals_single_patches(zoo_models) -> None:
    """method="exact" is the sweep of ic.patch: each cell the same per-prompt effects as patching
    that site and position alone (the interval's draws are named by the label, which differs)."""
    model = zoo_models[MODEL, "tl"]
    rows = _rows(32)
    exact = ic.patch_sweep(model, rows, kind="resid_pre", method="exact")
    single = ic.patch(model, "L1.resid_pre", rows, positions=2)
    cell = exact["L1", "pos2"]
    assert cell.value == single.value
    np.testing.assert_array_equal(cell.samples, single.samples)


def test_atp_needs_a_differentiable_metric(zoo_models) -> None:
    model = zoo_models[MODEL, "tl"]

    def by_numpy(logits, rows):
        return logits[:, 0].detach().numpy()

    with pytest.raises(ic.InterpClaimsError, match=r"method='atp' needs the gradient.*"
                       r"method='exact'"):
        ic.patch_heads(model, _rows(8), metric=by_numpy)
    with pytest.raises(ic.InterpClaimsError, match=r"patch_heads\(method=\).*did you mean "
                       r"'exact'"):
        ic.patch_heads(model, _rows(8), method="exakt")  # type: ignore[arg-type]
    with pytest.raises(ic.InterpClaimsError, match=r"not a whole-tensor site"):
        rows = _rows(1)
        model.forward_grad(model.tokenize(rows.texts, rows.ids).tokens,
                           [ic.Site("z", 1, head=2)], None)  # type: ignore[arg-type]


def test_report_heatmap_shows_atp_scores_and_the_patched_cell(sweeps) -> None:
    """The heatmap of a claim on an AtP sweep draws the AtP scores and says which cell was
    patched, and with what value (no interval is shown for a score)."""
    from interpclaims.report._heatmap import heatmap

    cell = sweeps["tl"]["atp"]["L1", "H3"]
    view = heatmap([{"backend": "tl", "estimate": cell.to_json()}])
    assert view is not None and "ranked by attribution patching" in view["title"]
    titles = {c["title"] for row in view["panels"][0]["rows"] for c in row["cells"]}
    assert any("L1, H3: AtP" in t and "patched" in t for t in titles), titles
    assert not any("∞" in t for t in titles)
