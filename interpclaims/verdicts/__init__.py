"""Verdicts: claims and their comparators, the report row, and family correction."""

from __future__ import annotations

from interpclaims.verdicts._claim import Claim, Subject
from interpclaims.verdicts._families import correct_families
from interpclaims.verdicts._result import ClaimResult, Verdict

__all__ = ["Claim", "ClaimResult", "Subject", "Verdict", "correct_families"]
