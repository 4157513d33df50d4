"""The resampling kernel of every bootstrap (``interpclaims/stats/_resample.py``): known moments of
the bootstrap distribution of a mean, uniform indices in both reductions, and fair random signs.

Every bound below is a fixed number of Monte Carlo standard errors (derived from the quantity's own
scale), at fixed seeds, so a kernel that drew biased or correlated indices would fail."""

from __future__ import annotations

import numpy as np
import pytest

from interpclaims.stats._resample import _index_dtype, random_signs, resampled_column_means

B = 4000


def test_index_dtype_is_the_smallest_that_holds_every_index():
    assert _index_dtype(2) is np.uint16
    assert _index_dtype(2**16) is np.uint16
    assert _index_dtype(2**16 + 1) is np.uint32
    assert _index_dtype(2**32 + 1) is np.uint64


@pytest.mark.parametrize("n", [37, 300])
def test_moments_of_the_resampled_mean(n):
    """E*(mean*) = mean and Var*(mean*) = var(x, ddof=0) / n, exactly, for the ideal bootstrap."""
    x = np.random.default_rng(n).exponential(size=n)
    boot = resampled_column_means(x[:, None], np.random.default_rng(1), B)[:, 0]
    var = x.var() / n
    assert abs(boot.mean() - x.mean()) <= 5 * np.sqrt(var / B)
    # the sample variance of B draws has relative SE sqrt(2 / (B - 1)) (plus kurtosis, kept small)
    assert abs(boot.var(ddof=1) / var - 1) <= 6 * np.sqrt(2 / (B - 1))
    assert boot.min() >= x.min() and boot.max() <= x.max()


@pytest.mark.parametrize("n", [5, 64, 257])
def test_indices_are_uniform_in_the_count_reduction(n):
    """With the identity as the table, column i's resampled means are the counts of prompt i / n:
    over B resamples each prompt is drawn B times in expectation; chi-square on n - 1 df."""
    counts = resampled_column_means(np.eye(n), np.random.default_rng(2), B) * n
    assert np.allclose(counts.sum(axis=1), n)  # every resample has n prompts
    assert np.allclose(counts, np.round(counts))
    total = counts.sum(axis=0)
    chi2 = float(np.sum((total - B) ** 2 / B))
    assert chi2 <= (n - 1) + 6 * np.sqrt(2 * (n - 1))


def test_gather_and_count_reductions_draw_the_same_resamples():
    """A narrow table is gathered and a wide one counted; the prompt sets must not change."""
    t = np.random.default_rng(3).normal(size=(120, 1))
    narrow = resampled_column_means(t, np.random.default_rng(4), 500)
    wide = resampled_column_means(np.hstack([t, t, t, -t]), np.random.default_rng(4), 500)
    scale = np.abs(t).max()
    np.testing.assert_allclose(wide[:, :3], np.repeat(narrow, 3, axis=1), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(wide[:, 3], -narrow[:, 0], rtol=0, atol=1e-12 * scale)


def test_resamples_are_independent_of_the_chunking():
    """More resamples than one chunk holds: every row is a fresh resample (no repeated chunk)."""
    x = np.random.default_rng(5).normal(size=2000)  # 32 resamples per 64k chunk
    boot = resampled_column_means(x[:, None], np.random.default_rng(6), 200)[:, 0]
    assert np.unique(boot).size == 200
    lag = np.corrcoef(boot[:-1], boot[1:])[0, 1]
    assert abs(lag) <= 5 / np.sqrt(199)


@pytest.mark.parametrize("n", [1, 7, 8, 13])
def test_random_signs_are_fair_bits(n):
    s = random_signs(np.random.default_rng(n), 20_000, n)
    assert s.shape == (20_000, n) and set(np.unique(s)) <= {0, 1}
    p = s.mean(axis=0)
    assert np.all(np.abs(p - 0.5) <= 5 * np.sqrt(0.25 / 20_000))
    if n > 1:  # neighbouring bits of one byte are independent
        r = np.corrcoef(s[:, 0], s[:, 1])[0, 1]
        assert abs(r) <= 5 / np.sqrt(20_000)
