"""Input validation shared by the statistics: samples, levels, counts and option names.

Each check returns the validated (converted) value or raises ``ValueError`` naming the argument.
The per-function ``_*_iv`` helpers (as in scipy's ``stats/_resampling.py``) live beside the
function they validate and are built from these.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["Alternative", "BootstrapMethod", "IntervalMethod"]

Alternative = Literal["greater", "less", "two-sided"]
BootstrapMethod = Literal["percentile", "bca"]
IntervalMethod = Literal["t", "percentile", "bca"]
_ALTERNATIVES = ("greater", "less", "two-sided")
_BOOTSTRAP_METHODS = ("percentile", "bca")


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


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    return level


def _check_count(n: int, what: str) -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def _check_method(method: str) -> BootstrapMethod:
    if method not in _BOOTSTRAP_METHODS:
        raise ValueError(
            f"unknown bootstrap method {method!r}; expected one of {', '.join(_BOOTSTRAP_METHODS)}"
        )
    return method  # type: ignore[return-value]


def _check_alternative(alternative: str) -> Alternative:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"unknown alternative {alternative!r}; expected one of {', '.join(_ALTERNATIVES)}"
        )
    return alternative  # type: ignore[return-value]


def _check_finite(x: float, what: str) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {x}")
    return x
