"""Families: claims corrected together for multiple comparisons.

A family is what the code declares — every parametrized instance of one test function, or every
test of a module marked ``ic.family(name)`` — counted at collection, before ``-k``, ``--lf`` or node
ids select anything. Its size is all a claim needs to be corrected when it is decided (Bonferroni:
SUPPORTED needs ``m · p ≤ α/2`` on top of the interval rule), so every claim is decided once, while
its test runs, and pytest's outcome, junitxml, ``--lf``, the report and the exit status agree; a
claim's verdict does not depend on which other tests run. (Holm and BH need every p-value of the
family first, so they could only change verdicts after pytest had reported them.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from interpclaims.stats import bonferroni
from interpclaims.verdicts._result import ClaimResult, Verdict

__all__ = ["CORRECTIONS", "Correction", "Family"]

Correction = Literal["bonferroni", "none"]
CORRECTIONS: tuple[Correction, ...] = ("bonferroni", "none")


@dataclass(frozen=True, slots=True)
class Family:
    """A declared family: its name, its size on one backend, and the correction within it."""

    name: str
    size: int = 1
    correction: Correction = "bonferroni"

    def decide(self, result: ClaimResult) -> ClaimResult:
        """``result`` with the family's adjusted p-value; a SUPPORTED claim whose adjusted p
        exceeds α/2 becomes INCONCLUSIVE (with the reason as a warning). Nothing else changes."""
        out = dataclasses.replace(result, family=self.name, family_size=self.size,
                                  correction=self.correction)
        if result.p is None:
            if self.size > 1 and self.correction != "none":  # say so: never a silent gap
                out = dataclasses.replace(out, warnings=(*out.warnings, (
                    f"uncorrected: the estimate carries no p-value (e.g. a ratio of means), so "
                    f"the {self.correction} correction within family {self.name!r} of "
                    f"{self.size} claims could not be applied; its interval decided alone")))
            return out
        q = bonferroni(result.p, self.size) if self.correction == "bonferroni" else result.p
        out = dataclasses.replace(out, p_adjusted=q)
        if out.verdict is Verdict.SUPPORTED and q > out.alpha / 2:
            out = dataclasses.replace(
                out, verdict=Verdict.INCONCLUSIVE, verdict_before_correction=Verdict.SUPPORTED,
                warnings=(*out.warnings, (
                    f"not significant after {self.correction} correction within family "
                    f"{self.name!r} of {self.size} claims: adjusted p = {q:.3g} > "
                    f"{out.alpha / 2:g}")),
            )
        return out
