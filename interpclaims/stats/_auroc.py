"""AUROC of two independent samples with DeLong's interval (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from interpclaims.stats._defaults import DEFAULT_CI_LEVEL

__all__ = ["auroc_interval"]


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: for each positive the fraction of negatives it beats,
    for each negative the fraction of positives that beat it (ties count one half)."""
    gt = (pos[:, None] > neg[None, :]).astype(np.float64)
    eq = (pos[:, None] == neg[None, :]).astype(np.float64)
    kernel = gt + 0.5 * eq  # [n_pos, n_neg]
    return kernel.mean(1), kernel.mean(0)


def auroc_interval(positives: ArrayLike, negatives: ArrayLike, level: float = DEFAULT_CI_LEVEL
                   ) -> tuple[float, float, float]:
    """``(auroc, low, high)``: the probability that a positive scores above a negative (ties
    one half), with DeLong's normal interval clipped to [0, 1].

    When every pair is ordered the same way DeLong's variance is 0; the interval then uses the
    Hanley-McNeil variance at the continuity-corrected AUROC ``1 - 1/(2 n_pos n_neg)`` (or its
    mirror), so perfect separation of a few prompts never gives a zero-width interval.
    """
    pos = np.asarray(positives, dtype=np.float64).reshape(-1)
    neg = np.asarray(negatives, dtype=np.float64).reshape(-1)
    if pos.size < 2 or neg.size < 2:
        raise ValueError(f"AUROC needs two values or more in each group, got {pos.size} "
                         f"positives and {neg.size} negatives")
    v10, v01 = _placements(pos, neg)
    auc = float(v10.mean())
    var = float(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)
    if var <= 0:
        a = 1 - 0.5 / (pos.size * neg.size)
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        var = (a * (1 - a) + (pos.size - 1) * (q1 - a * a) + (neg.size - 1) * (q2 - a * a)) / (
            pos.size * neg.size)
    from scipy import stats as st  # imported when used: the plugin loads without scipy

    z = float(st.norm.ppf(0.5 + level / 2))
    half = z * var ** 0.5
    return auc, max(0.0, auc - half), min(1.0, auc + half)
