"""Statistics: pure numpy, no torch, no pytest.

Every interval here is a bootstrap over *prompts*: the caller first reduces each prompt to one
number (its mean over tokens), so tokens of one prompt — which are not independent — are resampled
together (a cluster bootstrap by construction).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_CI_LEVEL",
    "DEFAULT_RESAMPLES",
    "bootstrap_mean",
    "bootstrap_mean_diff",
    "derive_rng",
]

DEFAULT_RESAMPLES = 10_000
DEFAULT_CI_LEVEL = 0.95
# Resample in chunks so that 10k resamples of many thousand prompts stay small in memory.
_CHUNK_ELEMENTS = 4_000_000


def derive_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (not on call order or process)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    seed_words = [(seed >> (32 * i)) & 0xFFFFFFFF for i in range(max(1, (seed.bit_length() + 31) // 32))]
    words = [len(seed_words), *seed_words] + [zlib.crc32(repr(k).encode()) for k in keys]
    return np.random.default_rng(words)


def _as_samples(x: ArrayLike, what: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected one value per prompt (1-D), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what}: no samples")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{what}: sample {bad} is {arr[bad]} (not finite)")
    return arr


def _resampled_means(
    x: NDArray[np.float64], rng: np.random.Generator, n_resamples: int
) -> NDArray[np.float64]:
    """Means of ``n_resamples`` bootstrap resamples of ``x`` (vectorized, chunked)."""
    n = x.size
    out = np.empty(n_resamples)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = x[idx].mean(axis=1)
    return out


def _percentile_interval(
    boot: NDArray[np.float64], level: float
) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_mean(
    samples: ArrayLike,
    rng: np.random.Generator,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
) -> tuple[float, float, float]:
    """Mean of per-prompt ``samples`` and its percentile-bootstrap interval.

    Returns ``(mean, ci_low, ci_high)``. With a single sample the interval is unbounded: one
    prompt cannot support a claim.
    """
    x = _as_samples(samples, "bootstrap_mean")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("-inf"), float("inf")
    lo, hi = _percentile_interval(_resampled_means(x, rng, n_resamples), level)
    return mean, lo, hi


def bootstrap_mean_diff(
    a: ArrayLike,
    b: ArrayLike,
    rng: np.random.Generator,
    *,
    paired: bool,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` with a bootstrap interval.

    ``paired=True`` when ``a[i]`` and ``b[i]`` were measured on the same prompt: the per-prompt
    differences are resampled together (which removes between-prompt variance). Otherwise ``a``
    and ``b`` are resampled independently.
    """
    xa = _as_samples(a, "bootstrap_mean_diff (a)")
    xb = _as_samples(b, "bootstrap_mean_diff (b)")
    if paired:
        if xa.size != xb.size:
            raise ValueError(
                f"paired difference needs equal sample counts, got {xa.size} and {xb.size}"
            )
        return bootstrap_mean(xa - xb, rng, n_resamples=n_resamples, level=level)
    diff = float(xa.mean() - xb.mean())
    if xa.size < 2 or xb.size < 2:
        return diff, float("-inf"), float("inf")
    boot = _resampled_means(xa, rng, n_resamples) - _resampled_means(xb, rng, n_resamples)
    lo, hi = _percentile_interval(boot, level)
    return diff, lo, hi

