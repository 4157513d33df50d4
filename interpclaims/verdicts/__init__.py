"""Verdicts: claims and their comparators, the report row, and the family correction — the only
places a verdict is decided."""

from __future__ import annotations

from interpclaims.verdicts._claim import Claim, Subject
from interpclaims.verdicts._families import CORRECTIONS, Correction, Family
from interpclaims.verdicts._result import ClaimResult, Verdict

__all__ = ["CORRECTIONS", "Claim", "ClaimResult", "Correction", "Family", "Subject", "Verdict"]
