"""Representational similarity of two sets of activations measured on the same prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["linear_cka"]


def linear_cka(x: ArrayLike, y: ArrayLike) -> float:
    """Linear centered kernel alignment (Kornblith et al. 2019) of ``x [n, d1]`` and
    ``y [n, d2]``, rows the same ``n`` prompts:
    ``||Ycᵀ Xc||²_F / (||Xcᵀ Xc||_F · ||Ycᵀ Yc||_F)`` with column-centred ``Xc``, ``Yc``.

    1 for identical representations, invariant to orthogonal transforms and isotropic scaling of
    either side, near 0 for independent ones (its expectation under independence is of order
    ``d / n``). A side with no variance (every prompt the same) has no similarity to anything:
    0 is returned.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"linear_cka needs two [n, d] arrays over the same n rows, got shapes "
                         f"{a.shape} and {b.shape}")
    centred = [m - m.mean(0) for m in (a, b)]
    if any(np.linalg.norm(c) <= 1e-9 * np.linalg.norm(m) for c, m in zip(centred, (a, b),
                                                                          strict=True)):
        return 0.0  # a constant side (within rounding of its values' scale)
    a, b = centred
    # the Gram form (n × n) is cheaper than the feature form when n < d
    if a.shape[0] < max(a.shape[1], b.shape[1]):
        ka, kb = a @ a.T, b @ b.T
        cross, norm_a, norm_b = float((ka * kb).sum()), np.linalg.norm(ka), np.linalg.norm(kb)
    else:
        cross = float(np.linalg.norm(b.T @ a) ** 2)
        norm_a, norm_b = np.linalg.norm(a.T @ a), np.linalg.norm(b.T @ b)
    return min(1.0, max(0.0, cross / float(norm_a * norm_b)))
