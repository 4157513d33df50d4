"""One claim on several estimates of one quantity (an :class:`~interpclaims.Estimates`): it holds
only if it holds for each.

The rule is an intersection-union test. The claim "H1 holds under every ablation kind" is the
intersection of the per-kind claims, so its null hypothesis is the union of the per-kind nulls;
rejecting that union at level α needs each per-kind test to reject at level α — no multiplicity
correction (Berger 1982): the worst case is one kind sitting on its null while the others are far
from theirs, and then the combined test errs exactly as often as that one kind's test. Hence:

* SUPPORTED iff every estimate is SUPPORTED;
* REFUTED iff any estimate is REFUTED (the claim fails under that kind);
* INCONCLUSIVE otherwise.

The combined p-value is the largest per-estimate p-value (the intersection-union p-value), and the
row's ``estimate``/``tested`` are those of the estimate that decided the verdict: the first
REFUTED one, else the first INCONCLUSIVE one, else the SUPPORTED one with the largest p-value
(the least clearly supported). Every estimate with its own verdict is in the row's ``estimates``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from interpclaims.verdicts._result import ClaimResult, Verdict

__all__ = ["combine"]

_WORST_FIRST = (Verdict.REFUTED, Verdict.INCONCLUSIVE, Verdict.SUPPORTED)


def _combined_verdict(verdicts: list[Verdict]) -> Verdict:
    if all(v is Verdict.SUPPORTED for v in verdicts):
        return Verdict.SUPPORTED
    if any(v is Verdict.REFUTED for v in verdicts):
        return Verdict.REFUTED
    return Verdict.INCONCLUSIVE


def _p_or_zero(r: ClaimResult) -> float:
    return r.p if r.p is not None else 0.0


def _row(label: str, r: ClaimResult) -> dict[str, Any]:
    t = r.tested
    return {
        "label": label, "value": t.value,
        "ci_low": t.ci_low if math.isfinite(t.ci_low) else None,
        "ci_high": t.ci_high if math.isfinite(t.ci_high) else None,
        "n": t.n, "method": t.method, "verdict": r.verdict.value,
    }


def combine(each: Mapping[str, ClaimResult], title: str = "") -> ClaimResult:
    """The one result of a claim decided on each of several estimates (module doc)."""
    labels = list(each)
    verdict = _combined_verdict([r.verdict for r in each.values()])
    ps = [r.p for r in each.values()]
    p = None if any(x is None for x in ps) else max(x for x in ps if x is not None)
    deciding = next((lbl for v in _WORST_FIRST for lbl in labels if each[lbl].verdict is v
                     and v is not Verdict.SUPPORTED), None)
    if deciding is None:
        deciding = max(labels, key=lambda lbl: _p_or_zero(each[lbl]))
    first = each[deciding]
    rule = (f"each of {', '.join(labels)}: {first.rule} (intersection-union: SUPPORTED iff all "
            "are, REFUTED iff any is)")
    warnings = tuple(f"{lbl}: {w}" for lbl in labels for w in each[lbl].warnings)
    lines = "".join(f"\n  {lbl}: {each[lbl].message.splitlines()[0]}" for lbl in labels)
    message = (f"{verdict}: {title or first.estimate.label} holds only if it holds for each of "
               f"{len(labels)} estimates ({', '.join(labels)}); decided by {deciding!r}"
               + (f"; p = {p:.3g} (the largest)" if p is not None else "") + lines
               + "".join(f"\n  warning: {w}" for w in warnings))
    return dataclasses.replace(
        first, verdict=verdict, rule=rule, message=message, p=p, warnings=warnings,
        estimates=tuple(_row(lbl, each[lbl]) for lbl in labels),
    )

