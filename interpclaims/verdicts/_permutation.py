"""``x.exceeds(null)`` against a permutation null (an estimate carrying ``null`` replicates, e.g.
a probe's ``permutation_null`` control): decided by the one-sided permutation p-value, not by an
interval.

``p = (1 + #{null + by >= x}) / (k + 1)``, ties counted against the claim. SUPPORTED when
``p < α/2``; REFUTED when ``p >= 0.5`` (``x`` does not beat the null's median, less ``by``);
INCONCLUSIVE between. A statistic that every permutation reproduces (a probe on constant
features) has ``p = 1``: never significant.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interpclaims._estimate import Estimate
from interpclaims.stats import null_p_value
from interpclaims.verdicts._result import Verdict

__all__ = ["PERMUTATION_RULE", "against_null"]

PERMUTATION_RULE = ("permutation p = (1 + #{null + by >= x}) / (k + 1) < alpha/2 (REFUTED when "
                    "p >= 0.5)")


def against_null(x: Estimate, other: Estimate, by: float
                 ) -> tuple[Verdict, Estimate, dict[str, Any], float]:
    """The verdict, tested estimate, reference and p-value of ``x.exceeds(other, by=by)`` when
    ``other.null`` holds the null replicates of ``x``'s statistic.

    The tested estimate is ``x - null``: value ``x - mean(null)``, interval ``x`` minus the
    null's 97.5 and 2.5 percentiles (what the report draws; the verdict is the p-value's).
    """
    null = np.asarray(other.null, dtype=np.float64)
    p = null_p_value(x.value, null, margin=by)
    alpha = 1 - x.ci_level
    verdict = (Verdict.SUPPORTED if p < alpha / 2 else
               Verdict.REFUTED if p >= 0.5 else Verdict.INCONCLUSIVE)
    low, high = np.percentile(null, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    value = x.value - float(null.mean())
    tested = Estimate(
        value=value, ci_low=min(x.value - float(high), value),
        ci_high=max(x.value - float(low), value), n=x.n,
        method=f"{x.label or 'x'} minus its permutation null ({null.size} permutations); "
               f"interval: x minus the null's {alpha / 2:.1%}–{1 - alpha / 2:.1%} percentiles; "
               f"decided by the permutation p-value",
        label=f"{x.label} - {other.label}", ci_level=x.ci_level,
    )
    reference = {
        "kind": "permutation_null", "label": other.label or "permutation null",
        "value": other.value, "ci_low": other.ci_low, "ci_high": other.ci_high, "n": other.n,
        "by": by, "permutations": int(null.size),
        "null_median": float(np.median(null)),
    }
    return verdict, tested, reference, p
