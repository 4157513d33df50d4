"""Families: claims corrected together for multiple comparisons — the only place, after the
comparator, where a verdict changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from interpclaims.stats import adjust_pvalues
from interpclaims.verdicts._result import ClaimResult, Verdict

__all__ = ["correct_families"]


def correct_families(results: Sequence[ClaimResult], method: str) -> list[ClaimResult]:
    """Adjust p-values within each (family, backend) and downgrade SUPPORTED claims whose
    adjusted p-value exceeds α/2 (the one-sided level of a 95% interval) to INCONCLUSIVE.

    Returns the results in the same order, each with its family size, correction and adjusted p.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault((r.family or r.nodeid, r.backend), []).append(i)
    out = list(results)
    for members in groups.values():
        for i in members:
            out[i] = dataclasses.replace(out[i], family_size=len(members), correction=method)
        tested = [i for i in members if out[i].p is not None]
        if not tested:
            continue
        adjusted = adjust_pvalues([out[i].p for i in tested], method=method)  # type: ignore[arg-type]
        for i, q in zip(tested, adjusted, strict=True):
            r = dataclasses.replace(out[i], p_adjusted=float(q))
            if r.verdict is Verdict.SUPPORTED and q > r.alpha / 2:
                r = dataclasses.replace(
                    r, verdict=Verdict.INCONCLUSIVE, verdict_before_correction=Verdict.SUPPORTED,
                    warnings=(*r.warnings, (
                        f"not significant after {method} correction within family {r.family!r} "
                        f"of {len(members)} claims: adjusted p = {q:.3g} > {r.alpha / 2:g}")),
                )
            out[i] = r
    return out
