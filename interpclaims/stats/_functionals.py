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
from interpclaims.stats._resample import resampled_column_means

__all__ = ["MeansFunction", "bootstrap_means_function"]

# means [..., k] (one row per resample) -> value [...]; NaN where the function is undefined
MeansFunction = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def bootstrap_means_function(
    table: NDArray[np.float64],
    fn: MeansFunction,
    rng: np.random.Generator,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
    *,
    denominator: MeansFunction | None = None,
) -> tuple[float, float, float]:
    """``fn`` of the column means of ``table`` ``[prompts, k]`` and its percentile interval from
    a bootstrap over prompts (rows resampled jointly for every column).

    Returns ``(value, low, high)``; the interval always contains ``value``. A resample on which
    ``fn`` is undefined (NaN) makes the interval unbounded, ``(-inf, inf)``: the data cannot
    bound the quantity. For a ratio, pass ``denominator`` (means -> its value): as for
    :func:`bootstrap_ratio`, the interval is unbounded when more than ``(1 - level) / 2`` of the
    resampled denominators are zero or of the other sign than the observed one — the
    denominator's own interval then reaches zero, and the ratio has no finite bound.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] < 2:
        raise ValueError(f"table must be [prompts >= 2, k], got shape {t.shape}")
    value = float(fn(t.mean(axis=0)[None, :])[0])
    means = resampled_column_means(t, rng, n_resamples)  # one joint resample for every column
    alpha = (1.0 - level) / 2.0
    if denominator is not None:
        observed = float(denominator(t.mean(axis=0)[None, :])[0])
        resampled = np.asarray(denominator(means), dtype=np.float64)
        if observed == 0.0 or np.mean(resampled * np.sign(observed) <= 0) > alpha:
            return value, -np.inf, np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = np.asarray(fn(means), dtype=np.float64)
    if not np.isfinite(boot).all():
        return value, -np.inf, np.inf
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return value, min(float(lo), value), max(float(hi), value)
