"""Bootstrap intervals of a mean over prompts: percentile and BCa, one sample, many, differences.

Every interval here resamples *prompts*: the caller first reduces each prompt to one number (its
mean over tokens), so tokens of one prompt — which are not independent — are resampled together
(a cluster bootstrap by construction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interpclaims.stats._defaults import DEFAULT_CI_LEVEL, DEFAULT_RESAMPLES
from interpclaims.stats._resample import resampled_column_means
from interpclaims.stats._validation import (
    BootstrapMethod,
    _as_samples,
    _check_count,
    _check_level,
    _check_method,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["bootstrap_mean", "bootstrap_mean_batch", "bootstrap_mean_diff"]


# -- resampling and the two interval constructions ------------------------------------------------


def _resampled_means(
    x: NDArray[np.float64], rng: np.random.Generator, n_resamples: int
) -> NDArray[np.float64]:
    """Means of ``n_resamples`` bootstrap resamples of ``x`` (see :mod:`._resample`)."""
    return resampled_column_means(x[:, None], rng, n_resamples)[:, 0]


def _percentile_interval(
    boot: NDArray[np.float64], level: float
) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _acceleration(dev: NDArray[np.float64]) -> NDArray[np.float64]:
    """BCa acceleration of the mean, in closed form, from deviations ``x - mean`` (last axis).

    The jackknife (leave-one-out) means are ``(n * mean - x_i) / (n - 1)``, so
    ``mean(jackknife) - jackknife_i = (x_i - mean) / (n - 1)`` and Efron's
    ``a = sum(u**3) / (6 * sum(u**2) ** 1.5)`` reduces to ``sum(d**3) / (6 * sum(d**2) ** 1.5)``
    with ``d = x - mean``: O(n), no refits. Zero where the sample is constant.
    """
    s2 = np.sum(dev * dev, axis=-1)
    s3 = np.sum(dev * dev * dev, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = s3 / (6.0 * s2**1.5)
    return np.where(s2 > 0, a, 0.0)


def _bca_levels(
    boot: NDArray[np.float64], estimate: NDArray[np.float64], accel: NDArray[np.float64],
    level: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The BCa quantile levels ``(q_low, q_high)`` for each row of ``boot`` (rows × resamples).

    Bias correction ``z0 = Φ⁻¹(share of resamples below the estimate)``, ties counted half (as
    ``scipy.stats.bootstrap`` does); the share is clipped to ``[0.5/B, 1 - 0.5/B]`` so that ``z0``
    stays finite. Where ``1 - a (z0 + z) <= 0`` (absurd acceleration) the level goes to its limit,
    0 or 1.
    """
    from scipy import special

    n_boot = boot.shape[-1]
    est = estimate[..., None]
    share = (np.sum(boot < est, axis=-1) + 0.5 * np.sum(boot == est, axis=-1)) / n_boot
    share = np.clip(share, 0.5 / n_boot, 1.0 - 0.5 / n_boot)
    z0 = special.ndtri(share)
    alpha = (1.0 - level) / 2.0
    out = []
    for z in (special.ndtri(alpha), special.ndtri(1.0 - alpha)):
        zz = z0 + z
        denom = 1.0 - accel * zz
        with np.errstate(divide="ignore", invalid="ignore"):
            q = special.ndtr(z0 + zz / denom)
        limit = np.where(zz > 0, 1.0, 0.0)
        out.append(np.where(denom > 0, q, limit))
    return out[0], out[1]


def _bca_interval(
    boot: NDArray[np.float64], estimate: float, accel: float, level: float
) -> tuple[float, float]:
    q_lo, q_hi = _bca_levels(boot[None, :], np.array([estimate]), np.array([accel]), level)
    lo, hi = np.quantile(boot, [float(q_lo[0]), float(q_hi[0])])
    # BCa can, for absurdly skewed samples, put the estimate outside its interval: keep it inside
    # (an Estimate requires it, and such an interval would be wrong anyway).
    return min(float(lo), estimate), max(float(hi), estimate)


# -- one sample -----------------------------------------------------------------------------------


def bootstrap_mean(
    samples: ArrayLike,
    rng: np.random.Generator,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
    method: BootstrapMethod = "percentile",
) -> tuple[float, float, float]:
    """Mean of per-prompt ``samples`` and its bootstrap interval.

    Returns ``(mean, ci_low, ci_high)``. With a single sample the interval is unbounded: one
    prompt cannot support a claim.

    ``method="percentile"`` (the default) takes the ``α/2`` and ``1 - α/2`` quantiles of the
    resampled means. ``method="bca"`` (bias-corrected and accelerated, Efron 1987) shifts those
    quantile levels by the bias correction ``z0`` (the share of resampled means below the sample
    mean) and the acceleration ``a`` (from the jackknife of the mean, in closed form, O(n)); it is
    second-order accurate and corrects most of the undercoverage of the percentile interval on
    skewed data. Both use the same resamples, so for one ``rng`` state they differ only in the
    quantile levels. Cost: about 0.15 s for 10,000 resamples of 5,000 prompts (2 cores), either
    method.
    """
    x = _as_samples(samples, "bootstrap_mean")
    method = _check_method(method)
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("-inf"), float("inf")
    boot = _resampled_means(x, rng, n_resamples)
    if method == "percentile":
        lo, hi = _percentile_interval(boot, level)
        return mean, lo, hi
    dev = x - mean
    if not np.any(dev):
        return mean, mean, mean
    lo, hi = _bca_interval(boot, mean, float(_acceleration(dev)), level)
    return mean, lo, hi


# -- many quantities on the same prompts ----------------------------------------------------------


def _bootstrap_mean_batch_iv(
    samples: ArrayLike, method: str, n_resamples: int, level: float
) -> tuple[NDArray[np.float64], BootstrapMethod, int, float]:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(
            f"bootstrap_mean_batch: expected a 2-D array (quantities × prompts), got shape "
            f"{x.shape}"
        )
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"bootstrap_mean_batch: sample {tuple(int(i) for i in bad)} is not finite")
    return x, _check_method(method), _check_count(n_resamples, "n_resamples"), _check_level(level)


def _resampled_row_means(
    x: NDArray[np.float64], rng: np.random.Generator, n_resamples: int
) -> NDArray[np.float64]:
    """Bootstrap means of every row of ``x`` (rows × prompts), all rows sharing the resampled
    prompt sets: rows × resamples, each row sorted. Draws the same prompt sets as
    :func:`_resampled_means` of one row with the same generator state."""
    boot = np.ascontiguousarray(resampled_column_means(x.T, rng, n_resamples).T)
    boot.sort(axis=1)
    return boot


def _sorted_row_quantiles(
    sorted_rows: NDArray[np.float64], q: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Row ``i``'s quantile at level ``q[i]`` (linear interpolation, as ``np.quantile``)."""
    n_cols = sorted_rows.shape[1]
    pos = np.clip(q, 0.0, 1.0) * (n_cols - 1)
    below = np.floor(pos).astype(np.intp)
    above = np.minimum(below + 1, n_cols - 1)
    frac = pos - below
    r = np.arange(sorted_rows.shape[0])
    a, b = sorted_rows[r, below], sorted_rows[r, above]
    return a + frac * (b - a)


def bootstrap_mean_batch(
    samples: ArrayLike,
    rng: np.random.Generator,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
    method: BootstrapMethod = "percentile",
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """:func:`bootstrap_mean` of every row of a 2-D ``samples`` (quantities × prompts) at once.

    Returns arrays ``(means, ci_low, ci_high)``, one entry per row. All rows share the same
    resampled prompt sets, which is what one wants for several quantities measured on the same
    prompts (per-head scores, say) and is harmless for independent rows (a simulation). The
    resampled means are one matrix product (resample counts × samples), so thousands of rows cost
    little more than one. Each row's interval is the interval :func:`bootstrap_mean` gives for
    that row with the same generator state (up to floating-point rounding).
    """
    x, method, n_resamples, level = _bootstrap_mean_batch_iv(samples, method, n_resamples, level)
    rows, n = x.shape
    means = x.mean(axis=1)
    if n < 2:
        inf = np.full(rows, np.inf)
        return means, -inf, inf
    boot = _resampled_row_means(x, rng, n_resamples)
    alpha = (1.0 - level) / 2.0
    if method == "percentile":
        q_lo = np.full(rows, alpha)
        q_hi = np.full(rows, 1.0 - alpha)
    else:
        q_lo, q_hi = _bca_levels(boot, means, _acceleration(x - means[:, None]), level)
    lo = _sorted_row_quantiles(boot, q_lo)
    hi = _sorted_row_quantiles(boot, q_hi)
    constant = np.ptp(x, axis=1) == 0
    lo = np.where(constant, means, np.minimum(lo, means) if method == "bca" else lo)
    hi = np.where(constant, means, np.maximum(hi, means) if method == "bca" else hi)
    return means, lo, hi


# -- differences ----------------------------------------------------------------------------------


def bootstrap_mean_diff(
    a: ArrayLike,
    b: ArrayLike,
    rng: np.random.Generator,
    *,
    paired: bool,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
    method: BootstrapMethod = "percentile",
) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` with a bootstrap interval.

    ``paired=True`` when ``a[i]`` and ``b[i]`` were measured on the same prompt: the per-prompt
    differences are resampled together (which removes between-prompt variance), and the interval
    is :func:`bootstrap_mean` of ``a - b`` with the given ``method``. Otherwise ``a`` and ``b``
    are resampled independently; ``method="bca"`` then uses the two-sample acceleration
    ``a = (Σ dA³/nA³ - Σ dB³/nB³) / (6 (Σ dA²/nA² + Σ dB²/nB²)^1.5)`` (``d`` the deviations
    from each sample's mean: the empirical influence values of a difference of means). The
    unpaired percentile interval is adequate whenever both samples are moderately large; the
    unpaired BCa is provided for skewed samples, and its calibration is checked by
    ``benchmarks/calibration.py`` rather than by the fast test suite.
    """
    xa = _as_samples(a, "bootstrap_mean_diff (a)")
    xb = _as_samples(b, "bootstrap_mean_diff (b)")
    method = _check_method(method)
    if paired:
        if xa.size != xb.size:
            raise ValueError(
                f"paired difference needs equal sample counts, got {xa.size} and {xb.size}"
            )
        return bootstrap_mean(xa - xb, rng, n_resamples=n_resamples, level=level, method=method)
    diff = float(xa.mean() - xb.mean())
    if xa.size < 2 or xb.size < 2:
        return diff, float("-inf"), float("inf")
    boot = _resampled_means(xa, rng, n_resamples) - _resampled_means(xb, rng, n_resamples)
    if method == "percentile":
        lo, hi = _percentile_interval(boot, level)
        return diff, lo, hi
    da, db = xa - xa.mean(), xb - xb.mean()
    s2 = float(np.sum(da**2)) / xa.size**2 + float(np.sum(db**2)) / xb.size**2
    if s2 == 0:
        return diff, diff, diff
    s3 = float(np.sum(da**3)) / xa.size**3 - float(np.sum(db**3)) / xb.size**3
    lo, hi = _bca_interval(boot, diff, s3 / (6.0 * s2**1.5), level)
    return diff, lo, hi
