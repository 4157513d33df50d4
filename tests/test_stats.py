"""Bootstrap statistics: known answers, determinism, input validation, paired vs independent, and
a small coverage simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interpclaims.stats import bootstrap_mean, bootstrap_mean_diff, derive_rng


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- bootstrap_mean --------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.0, 0.1, -3.25, 1 / 3, 1e6])
@pytest.mark.parametrize("n", [2, 7, 50])
def test_constant_samples_give_zero_width_interval_at_the_constant(c, n):
    mean, lo, hi = bootstrap_mean(np.full(n, c), rng(), n_resamples=500)
    assert mean == pytest.approx(c, abs=1e-12, rel=1e-12)
    assert lo == pytest.approx(c, abs=1e-12, rel=1e-12)
    assert hi == pytest.approx(c, abs=1e-12, rel=1e-12)
    assert lo <= mean <= hi  # an Estimate is built from these: the value must lie inside


def test_returns_the_sample_mean_and_an_interval_around_it():
    x = rng(1).normal(2.0, 1.0, size=40)
    mean, lo, hi = bootstrap_mean(x, rng(2), n_resamples=2000)
    assert mean == pytest.approx(float(np.mean(x)))
    assert lo < mean < hi
    # the width is about 2 * 1.96 * sd / sqrt(n)
    expected = 2 * 1.96 * np.std(x, ddof=1) / math.sqrt(x.size)
    assert 0.8 * expected < hi - lo < 1.2 * expected


def test_returns_python_floats():
    out = bootstrap_mean([1.0, 2.0, 4.0], rng(), n_resamples=200)
    assert all(type(v) is float for v in out)


def test_accepts_lists_and_ints():
    mean, lo, hi = bootstrap_mean([1, 2, 3, 4], rng(), n_resamples=500)
    assert mean == 2.5
    assert 1.0 <= lo < 2.5 < hi <= 4.0


def test_interval_within_sample_range():
    x = np.array([0.0, 0.0, 0.0, 10.0])
    _, lo, hi = bootstrap_mean(x, rng(), n_resamples=2000)
    assert 0.0 <= lo and hi <= 10.0
    assert lo < hi


def test_same_seed_same_interval():
    x = rng(3).normal(size=30)
    assert bootstrap_mean(x, rng(7), n_resamples=1000) == bootstrap_mean(
        x, rng(7), n_resamples=1000
    )


def test_other_seed_other_interval():
    x = rng(3).normal(size=30)
    a = bootstrap_mean(x, rng(7), n_resamples=1000)
    b = bootstrap_mean(x, rng(8), n_resamples=1000)
    assert a[0] == b[0]  # the point estimate does not depend on the draw
    assert (a[1], a[2]) != (b[1], b[2])


def test_higher_level_gives_wider_interval():
    x = rng(4).normal(size=30)
    _, lo90, hi90 = bootstrap_mean(x, rng(5), n_resamples=2000, level=0.90)
    _, lo99, hi99 = bootstrap_mean(x, rng(5), n_resamples=2000, level=0.99)
    assert lo99 < lo90 and hi90 < hi99


def test_interval_shrinks_with_more_prompts():
    g = rng(6)
    small = g.normal(size=20)
    large = g.normal(size=2000)
    _, lo_s, hi_s = bootstrap_mean(small, rng(0), n_resamples=1000)
    _, lo_l, hi_l = bootstrap_mean(large, rng(0), n_resamples=1000)
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4


def test_single_sample_gives_infinite_interval():
    mean, lo, hi = bootstrap_mean([0.7], rng())
    assert mean == 0.7
    assert lo == -math.inf and hi == math.inf


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_names_the_sample(bad):
    x = [1.0, 2.0, bad, 4.0]
    with pytest.raises(ValueError) as info:
        bootstrap_mean(x, rng())
    msg = str(info.value)
    assert "sample 2" in msg
    assert "not finite" in msg


def test_two_dimensional_input_names_the_shape():
    with pytest.raises(ValueError) as info:
        bootstrap_mean(np.zeros((3, 4)), rng())
    msg = str(info.value)
    assert "1-D" in msg
    assert "(3, 4)" in msg


def test_scalar_input_rejected():
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_mean(1.0, rng())


def test_empty_input_rejected():
    with pytest.raises(ValueError, match="no samples"):
        bootstrap_mean([], rng())


def test_many_samples_are_resampled_in_chunks_without_changing_the_answer():
    # n large enough that one chunk holds fewer than n_resamples rows
    x = rng(9).normal(size=5000)
    mean, lo, hi = bootstrap_mean(x, rng(1), n_resamples=1000)
    se = np.std(x, ddof=1) / math.sqrt(x.size)
    assert lo < mean < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.2)


# -- bootstrap_mean_diff ---------------------------------------------------------------------------


def _shared_offset_samples(n: int = 40, effect: float = 0.3):
    g = rng(11)
    offset = g.normal(0.0, 10.0, size=n)  # large per-prompt offset, shared by a and b
    b = offset + g.normal(0.0, 0.1, size=n)
    a = offset + effect + g.normal(0.0, 0.1, size=n)
    return a, b


def test_paired_interval_is_narrower_with_shared_offset():
    a, b = _shared_offset_samples()
    d_p, lo_p, hi_p = bootstrap_mean_diff(a, b, rng(0), paired=True, n_resamples=2000)
    d_i, lo_i, hi_i = bootstrap_mean_diff(a, b, rng(0), paired=False, n_resamples=2000)
    assert d_p == pytest.approx(d_i)
    assert d_p == pytest.approx(float(np.mean(a) - np.mean(b)))
    assert (hi_p - lo_p) * 20 < (hi_i - lo_i)
    # paired: the effect is resolved; independent: the interval straddles 0
    assert lo_p > 0
    assert lo_i < 0 < hi_i


def test_paired_equals_bootstrap_of_differences():
    a, b = _shared_offset_samples()
    assert bootstrap_mean_diff(a, b, rng(5), paired=True, n_resamples=500) == bootstrap_mean(
        a - b, rng(5), n_resamples=500
    )


def test_paired_needs_equal_counts():
    with pytest.raises(ValueError, match=r"equal sample counts.*3 and 2"):
        bootstrap_mean_diff([1.0, 2.0, 3.0], [1.0, 2.0], rng(), paired=True)


def test_independent_allows_unequal_counts():
    diff, lo, hi = bootstrap_mean_diff([1.0, 2.0, 3.0], [0.0, 1.0], rng(), paired=False,
                                       n_resamples=500)
    assert diff == pytest.approx(1.5)
    assert lo <= diff <= hi


def test_independent_single_sample_gives_infinite_interval():
    diff, lo, hi = bootstrap_mean_diff([1.0, 2.0, 3.0], [0.5], rng(), paired=False)
    assert diff == pytest.approx(1.5)
    assert (lo, hi) == (-math.inf, math.inf)


def test_diff_names_the_bad_argument():
    with pytest.raises(ValueError, match=r"\(b\).*sample 1"):
        bootstrap_mean_diff([1.0, 2.0], [1.0, math.nan], rng(), paired=False)
    with pytest.raises(ValueError, match=r"\(a\).*1-D"):
        bootstrap_mean_diff(np.zeros((2, 2)), [1.0, 2.0], rng(), paired=True)


def test_diff_sign_is_a_minus_b():
    diff, lo, _ = bootstrap_mean_diff([5.0, 6.0, 7.0], [1.0, 1.5, 2.0], rng(), paired=False,
                                       n_resamples=500)
    assert diff == pytest.approx(4.5)
    assert lo > 0


# -- derive_rng ------------------------------------------------------------------------------------


def _draw(seed: int, *keys: object) -> list[float]:
    return derive_rng(seed, *keys).random(5).tolist()


def test_derive_rng_is_independent_of_call_order():
    first = [_draw(0, "claim", "a"), _draw(0, "claim", "b")]
    # the other order, with an unrelated draw in between
    b = _draw(0, "claim", "b")
    _draw(0, "something else")
    a = _draw(0, "claim", "a")
    assert [a, b] == first


def test_derive_rng_depends_on_seed_and_every_key():
    base = _draw(0, "claim", "a")
    assert _draw(1, "claim", "a") != base
    assert _draw(0, "claim", "b") != base
    assert _draw(0, "other", "a") != base
    assert _draw(0, "claim") != base
    assert _draw(0, "a", "claim") != base  # key order matters


def test_derive_rng_distinguishes_key_types():
    assert _draw(0, 1) != _draw(0, "1")


# -- coverage simulation ---------------------------------------------------------------------------


def test_percentile_interval_covers_the_true_mean_about_95_percent():
    """600 normal samples of n=50: the 95% percentile bootstrap covers the true mean ~93.5% of the
    time (it undercovers slightly at small n). The binomial sd of the estimate is ~0.01, so the
    coverage bounds sit 3+ sd from 0.935 and catch a grossly broken interval (wrong axis, wrong
    tail); the mean width, which is much less noisy, catches an interval at the wrong level
    (a 90% interval is 16% narrower, a 99% one 31% wider)."""
    g = np.random.default_rng(2024)
    true_mean, reps, covered, widths = 1.0, 600, 0, []
    for _ in range(reps):
        x = g.normal(true_mean, 2.0, size=50)
        _, lo, hi = bootstrap_mean(x, g, n_resamples=2000)
        covered += lo <= true_mean <= hi
        widths.append(hi - lo)
    coverage = covered / reps
    assert 0.90 <= coverage <= 0.975, coverage
    # average width close to 2 * 1.96 * sigma / sqrt(n) = 1.109
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 2.0 / math.sqrt(50), rel=0.08)
