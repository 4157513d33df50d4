"""Calibration of the statistics layer: known answers, then simulations of the claim rules.

Simulations use fixed seeds (deterministic) and are sized so that each bound sits at least ~3
binomial standard errors from the rate the correct procedure actually has, so that a wrong
procedure (wrong tail, wrong level, no multiplicity correction) fails them. The decision rules are
those of ``_claim.py``, applied to the 95% intervals:

* ``is_at_least(v)``: SUPPORTED when ``ci_low >= v``;   ``is_at_most(v)``: when ``ci_high <= v``;
* ``exceeds(other, by)``: when ``ci_low(x - other) > by``;
* ``is_negligible(within=d)``: when ``-d < ci_low`` and ``ci_high < d`` (TOST).

Many-claim simulations call :func:`bootstrap_mean_batch` (one matrix product for thousands of
simulated claims); ``test_batch_equals_single`` pins it to :func:`bootstrap_mean`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from interpclaims.stats import (
    MIN_PROMPTS,
    SMALL_N,
    Interval,
    adjust_pvalues,
    bonferroni,
    bootstrap_mean,
    bootstrap_mean_batch,
    bootstrap_mean_diff,
    bootstrap_multiseed,
    choose_interval,
    mean_interval,
    one_sample_p,
    paired_sign_flip_test,
    permutation_test,
    sample_size_warnings,
    t_interval,
    tost_p,
)
from interpclaims.stats._bootstrap import _acceleration

ALPHA = 0.05


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def upper_bound(n_sims: int, rate: float = ALPHA) -> float:
    """``rate + 3 SE`` with the binomial SE of a rate estimated from ``n_sims`` simulations."""
    return rate + 3.0 * math.sqrt(rate * (1.0 - rate) / n_sims)


def lower_bound(n_sims: int, rate: float = ALPHA) -> float:
    return rate - 3.0 * math.sqrt(rate * (1.0 - rate) / n_sims)


# -- BCa: known answers ---------------------------------------------------------------------------


def test_acceleration_closed_form_equals_jackknife_refits():
    x = rng(1).exponential(size=37)
    loo = np.array([np.delete(x, i).mean() for i in range(x.size)])  # n refits
    u = loo.mean() - loo
    jackknife = np.sum(u**3) / (6.0 * np.sum(u**2) ** 1.5)
    assert float(_acceleration(x - x.mean())) == pytest.approx(jackknife, rel=1e-10)
    assert jackknife > 0  # right skew: positive acceleration


def test_bca_is_close_to_percentile_for_symmetric_data():
    x = rng(2).normal(size=400)
    _, plo, phi = bootstrap_mean(x, rng(3), n_resamples=4000)
    _, blo, bhi = bootstrap_mean(x, rng(3), n_resamples=4000, method="bca")
    width = phi - plo
    assert blo == pytest.approx(plo, abs=0.05 * width)
    assert bhi == pytest.approx(phi, abs=0.05 * width)


def test_bca_shifts_right_for_right_skewed_data():
    x = rng(4).exponential(size=60)
    _, plo, phi = bootstrap_mean(x, rng(5), n_resamples=4000)
    _, blo, bhi = bootstrap_mean(x, rng(5), n_resamples=4000, method="bca")
    assert blo > plo and bhi > phi


@pytest.mark.parametrize("dist", ["normal", "exponential"])
def test_bca_agrees_with_scipy(dist):
    g = rng(6)
    x = g.normal(size=80) if dist == "normal" else g.exponential(size=80)
    _, lo, hi = bootstrap_mean(x, rng(7), n_resamples=20_000, method="bca")
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="BCa", random_state=8)
    width = hi - lo
    # both are Monte Carlo; endpoints of 20k resamples agree to a few percent of the width
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.04 * width)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.04 * width)


def test_percentile_is_still_the_default():
    x = rng(9).exponential(size=50)
    assert bootstrap_mean(x, rng(1), n_resamples=500) == bootstrap_mean(
        x, rng(1), n_resamples=500, method="percentile"
    )


@pytest.mark.parametrize("c", [0.0, 0.1, -3.25])
def test_bca_constant_samples_give_zero_width_interval(c):
    assert bootstrap_mean(np.full(9, c), rng(), n_resamples=500, method="bca") == (c, c, c)


def test_bca_single_sample_is_unbounded():
    assert bootstrap_mean([0.3], rng(), method="bca") == (0.3, -math.inf, math.inf)


def test_bca_interval_contains_the_mean_even_for_absurd_skew():
    x = np.r_[np.zeros(40), 1000.0]
    mean, lo, hi = bootstrap_mean(x, rng(), n_resamples=2000, method="bca")
    assert lo <= mean <= hi


def test_unknown_bootstrap_method_is_rejected():
    with pytest.raises(ValueError, match="unknown bootstrap method 'basic'"):
        bootstrap_mean([1.0, 2.0], rng(), method="basic")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_batch_equals_single(method):
    x = rng(10).exponential(size=(3, 70))
    means, los, his = bootstrap_mean_batch(x, rng(11), n_resamples=3000, method=method)
    for i in range(3):
        ref = bootstrap_mean(x[i], rng(11), n_resamples=3000, method=method)
        assert (means[i], los[i], his[i]) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_batch_constant_row_and_validation():
    x = np.stack([np.full(5, 2.0), np.arange(5.0)])
    means, lo, hi = bootstrap_mean_batch(x, rng(), n_resamples=200, method="bca")
    assert (means[0], lo[0], hi[0]) == (2.0, 2.0, 2.0)
    assert lo[1] <= means[1] <= hi[1]
    with pytest.raises(ValueError, match="2-D"):
        bootstrap_mean_batch(np.zeros(4), rng())
    with pytest.raises(ValueError, match="not finite"):
        bootstrap_mean_batch(np.array([[1.0, math.nan]]), rng())


def test_paired_diff_bca_is_bca_of_the_differences():
    g = rng(12)
    b = g.normal(size=50)
    a = b + g.exponential(size=50)
    assert bootstrap_mean_diff(a, b, rng(3), paired=True, n_resamples=800, method="bca") == (
        bootstrap_mean(a - b, rng(3), n_resamples=800, method="bca")
    )


def test_unpaired_bca_reduces_to_one_sample_bca_against_a_constant():
    """With ``b`` constant the difference is ``mean(a) - c`` and the two-sample acceleration is
    the one-sample one: the intervals agree up to Monte Carlo error."""
    a = rng(13).exponential(size=60)
    b = np.full(40, 0.25)
    d, lo, hi = bootstrap_mean_diff(a, b, rng(4), paired=False, n_resamples=20_000, method="bca")
    m, lo1, hi1 = bootstrap_mean(a, rng(5), n_resamples=20_000, method="bca")
    assert d == pytest.approx(m - 0.25)
    assert lo == pytest.approx(lo1 - 0.25, abs=0.04 * (hi1 - lo1))
    assert hi == pytest.approx(hi1 - 0.25, abs=0.04 * (hi1 - lo1))
    assert lo <= d <= hi


# -- Student t and the choice of interval ---------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 29, 200])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(n, level):
    x = rng(n).normal(3.0, 2.0, size=n)
    mean, lo, hi = t_interval(x, level)
    ref_lo, ref_hi = stats.t.interval(level, df=n - 1, loc=np.mean(x), scale=stats.sem(x))
    assert mean == pytest.approx(np.mean(x))
    assert lo == pytest.approx(ref_lo, rel=1e-12)
    assert hi == pytest.approx(ref_hi, rel=1e-12)


def test_t_interval_edge_cases():
    assert t_interval([1.5]) == (1.5, -math.inf, math.inf)
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="level"):
        t_interval([1.0, 2.0], 1.5)


def test_choose_interval_uses_t_below_small_n():
    assert SMALL_N == 30
    assert choose_interval(2) == "t"
    assert choose_interval(29) == "t"
    assert choose_interval(30) == "bca"
    assert choose_interval(5000) == "bca"
    assert choose_interval(10, small_n=5) == "bca"


def test_mean_interval_reports_the_method_used():
    small = rng(16).normal(size=12)
    out = mean_interval(small, rng())
    assert isinstance(out, Interval)
    assert out.method == "t"
    assert (out.mean, out.low, out.high) == t_interval(small)
    large = rng(17).normal(size=60)
    out = mean_interval(large, rng(1), n_resamples=500)
    assert out.method == "bca"
    assert (out.mean, out.low, out.high) == bootstrap_mean(large, rng(1), n_resamples=500, method="bca")
    assert mean_interval(large, rng(1), method="percentile", n_resamples=500).method == "percentile"


def test_t_covers_at_small_n_where_the_percentile_bootstrap_undercovers():
    """n=10 normal, 4000 samples: t covers 95% (exact), percentile ~90%."""
    reps, n = 4000, 10
    x = rng(18).normal(size=(reps, n))
    m = x.mean(axis=1)
    half = stats.t.ppf(0.975, n - 1) * x.std(axis=1, ddof=1) / math.sqrt(n)
    t_cov = np.mean(np.abs(m) <= half)
    _, lo, hi = bootstrap_mean_batch(x, rng(19), n_resamples=1000)
    p_cov = np.mean((lo <= 0) & (0 <= hi))
    se = math.sqrt(0.05 * 0.95 / reps)
    assert abs(t_cov - 0.95) < 3 * se
    assert p_cov < 0.95 - 6 * se


# -- p-values: known answers ----------------------------------------------------------------------


def test_sign_flip_p_is_count_plus_one_over_n_plus_one_and_never_zero():
    huge = np.full(30, 5.0) + rng(20).normal(0, 0.01, size=30)
    for b in (99, 999, 2000):
        p = paired_sign_flip_test(huge, rng(), n_permutations=b)
        assert p == 1.0 / (b + 1)  # no flip reaches the observed mean: count 0, p still > 0
    x = rng(21).normal(0.1, 1.0, size=25)
    p = paired_sign_flip_test(x, rng(22), n_permutations=777)
    assert p * 778 == pytest.approx(round(p * 778), abs=1e-9)
    assert 0 < p <= 1


def test_sign_flip_matches_exact_enumeration():
    """diffs (1, 2, 3): of the 8 sign vectors, 1 gives mean >= 2 and 2 give |mean| >= 2."""
    d = [1.0, 2.0, 3.0]
    n_perm = 20_000
    se = math.sqrt(0.25 * 0.75 / n_perm)
    assert paired_sign_flip_test(d, rng(1), n_permutations=n_perm) == pytest.approx(
        1 / 8, abs=4 * se)
    assert paired_sign_flip_test(d, rng(2), alternative="two-sided",
                                 n_permutations=n_perm) == pytest.approx(2 / 8, abs=4 * se)
    assert paired_sign_flip_test(d, rng(3), alternative="less", n_permutations=n_perm) == 1.0
    # the margin shifts the differences: mean(d - 2) = 0 -> half of the flips tie or exceed
    p = paired_sign_flip_test(d, rng(4), margin=2.0, n_permutations=n_perm)
    exact = np.mean([np.mean(np.array(s) * (np.array(d) - 2.0)) >= 0
                     for s in np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T])
    assert p == pytest.approx(exact, abs=4 * se)


def test_all_zero_differences_give_p_one():
    assert paired_sign_flip_test(np.zeros(10), rng(), n_permutations=100) == 1.0


def test_permutation_test_matches_exact_enumeration():
    """a=(3, 4), b=(1, 2): of the 6 splits of the pool, 1 gives a difference of means >= 2."""
    n_perm = 20_000
    se = math.sqrt((1 / 6) * (5 / 6) / n_perm)
    assert permutation_test([3.0, 4.0], [1.0, 2.0], rng(1),
                            n_permutations=n_perm) == pytest.approx(1 / 6, abs=4 * se)
    assert permutation_test([8.0, 9.0], [1.0, 2.0], rng(1), margin=5.0,
                            n_permutations=n_perm) == pytest.approx(1 / 6, abs=4 * se)
    assert permutation_test([3.0, 4.0], [1.0, 2.0], rng(2), alternative="two-sided",
                            n_permutations=n_perm) == pytest.approx(2 / 6, abs=4 * se)
    p = permutation_test([3.0, 4.0, 9.0], [1.0, 2.0], rng(3), n_permutations=999)
    assert p * 1000 == pytest.approx(round(p * 1000), abs=1e-9)


def test_one_sample_p_is_the_sign_flip_of_samples_minus_threshold():
    x = rng(23).normal(0.4, 1.0, size=40)
    assert one_sample_p(x, 0.3, "greater", rng(5), n_permutations=500) == paired_sign_flip_test(
        x, rng(5), margin=0.3, n_permutations=500)
    assert one_sample_p(x, 0.3, "less", rng(5), n_permutations=500) == paired_sign_flip_test(
        x, rng(5), margin=0.3, alternative="less", n_permutations=500)


def test_tost_p_is_the_larger_one_sided_p():
    x = rng(24).normal(0.05, 0.2, size=40)
    p = tost_p(x, 0.1, rng(6), n_permutations=999)
    lower = one_sample_p(x, -0.1, "greater", rng(6), n_permutations=999)
    upper = one_sample_p(x, 0.1, "less", rng(6), n_permutations=999)
    assert p == pytest.approx(max(lower, upper), abs=2.5 / 1000)  # same signs, up to rounding
    assert tost_p(np.full(10, 5.0), 0.1, rng(), n_permutations=99) == 1.0  # far outside: p = 1


def test_tost_p_agrees_with_the_interval_rule_away_from_the_boundary():
    """The interval rule (95% interval inside (-d, d)) is TOST at 2.5% per side: it agrees with
    ``tost_p <= 0.025`` on clear cases."""
    d = 0.3
    inside = rng(25).normal(0.0, 0.5, size=200)  # mean 0, SE 0.035: clearly equivalent
    _, lo, hi = bootstrap_mean(inside, rng(1), n_resamples=2000)
    assert -d < lo and hi < d
    assert tost_p(inside, d, rng(2), n_permutations=999) <= 0.025
    edge = rng(26).normal(0.28, 0.5, size=200)  # mean at the margin: not equivalent
    _, lo, hi = bootstrap_mean(edge, rng(1), n_resamples=2000)
    assert not (-d < lo and hi < d)
    assert tost_p(edge, d, rng(2), n_permutations=999) > 0.025


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: paired_sign_flip_test([1.0, 2.0], rng(), alternative="bigger"),  # type: ignore[arg-type]
         "alternative"),
        (lambda: paired_sign_flip_test([1.0, 2.0], rng(), n_permutations=0), "n_permutations"),
        (lambda: paired_sign_flip_test([1.0, 2.0], rng(), margin=math.nan), "margin"),
        (lambda: permutation_test([1.0], [[2.0]], rng()), "1-D"),
        (lambda: tost_p([1.0, 2.0], 0.0, rng()), "within"),
        (lambda: one_sample_p([], 0.0, "greater", rng()), "no samples"),
    ],
)
def test_p_value_functions_validate_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- multiple comparisons: known answers ----------------------------------------------------------


def test_bonferroni_by_hand():
    assert bonferroni(0.01, 4) == pytest.approx(0.04)
    assert bonferroni(0.3, 5) == 1.0  # capped at 1
    assert bonferroni(0.2, 1) == 0.2
    with pytest.raises(ValueError, match="family size"):
        bonferroni(0.1, 0)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    # 0.02, 0.03, 0.06, 0.06; back in input order:
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(adjust_pvalues([0.5, 0.6], "holm"), [1.0, 1.0])  # capped at 1


def test_bh_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> p * 4 / rank = 0.02, 0.02, 0.04, 0.04 -> running min
    # from the top leaves them; back in input order:
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    # step-up: 0.045 at rank 2 of 2 is 0.045; 0.04 at rank 1 is 0.08 but the min from above wins
    np.testing.assert_allclose(adjust_pvalues([0.04, 0.045], "bh"), [0.045, 0.045])


def test_adjust_none_and_types():
    out = adjust_pvalues([0.2, 0.01], "none")
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [0.2, 0.01])
    assert adjust_pvalues([], "holm").shape == (0,)


@pytest.mark.parametrize(
    ("pvalues", "method", "match"),
    [
        ([0.1, 1.2], "holm", r"p-value 1 is 1.2"),
        ([-0.1], "bh", r"p-value 0 is -0.1"),
        ([0.1, math.nan], "holm", r"p-value 1 is nan"),
        ([[0.1, 0.2]], "holm", "1-D"),
        ([0.1], "bonferroni", "unknown method 'bonferroni'"),
    ],
)
def test_adjust_pvalues_validates(pvalues, method, match):
    with pytest.raises(ValueError, match=match):
        adjust_pvalues(pvalues, method)


# -- sample-size diagnostics ----------------------------------------------------------------------


def test_insufficient_n():
    assert MIN_PROMPTS == 20
    msgs = sample_size_warnings(12, 0.5, 0.6, 0.1)
    assert len(msgs) == 1 and msgs[0].startswith("insufficient_n")
    assert sample_size_warnings(MIN_PROMPTS, 0.5, 0.6, 0.1) == []


def test_low_power_rule():
    # straddles the threshold: undecided, low power; width 0.4, distance 0.1 -> needs 0.14
    msgs = sample_size_warnings(100, -0.1, 0.3, 0.0)
    assert len(msgs) == 1 and msgs[0].startswith("low_power")
    assert "about 818 prompts" in msgs[0]  # ceil(100 * (0.4 / (0.2 * 1.96 / 2.80)) ** 2)
    # decided but fragile: excludes 0, yet width 0.4 > 1.4 * 0.25
    assert sample_size_warnings(100, 0.05, 0.45, 0.0)[0].startswith("low_power")
    # decided with room: width 0.2 <= 1.4 * 0.5
    assert sample_size_warnings(100, 0.4, 0.6, 0.0) == []
    # infinite interval (one prompt): both warnings
    assert len(sample_size_warnings(1, -math.inf, math.inf, 0.0)) == 2


def test_low_power_for_equivalence():
    # wider than the equivalence region: can never be SUPPORTED
    msgs = sample_size_warnings(100, -0.15, 0.15, 0.1, kind="equivalence")
    assert len(msgs) == 1 and "no estimate could be SUPPORTED" in msgs[0]
    # centred at 0, width 0.1, margin 0.3 -> distance 0.3, fine
    assert sample_size_warnings(100, -0.05, 0.05, 0.3, kind="equivalence") == []
    # centred at 0.25, width 0.1 -> distance to the margin 0.05, needs width <= 0.07
    assert sample_size_warnings(100, 0.2, 0.3, 0.3, kind="equivalence")[0].startswith("low_power")


# -- several seeds --------------------------------------------------------------------------------


def test_multiseed_with_one_seed_is_the_prompt_bootstrap():
    x = rng(27).normal(size=40)
    assert bootstrap_multiseed([x], rng(3), n_resamples=500) == bootstrap_mean(
        x, rng(3), n_resamples=500)


def test_multiseed_estimate_weighs_seeds_equally_and_validates():
    seeds = [np.array([1.0, 1.0, 1.0, 1.0]), np.array([3.0, 3.0])]
    mean, lo, hi = bootstrap_multiseed(seeds, rng(), n_resamples=500)
    assert mean == 2.0 and lo <= mean <= hi
    with pytest.raises(ValueError, match="prompt counts"):
        bootstrap_multiseed(seeds, rng(), shared_prompts=True)
    with pytest.raises(ValueError, match="no seeds"):
        bootstrap_multiseed([], rng())


@pytest.mark.parametrize("shared", [True, False])
def test_multiseed_covers_when_seeds_differ_and_the_pooled_bootstrap_does_not(shared):
    """10 seeds × 30 prompts with a seed effect (sd 0.5) and a prompt effect (sd 1, shared by the
    seeds when ``shared``): the two-level interval covers the true mean 0; bootstrapping the pooled
    prompts (ignoring seeds) undercovers badly."""
    g = rng(28 + shared)
    reps, n_seeds, n = 300, 10, 30
    hits = naive_hits = 0
    for _ in range(reps):
        seed_effect = g.normal(0.0, 0.5, size=(n_seeds, 1))
        prompt = g.normal(0.0, 1.0, size=(1, n)) if shared else g.normal(0.0, 1.0, (n_seeds, n))
        table = seed_effect + prompt + g.normal(0.0, 1.0, size=(n_seeds, n))
        _, lo, hi = bootstrap_multiseed(list(table), g, n_resamples=500, shared_prompts=shared)
        hits += lo <= 0.0 <= hi
        pooled = table.mean(axis=0) if shared else table.ravel()
        _, lo, hi = bootstrap_mean(pooled, g, n_resamples=500)
        naive_hits += lo <= 0.0 <= hi
    se = math.sqrt(0.95 * 0.05 / reps)
    assert hits / reps >= 0.95 - 3 * se
    assert naive_hits / reps < 0.85


# -- simulations: false SUPPORTED under the null --------------------------------------------------

N_NULL = 4000  # simulated null claims per setting (bootstrap_mean_batch makes them cheap)


def _draw(g: np.random.Generator, dist: str, shape: tuple[int, int]) -> np.ndarray:
    """Mean-0, sd-1 samples: normal, or right-skewed (exponential minus 1)."""
    return g.normal(size=shape) if dist == "normal" else g.exponential(size=shape) - 1.0


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("dist", ["normal", "exponential"])
def test_threshold_claims_at_the_threshold_are_rarely_supported(method, dist):
    """True mean exactly at the threshold v=0.2, n=100: is_at_least(0.2) (ci_low >= v) and
    is_at_most(0.2) (ci_high <= v) are false-SUPPORTED at most α + 3 SE. Each is a one-sided
    2.5% test, so the expected rate is ~2.5% (up to ~4.5% for the percentile interval in the long
    tail of skewed data)."""
    v = 0.2
    x = v + _draw(rng(30), dist, (N_NULL, 100))
    _, lo, hi = bootstrap_mean_batch(x, rng(31), n_resamples=1000, method=method)
    assert np.mean(lo >= v) <= upper_bound(N_NULL)
    assert np.mean(hi <= v) <= upper_bound(N_NULL)


def test_paired_exceeds_with_zero_effect_is_rarely_supported():
    """exceeds(other, by=0) on paired samples with a large shared per-prompt offset and no effect,
    through bootstrap_mean_diff itself (400 claims)."""
    g = rng(32)
    sims, false_supported = 400, 0
    for _ in range(sims):
        offset = g.normal(0.0, 5.0, size=80)
        a, b = offset + g.normal(size=80), offset + g.normal(size=80)
        _, lo, _ = bootstrap_mean_diff(a, b, g, paired=True, n_resamples=1000)
        false_supported += lo > 0.0
    assert false_supported / sims <= upper_bound(sims)


def test_unpaired_exceeds_with_zero_effect_is_rarely_supported():
    g = rng(33)
    sims, false_supported = 400, 0
    for _ in range(sims):
        a, b = g.exponential(size=60), g.exponential(size=90)
        _, lo, _ = bootstrap_mean_diff(a, b, g, paired=False, n_resamples=1000)
        false_supported += lo > 0.0
    assert false_supported / sims <= upper_bound(sims)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_negligible_with_the_effect_at_the_margin_is_rarely_supported(method):
    """True effect exactly at the margin d: is_negligible(within=d) false-SUPPORTED <= α + 3 SE
    (expected ~2.5%: the upper one-sided test at 2.5% is the active one)."""
    d = 0.25
    x = d + _draw(rng(34), "normal", (N_NULL, 100))
    _, lo, hi = bootstrap_mean_batch(x, rng(35), n_resamples=1000, method=method)
    assert np.mean((-d < lo) & (hi < d)) <= upper_bound(N_NULL)


def test_tost_p_at_the_margin_rejects_at_most_alpha():
    g = rng(36)
    sims, d = 600, 0.25
    p = np.array([tost_p(d + g.normal(size=100), d, g, n_permutations=999) for _ in range(sims)])
    assert np.mean(p < ALPHA) <= upper_bound(sims)
    assert np.all(p > 0)


def test_sign_flip_and_permutation_tests_are_calibrated_under_the_null():
    """Paired differences with zero mean, independent samples from one distribution, and a mean
    at the threshold: p < 0.05 in 5% of simulations — not more (valid), and not much less
    (a test that never rejects would pass the upper bound alone)."""
    g = rng(37)
    sims = 600
    flip = [paired_sign_flip_test(g.normal(size=60), g, n_permutations=999) for _ in range(sims)]
    perm = [permutation_test(g.normal(size=40), g.normal(size=50), g, n_permutations=999)
            for _ in range(sims)]
    thr = [one_sample_p(0.7 + g.normal(size=60), 0.7, "less", g, n_permutations=999)
           for _ in range(sims)]
    two = [paired_sign_flip_test(g.normal(size=60), g, alternative="two-sided",
                                 n_permutations=999) for _ in range(sims)]
    for ps in (flip, perm, thr, two):
        rate = float(np.mean(np.array(ps) < ALPHA))
        assert lower_bound(sims) <= rate <= upper_bound(sims), rate


# -- simulations: power ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_power_for_a_half_sd_effect(method):
    """Mean 0.5 SD above the threshold, n=100: is_at_least is SUPPORTED >= 90% of the time
    (expected ~99.8%). And at 0.3 SD it is SUPPORTED ~85% (Φ((0.3 - 0.196) / 0.1)): the interval
    is not needlessly wide (a 99% interval would give ~66%)."""
    sims = 2000
    for effect, lo_rate, hi_rate in ((0.5, 0.90, 1.0), (0.3, 0.80, 0.91)):
        x = effect + _draw(rng(38), "normal", (sims, 100))
        _, lo, _ = bootstrap_mean_batch(x, rng(39), n_resamples=1000, method=method)
        assert lo_rate <= np.mean(lo >= 0.0) <= hi_rate


def test_power_of_the_p_values():
    g = rng(40)
    sims = 300
    p_one = [one_sample_p(0.5 + g.normal(size=100), 0.0, "greater", g, n_permutations=999)
             for _ in range(sims)]
    p_perm = [permutation_test(0.5 + g.normal(size=100), g.normal(size=100), g,
                               n_permutations=999) for _ in range(sims)]
    assert np.mean(np.array(p_one) <= 0.025) >= 0.9
    assert np.mean(np.array(p_perm) <= 0.025) >= 0.9


# -- simulations: coverage ------------------------------------------------------------------------

N_COVERAGE = 20_000


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("dist", ["normal", "exponential"])
def test_coverage_of_95_percent_intervals(method, dist):
    """n=100, 20,000 intervals (binomial SE 0.15%). Measured: normal ~94.4%, exponential ~93.6%
    (percentile) / ~93.8% (BCa): >= 3.5 SE inside [93%, 97%]. A 90% interval (~90%) or a 99%
    one (~99%) fails."""
    x = _draw(rng(41), dist, (N_COVERAGE, 100))
    _, lo, hi = bootstrap_mean_batch(x, rng(42), n_resamples=1000, method=method)
    coverage = np.mean((lo <= 0.0) & (0.0 <= hi))
    assert 0.93 <= coverage <= 0.97, coverage


def test_bca_balances_the_tails_of_skewed_data():
    """On right-skewed data the percentile interval misses high far more often than low (~4.5%
    vs ~1.9%) — the tail that decides is_at_most; BCa brings both tails near 2.5% (~3.3%, ~2.9%).
    An acceleration of the wrong sign would make BCa worse than the percentile interval."""
    x = _draw(rng(43), "exponential", (N_COVERAGE, 100))
    miss = {}
    for method in ("percentile", "bca"):
        _, lo, hi = bootstrap_mean_batch(x, rng(44), n_resamples=1000, method=method)
        miss[method] = (np.mean(lo > 0.0), np.mean(hi < 0.0))
    se = math.sqrt(0.04 * 0.96 / N_COVERAGE)  # ~0.14%
    assert max(miss["bca"]) < max(miss["percentile"]) - 5 * se, miss
    assert max(miss["bca"]) <= 0.025 + 8 * se, miss


# -- simulations: multiplicity --------------------------------------------------------------------


def test_holm_keeps_the_family_wise_false_supported_rate():
    """Families of 5 null claims (is_at_least at the true mean), each decided by its sign-flip p
    at α = 0.05: without adjustment some claim of the family is false-SUPPORTED ~23% of the time
    (1 - 0.95^5); with Holm at most α + 3 SE."""
    g = rng(45)
    families, size = 800, 5
    raw_any = holm_any = bh_any = bonf_any = 0
    for _ in range(families):
        p = np.array([one_sample_p(g.normal(size=60), 0.0, "greater", g, n_permutations=999)
                      for _ in range(size)])
        raw_any += bool(np.any(p < ALPHA))
        bonf_any += any(bonferroni(float(x), size) < ALPHA for x in p)  # what claims use
        holm_any += bool(np.any(adjust_pvalues(p, "holm") < ALPHA))
        bh_any += bool(np.any(adjust_pvalues(p, "bh") < ALPHA))  # all null: FDR = FWER
    assert holm_any / families <= upper_bound(families)
    assert bh_any / families <= upper_bound(families)
    assert bonf_any / families <= upper_bound(families) and bonf_any <= holm_any
    assert raw_any / families > 0.15
