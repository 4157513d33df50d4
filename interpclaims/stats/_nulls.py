"""Tests against a null distribution that the caller built by retraining (a probe refitted on
permuted labels): the p-value of an observed statistic among its null replicates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interpclaims.stats._validation import _check_finite

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["null_p_value"]


def null_p_value(observed: float, null: ArrayLike, *, margin: float = 0.0) -> float:
    """One-sided permutation p-value of ``observed`` against ``k`` null replicates of the same
    statistic: ``p = (1 + #{null + margin >= observed}) / (k + 1)``.

    Ties count against the claim (a null replicate equal to the observed value is as extreme as
    it, within ``1e-9`` of the values' scale, so rounding never helps): a statistic that every
    permutation reproduces — a probe on a site whose features are constant — gets ``p = 1``. Exact
    (valid at any ``k``) when the observed statistic and the replicates are exchangeable under
    the null (Phipson & Smyth 2010).
    """
    obs = _check_finite(observed, "observed")
    m = _check_finite(margin, "margin")
    values = np.asarray(null, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"null_p_value needs at least one finite null replicate, got "
                         f"{values.size} value(s){'' if values.size == 0 else ' with a non-finite one'}")
    scale = max(1.0, abs(obs), float(np.abs(values).max()))
    count = int(np.sum(values + m >= obs - 1e-9 * scale))
    return (count + 1.0) / (values.size + 1.0)
