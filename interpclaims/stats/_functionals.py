"""Intervals of a function of several means measured on the same prompts (a ratio of means, the
largest of several differences of ratios, an area under a curve of ratios).

The prompts are resampled jointly: one bootstrap draw of prompts recomputes every column's mean,
and the function is applied to those means, so a numerator and its denominator (or every point of
a curve) move together, as they do when the prompt set changes — the paired bootstrap of a ratio.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from interpclaims.stats._defaults import DEFAULT_CI_LEVEL, DEFAULT_RESAMPLES

__all__ = ["MeansFunction", "bootstrap_means_function"]

# means [..., k] (one row per resample) -> value [...]; NaN where the function is undefined
MeansFunction = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def bootstrap_means_function(
    table: NDArray[np.float64],
    fn: MeansFunction,
    rng: np.random.Generator,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
) -> tuple[float, float, float]:
    """``fn`` of the column means of ``table`` ``[prompts, k]`` and its percentile interval from
    a bootstrap over prompts (rows resampled jointly for every column).

    Returns ``(value, low, high)``; the interval always contains ``value``. A resample on which
    ``fn`` is undefined (NaN, e.g. a denominator that reaches 0) makes the interval unbounded,
    ``(-inf, inf)``: the data cannot bound the quantity.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] < 2:
        raise ValueError(f"table must be [prompts >= 2, k], got shape {t.shape}")
    n = t.shape[0]
    value = float(fn(t.mean(axis=0)[None, :])[0])
    # multinomial counts: the same joint resample of prompts for every column
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = np.asarray(fn(counts @ t / n), dtype=np.float64)
    if not np.isfinite(boot).all():
        return value, -np.inf, np.inf
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return value, min(float(lo), value), max(float(hi), value)
