"""The research actions of issue 10: probe classifiers and the permutation null (known answers,
ties, constant features), linear CKA, the statistics of feature comparison, polysemanticity and
collapse, and backend parity of the new analyses on the zoo."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

import interpclaims as ic
from interpclaims import _context
from interpclaims.analyses._classifiers import LOGISTIC_L2, design, fit_weights, predict
from interpclaims.analyses._collapse import _cka_estimate, collapse_index
from interpclaims.analyses._feature_comparison import area, first_above, peak_index
from interpclaims.analyses._permutation_null import null_accuracies
from interpclaims.analyses._polysemanticity import loadings, top_k_mass
from interpclaims.stats import linear_cka, null_p_value
from interpclaims.verdicts import Claim, Verdict

# -- classifiers ---------------------------------------------------------------------------------


def test_logistic_separates_separable_data_and_predicts_class1_on_positive_logits():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    x = x[np.abs(x[:, 0]) > 0.5]  # separable with a margin
    y = (x[:, 0] > 0).astype(int)
    mu, sd, w = fit_weights(x, y[:, None], 2, "logistic")
    assert (predict(x, mu, sd, w)[:, 0] == y).all()
    assert w[0, 0, 0] > 0 and abs(w[0, 0, 0]) > 3 * np.abs(w[1:3, 0, 0]).max()


def test_logistic_on_overlapping_data_meets_the_optimality_condition():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 4))
    y = (x[:, 0] + 1.5 * rng.standard_normal(200) > 0).astype(int)
    mu, sd, w = fit_weights(x, y[:, None], 2, "logistic")
    a = design(x, mu, sd)
    p = 1 / (1 + np.exp(-(a @ w[:, 0, 0])))
    reg = LOGISTIC_L2 * w[:, 0, 0]
    reg[-1] = 0.0
    grad = a.T @ (p - y) + reg
    assert np.abs(grad).max() < 1e-6 * len(y)  # the gradient of the objective vanishes
    assert 0.5 < (predict(x, mu, sd, w)[:, 0] == y).mean() < 1.0  # not separable


@pytest.mark.parametrize("classifier", ["ridge", "logistic"])
def test_batched_fits_equal_one_at_a_time(classifier):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((60, 5))
    labels = rng.integers(0, 3, size=(60, 4))
    _, _, batched = fit_weights(x, labels, 3, classifier)
    for j in range(4):
        _, _, one = fit_weights(x, labels[:, j:j + 1], 3, classifier)
        np.testing.assert_allclose(batched[:, j], one[:, 0], rtol=1e-8, atol=1e-10)


def test_logistic_with_fewer_prompts_than_features_equals_the_full_fit():
    """The fit in the span of the training rows (n < d) is the full-dimensional fit."""
    from interpclaims.analyses._classifiers import _newton, _penalty

    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 80))
    labels = rng.integers(0, 2, size=(30, 3))
    mu, sd, w = fit_weights(x, labels, 2, "logistic")
    a = design(x, mu, sd)
    full = _newton(a, labels.astype(float), _penalty(a.shape[1], LOGISTIC_L2))
    np.testing.assert_allclose(w[:, :, 0], full, rtol=0, atol=1e-8 * np.abs(full).max())


# -- permutation null ----------------------------------------------------------------------------


def test_null_p_value_known_answers_and_ties():
    assert null_p_value(0.8, np.full(999, 0.5)) == pytest.approx(1 / 1000)
    assert null_p_value(0.5, np.full(999, 0.5)) == 1.0  # ties count against the claim
    assert null_p_value(0.5, np.full(999, 0.5) + 1e-14) == 1.0  # rounding counts as a tie
    null = np.r_[np.zeros(500), np.ones(499)]
    assert null_p_value(0.5, null) == pytest.approx(500 / 1000)
    assert null_p_value(0.8, np.full(9, 0.6), margin=0.2) == 1.0  # 0.6 + 0.2 >= 0.8
    with pytest.raises(ValueError):
        null_p_value(0.5, [])


def _decide(x: ic.Estimate, null: np.ndarray) -> ic.ClaimResult:
    results = []
    other = ic.Estimate(value=float(null.mean()), ci_low=float(null.min()),
                        ci_high=float(null.max()), n=x.n, method="null", label="null", null=null)
    with contextlib.suppress(ic.ClaimRefuted, ic.ClaimInconclusive):
        Claim(results.append).that(x).exceeds(other)
    return results[0]


@pytest.mark.parametrize(("value", "verdict"), [(0.9, Verdict.SUPPORTED), (0.5, Verdict.REFUTED),
                                                (0.57, Verdict.INCONCLUSIVE)])
def test_exceeds_a_permutation_null_is_decided_by_its_p_value(value, verdict):
    null = np.linspace(0.4, 0.6, 999)  # p(0.57) ≈ 0.15, p(0.5) ≈ 0.5
    x = ic.Estimate(value=value, ci_low=value - 0.01, ci_high=value + 0.01, n=100, method="acc")
    result = _decide(x, null)
    assert result.verdict is verdict
    assert result.p == pytest.approx((1 + (null >= value - 1e-9).sum()) / 1000)
    row = json.loads(json.dumps(result.to_json()))  # the row survives claims.json
    assert row["reference"]["kind"] == "permutation_null"
    assert row["reference"]["permutations"] == 999
    back = ic.ClaimResult.from_json(row)
    assert back.verdict is verdict and back.p == result.p


def test_a_constant_site_is_never_significant():
    """Constant features: the probe predicts its training majority; across 40 labellings, with
    cross-fitted folds and a fixed split, the permutation p-value never reaches α/2."""
    rng = np.random.default_rng(3)
    x = np.ones((60, 4))
    for trial in range(40):
        y = rng.permutation(np.r_[np.zeros(30, int), np.ones(30, int)])
        split = rng.permutation(60)
        folds = [[(split[:30], split[30:])]]
        null = null_accuracies(x, y, 2, folds, "ridge", 199, rng)
        mu, sd, w = fit_weights(x[split[30:]], y[split[30:], None], 2, "ridge")
        observed = (predict(x[split[:30]], mu, sd, w)[:, 0] == y[split[:30]]).mean()
        assert null_p_value(observed, null) >= 0.025, trial


def test_permutation_null_rarely_supports_a_feature_that_does_not_exist():
    """Coin-flip labels on Gaussian features, cross-fitted on two folds as the probe is: the
    permutation test's p < α/2 in at most α/2 + 3 SE of 200 simulations."""
    from interpclaims.analyses._probe import _folds

    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(200):
        x = rng.standard_normal((80, 6))
        y = rng.permutation(np.r_[np.zeros(40, int), np.ones(40, int)])
        folds = _folds(y, 0.5, rng)
        correct = np.zeros(80)
        for test, train in folds:
            mu, sd, w = fit_weights(x[train], y[train, None], 2, "ridge")
            correct[test] = predict(x[test], mu, sd, w)[:, 0] == y[test]
        null = null_accuracies(x, y, 2, [folds], "ridge", 99, rng)
        hits += null_p_value(correct.mean(), null) < 0.025
    assert hits / 200 <= 0.025 + 3 * np.sqrt(0.025 * 0.975 / 200)


# -- CKA -----------------------------------------------------------------------------------------


def test_linear_cka_known_answers():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 6))
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.5 * x @ q + 2.0) == pytest.approx(1.0)  # orthogonal, scale, shift
    assert linear_cka(x, rng.standard_normal((300, 6))) < 0.05  # independent: ~d/n
    assert linear_cka(x, np.ones((300, 3))) == 0.0  # a constant side
    wide = rng.standard_normal((20, 50))  # the Gram form (n < d) gives the same answer
    assert linear_cka(wide, wide @ np.linalg.qr(rng.standard_normal((50, 50)))[0]) == (
        pytest.approx(1.0))


# -- curves, loadings ----------------------------------------------------------------------------


def test_feature_comparison_statistics_on_synthetic_curves():
    curves = np.array([[0.5, 0.9, 0.95, 0.8], [0.5, 0.6, 0.7, 0.9]])
    np.testing.assert_array_equal(first_above(curves, 0.75), [1, 3])
    np.testing.assert_array_equal(first_above(curves, 0.99), [4, 4])  # never: the site count
    np.testing.assert_array_equal(peak_index(curves), [2, 3])
    # trapezoids of unit width: (0.5+0.9)/2 + (0.9+0.95)/2 + (0.95+0.8)/2 = 2.5
    np.testing.assert_allclose(area(curves), [2.5, 2.0])
    np.testing.assert_allclose(collapse_index(curves), [0.15, -0.2])


def test_top_k_mass_and_loadings_known_answers():
    d = np.array([[0.8, 0.6, 0.0, 0.0], [0.0, 0.6, 0.8, 0.0]])
    np.testing.assert_allclose(top_k_mass(d, 1), [0.64, 0.64])
    np.testing.assert_allclose(top_k_mass(d, 2), [1.0, 1.0])
    np.testing.assert_allclose(loadings(d), [0.0, 0.75, 0.0, 0.0])  # only neuron 1 is shared


# -- on the zoo ----------------------------------------------------------------------------------


def test_split_field_errors_name_the_row(zoo_models):
    rows = [dict(r, split="train") for r in ic.load_data("agreement").rows[:40]]
    model = zoo_models["zoo/agreement", "tl"]
    with pytest.raises(ic.DataError, match=r"no row .* in the 'test' split"):
        ic.probe(model, ic.resid_post(0), "number", data=rows, split="split")
    rows[3]["split"] = "dev"
    with pytest.raises(ic.DataError, match=r"agr-0003.*'train' or 'test'"):
        ic.probe(model, ic.resid_post(0), "number", data=rows, split="split")
    for r in rows:
        r["split"] = "train" if r["number"] == "singular" else "test"
    with pytest.raises(ic.DataError, match="fixed split's training rows have no prompt"):
        ic.probe(model, ic.resid_post(0), "number", data=rows, split="split")
    with pytest.raises(ic.InterpClaimsError, match="split="):
        ic.probe(model, ic.resid_post(0), "number", data=rows, split=["train"])
    with pytest.raises(ic.InterpClaimsError, match="classifier"):
        ic.probe(model, ic.resid_post(0), "number", classifier="svm")


def test_research_actions_agree_across_backends(zoo_models):
    got = {}
    for backend in ("tl", "nnsight"):
        model = zoo_models["zoo/agreement", backend]
        col = ic.representation_collapse(model, "number", cka_resamples=20)
        assert col.decodability()["number", "L1"].value == col.curve[-1].value
        poly = ic.polysemanticity(model, 0, ("number", "category"), resamples=20)
        cmp = ic.compare_features(model, ("number", "category"), seeds=2)
        got[backend] = np.array([col.collapse_index.value, *np.ravel(col.cka.values()),
                                 *(m.value for m in poly.mass.values()),
                                 cmp.area_difference.value, *poly.directions.ravel()])
    np.testing.assert_allclose(got["tl"], got["nnsight"], rtol=0,
                               atol=1e-4 * np.abs(got["tl"]).max())


def test_a_cka_cells_interval_covers_the_population_cka() -> None:
    """A resample duplicates prompts and raises CKA: the percentile interval misses the
    population CKA almost always (it sits above it); the basic bootstrap of ``_cka_estimate``
    covers it. 60 data sets of 120 prompts, Y = X A + noise (population CKA ~0.08)."""
    g = np.random.default_rng(5)
    d = 8
    a = g.normal(size=(d, d)) / np.sqrt(d)

    def draw(n):
        x = g.normal(size=(n, d))
        return x, x @ a + 3.0 * g.normal(size=(n, d))

    truth = linear_cka(*draw(40_000))
    covered = percentile_covered = 0
    with _context.use(_context.ClaimContext(seed=0, key="cka")):
        for _ in range(60):
            x, y = draw(120)
            reps = np.array([linear_cka(x[r], y[r]) for r in g.integers(0, 120, size=(150, 120))])
            est = _cka_estimate(linear_cka(x, y), reps, 120, "cka", "test")
            covered += est.ci_low <= truth <= est.ci_high
            lo, hi = np.quantile(reps, [0.025, 0.975])
            percentile_covered += lo <= truth <= hi
    assert covered / 60 >= 0.85, covered
    assert percentile_covered / 60 <= 0.5  # the bias this interval corrects is real here
