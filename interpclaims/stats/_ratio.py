"""A ratio of two means measured on the same prompts, with the paired bootstrap applied to the ratio.

The normalized patching effect is ``(mean patched − mean corrupt) / (mean clean − mean corrupt)``:
``mean(num) / mean(den)`` with ``num`` and ``den`` measured on the same prompts. The bootstrap
resamples prompts jointly (each resample keeps a prompt's ``num`` and ``den`` together) and takes
the ratio of the resampled means; the interval is BCa, its acceleration from the jackknife of the
ratio (leave-one-prompt-out ratios, closed form, O(n)).

Where the denominator's own interval reaches zero the ratio is unbounded: the interval is then
``(-inf, inf)`` (a claim on it is INCONCLUSIVE), and :attr:`RatioInterval.bounded` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from interpclaims.stats._bootstrap import _bca_levels
from interpclaims.stats._defaults import DEFAULT_CI_LEVEL, DEFAULT_RESAMPLES
from interpclaims.stats._resample import resampled_column_means
from interpclaims.stats._validation import _as_samples, _check_count, _check_level

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["RatioInterval", "bootstrap_ratio"]


class RatioInterval(NamedTuple):
    value: float  # mean(num) / mean(den)
    low: float
    high: float
    bounded: bool  # False when the denominator's interval reaches zero (the interval is infinite)


def _resampled_ratio(num: NDArray[np.float64], den: NDArray[np.float64],
                     rng: np.random.Generator, n_resamples: int
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Resampled ``mean(num)`` and ``mean(den)``, prompts drawn jointly."""
    means = resampled_column_means(np.column_stack([num, den]), rng, n_resamples)
    return means[:, 0], means[:, 1]


def _jackknife_acceleration(num: NDArray[np.float64], den: NDArray[np.float64]) -> float:
    """BCa acceleration of ``mean(num) / mean(den)`` from its leave-one-out values."""
    n = num.size
    loo = (num.sum() - num) / (den.sum() - den)  # [n]; finite where no leave-one-out den is 0
    if not np.all(np.isfinite(loo)):
        return 0.0
    d = loo.mean() - loo
    s2 = float(np.sum(d * d))
    return float(np.sum(d**3)) / (6.0 * s2**1.5) if s2 > 0 and n > 2 else 0.0


def bootstrap_ratio(
    num: ArrayLike,
    den: ArrayLike,
    rng: np.random.Generator,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_CI_LEVEL,
) -> RatioInterval:
    """``mean(num) / mean(den)`` of paired per-prompt values, with a BCa bootstrap interval.

    Raises ``ValueError`` when ``mean(den)`` is zero (the ratio is undefined; the caller says what
    to do instead). The interval is ``(-inf, inf)`` with ``bounded=False`` when more than
    ``(1 - level) / 2`` of the resampled denominators are zero or of the other sign than
    ``mean(den)``: the denominator's own interval then reaches zero and the ratio has no finite
    bound. With one prompt the interval is unbounded as for a mean.
    """
    x = _as_samples(num, "bootstrap_ratio (num)")
    y = _as_samples(den, "bootstrap_ratio (den)")
    n_resamples = _check_count(n_resamples, "n_resamples")
    level = _check_level(level)
    if x.size != y.size:
        raise ValueError(f"bootstrap_ratio: num and den must be measured on the same prompts, "
                         f"got {x.size} and {y.size} values")
    mean_den = float(y.mean())
    if mean_den == 0.0:
        raise ValueError("bootstrap_ratio: mean(den) is 0, the ratio is undefined")
    value = float(x.mean()) / mean_den
    if x.size < 2:
        return RatioInterval(value, float("-inf"), float("inf"), False)
    boot_num, boot_den = _resampled_ratio(x, y, rng, n_resamples)
    alpha = (1.0 - level) / 2.0
    if np.mean(boot_den * np.sign(mean_den) <= 0) > alpha:
        return RatioInterval(value, float("-inf"), float("inf"), False)
    keep = boot_den * np.sign(mean_den) > 0  # at most alpha of them dropped
    boot = np.sort(boot_num[keep] / boot_den[keep])
    if boot[0] == boot[-1]:  # every resample gives the same ratio (num proportional to den)
        return RatioInterval(value, min(value, float(boot[0])), max(value, float(boot[0])), True)
    accel = _jackknife_acceleration(x, y)
    q_lo, q_hi = _bca_levels(boot[None, :], np.array([value]), np.array([accel]), level)
    lo, hi = np.quantile(boot, [float(q_lo[0]), float(q_hi[0])])
    return RatioInterval(value, min(float(lo), value), max(float(hi), value), True)
