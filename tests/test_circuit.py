"""Circuits: faithfulness known answers (C = M gives 1, C = ∅ gives 0), agreement with ic.ablate,
the m(M) = m(∅) guard, the curve's area, backend parity, and the paired ratio bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

import interpclaims as ic
from interpclaims._data import load_data
from interpclaims.analyses._circuit import faithfulness_of
from interpclaims.stats import bootstrap_means_function

CANDIDATES = ["L0H1", "L1H2", "L1H3", "L0.mlp_out", "L1.mlp_out"]


@pytest.fixture(scope="module")
def data():
    return load_data([dict(r) for r in load_data("agreement").rows[:40]])


def test_the_whole_model_is_faithful_and_the_empty_circuit_is_not(zoo_models, data) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    full = ic.circuit(model, CANDIDATES, data, candidates=CANDIDATES, draws=2, greedy_steps=1)
    empty = ic.circuit(model, [], data, candidates=CANDIDATES, draws=0, greedy_steps=0)
    assert abs(full.faithfulness.value - 1) < 1e-12 and abs(empty.faithfulness.value) < 1e-12
    assert full.faithfulness.ci_low <= 1 <= full.faithfulness.ci_high
    assert np.all(full.gap.samples == 0) and full.completeness.value < 1e-12
    assert empty.minimality == {}
    assert abs(empty.completeness.value - 1) < 1e-12  # K = ∅ only: |F(∅) − F(M)|


def test_faithfulness_is_the_ratio_of_ablation_effects(zoo_models, data) -> None:
    """F(C) = (m(C) − m(∅)) / (m(M) − m(∅)); with e(X) the joint mean-ablation effect of X on
    the logit difference, m(C) − m(M) = e(M∖C) and m(∅) − m(M) = e(M): F = 1 − e(M∖C)/e(M)."""
    model = zoo_models["zoo/agreement", "tl"]
    c = ic.circuit(model, ["L1H3", "L1.mlp_out"], data, candidates=CANDIDATES, draws=2,
                   greedy_steps=1)
    e_all = ic.ablate(model, CANDIDATES, data, how="mean", metric="logit_diff").value
    e_rest = ic.ablate(model, ["L0H1", "L1H2", "L0.mlp_out"], data, how="mean",
                       metric="logit_diff").value
    assert abs(c.faithfulness.value - (1 - e_rest / e_all)) < 1e-6
    assert abs(c.gap.value + e_rest) < 1e-6
    assert "mean at each position" in c.faithfulness.method  # one template: the default
    assert set(c.minimality) == {"L1H3", "L1.mlp_out"}


def test_the_curve_and_its_areas(zoo_models, data) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    ranking = ["L1.mlp_out", "L1H3", "L0H1", "L0.mlp_out", "L1H2"]
    c = ic.circuit(model, ["L1H3"], data, candidates=CANDIDATES, ranking=ranking, draws=1,
                   greedy_steps=0)
    f = np.array([e.value for _, e in c.curve])
    assert [k for k, _ in c.curve] == list(range(6)) and f[0] == 0 and abs(f[-1] - 1) < 1e-12
    area = (f.sum() - (f[0] + f[-1]) / 2) / 5
    gap = np.abs(1 - f)
    assert c.cpr is not None and c.cmd is not None
    assert abs(c.cpr.value - area) < 1e-12
    assert abs(c.cmd.value - (gap.sum() - (gap[0] + gap[-1]) / 2) / 5) < 1e-12
    assert c.cpr.ci_low <= c.cpr.value <= c.cpr.ci_high


def test_faithfulness_matches_across_backends(zoo_models, data) -> None:
    a, b = (ic.circuit(zoo_models["zoo/agreement", be], ["L1H3", "L1.mlp_out"], data,
                       how="resample", candidates=CANDIDATES, draws=1, greedy_steps=1)
            for be in ("tl", "nnsight"))
    for x, y in ((a.faithfulness, b.faithfulness), (a.completeness, b.completeness)):
        assert abs(x.value - y.value) <= 1e-4 * max(1.0, abs(x.value))


def test_an_undefined_faithfulness_is_an_error(zoo_models, data) -> None:
    """m(M) = m(∅): L1H0 does not change any prompt's preferred verb, so accuracy is 1 either
    way, and faithfulness would be 0/0."""
    model = zoo_models["zoo/agreement", "tl"]
    with pytest.raises(ic.InterpClaimsError, match=r"m\(M\) = 1.*undefined"):
        ic.circuit(model, [], data, candidates=["L1H0"], metric="accuracy")
    same = np.linspace(1, 2, 30)
    with pytest.raises(ic.InterpClaimsError, match="same mean metric"):
        faithfulness_of([same, same.copy(), same + 1], lambda f: f[:, 0], label="x", method="m")


def test_bad_circuits_are_explained(zoo_models, data) -> None:
    model = zoo_models["zoo/agreement", "tl"]
    with pytest.raises(ic.InterpClaimsError, match=r"not a candidate.*nearest: L1H3, L1H2"):
        ic.circuit(model, ["L1H1"], data, candidates=CANDIDATES)
    with pytest.raises(ic.InterpClaimsError, match="list of components"):
        ic.circuit(model, "L1H3", data)
    with pytest.raises(ic.InterpClaimsError, match="names no candidate"):
        ic.circuit(model, ["L1H3"], data, candidates=CANDIDATES, ranking=[])
    with pytest.raises(ic.InterpClaimsError, match="how='mean' only"):
        ic.circuit(model, ["L1H3"], data, how="zero", mean_over="all")


def test_the_ratio_bootstrap_resamples_numerator_and_denominator_together() -> None:
    """A ratio whose numerator and denominator move together per prompt is precise, though each
    alone varies a lot: the joint resample keeps that; an unbounded denominator gives (-inf, inf)."""
    rng = np.random.default_rng(1)
    den = rng.normal(10, 3, 200)
    table = np.stack([den / 2 + rng.normal(0, 0.01, 200), den], axis=1)
    v, lo, hi = bootstrap_means_function(table, lambda m: m[:, 0] / m[:, 1], rng, 2000)
    assert abs(v - 0.5) < 0.01 and hi - lo < 0.01
    crossing = np.stack([np.ones(20), rng.normal(0, 1, 20)], axis=1)
    _, lo, hi = bootstrap_means_function(
        crossing, lambda m: np.where(np.abs(m[:, 1]) < 0.05, np.nan, m[:, 0] / m[:, 1]), rng, 2000)
    assert (lo, hi) == (-np.inf, np.inf)


def test_a_ratio_whose_denominator_changes_sign_is_unbounded_without_hitting_zero() -> None:
    """The resampled denominators straddle 0 without any being exactly 0: with ``denominator=``
    the interval is unbounded (as for ``bootstrap_ratio``); a finite interval there would let
    ``is_at_most`` claims pass on a ratio the data cannot bound."""
    from interpclaims.stats import bootstrap_ratio

    rng = np.random.default_rng(3)
    num, den = rng.normal(1.0, 0.2, 30), rng.normal(0.05, 1.0, 30)
    table = np.stack([num, den], axis=1)
    _, lo, hi = bootstrap_means_function(table, lambda m: m[:, 0] / m[:, 1], rng, 2000,
                                         denominator=lambda m: m[:, 1])
    assert (lo, hi) == (-np.inf, np.inf)
    assert not bootstrap_ratio(num, den, rng, n_resamples=2000).bounded
    # a denominator far from 0 keeps a finite interval
    _, lo, hi = bootstrap_means_function(np.stack([num, den + 10], axis=1),
                                         lambda m: m[:, 0] / m[:, 1], rng, 2000,
                                         denominator=lambda m: m[:, 1])
    assert np.isfinite(lo) and np.isfinite(hi)
