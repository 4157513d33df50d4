"""Multiple-comparison adjustment of the p-values of a family of claims."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["adjust_pvalues", "bonferroni"]

_ADJUST_METHODS = {"holm": "holm", "bh": "fdr_bh"}


def _adjust_pvalues_iv(pvalues: ArrayLike, method: str) -> NDArray[np.float64]:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(
            f"adjust_pvalues: expected a 1-D sequence of p-values, got shape {p.shape}"
        )
    if method not in ("holm", "bh", "none"):
        raise ValueError(f"adjust_pvalues: unknown method {method!r}; expected holm, bh or none")
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # also catches NaN
    if bad.size:
        raise ValueError(
            f"adjust_pvalues: p-value {int(bad[0])} is {p[bad[0]]}; p-values lie in [0, 1]"
        )
    return p


def adjust_pvalues(
    pvalues: ArrayLike, method: Literal["holm", "bh", "none"] = "holm"
) -> NDArray[np.float64]:
    """p-values adjusted for multiple comparisons (via ``statsmodels.stats.multitest``).

    ``"holm"``: Holm's step-down adjustment; rejecting where the adjusted ``p <= α`` keeps the
    family-wise error rate (the chance of any false SUPPORTED in the family) at ``α``, under any
    dependence. ``"bh"``: Benjamini–Hochberg; controls the false discovery rate (the expected share
    of false SUPPORTED among the SUPPORTED) for independent or positively dependent tests.
    ``"none"``: unchanged. Returns a new 1-D float array in the input order.
    """
    p = _adjust_pvalues_iv(pvalues, method)
    if method == "none" or p.size == 0:
        return p.copy()
    import gc

    from statsmodels.stats.multitest import multipletests

    # statsmodels' Holm branch calls gc.collect() on every call: ~15-30 ms in a process holding
    # 100k objects, far more with torch loaded. Freezing the existing objects first makes that
    # collection scan only new ones (~10 µs). Only done when nobody else has frozen objects, so
    # that unfreezing restores exactly the previous state.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        _, adjusted, _, _ = multipletests(p, alpha=0.05, method=_ADJUST_METHODS[method])
    finally:
        if freeze:
            gc.unfreeze()
    return np.asarray(adjusted, dtype=np.float64)


def bonferroni(p: float, family_size: int) -> float:
    """The Bonferroni-adjusted p-value ``min(1, m·p)`` of one claim in a family of ``m``.

    It needs only the family's size, not the other p-values, so a claim can be corrected when it
    is decided (Holm's step-down would need every p-value of the family first). Rejecting where
    the adjusted ``p <= α`` keeps the family-wise error rate at ``α`` under any dependence.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bonferroni: p is {p}; p-values lie in [0, 1]")
    if not isinstance(family_size, int) or family_size < 1:
        raise ValueError(f"bonferroni: the family size must be an int >= 1, got {family_size!r}")
    return min(1.0, p * family_size)
