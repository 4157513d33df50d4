"""Verdicts: claims and their comparators, the report row, and family correction."""

from __future__ import annotations

from interpclaims.verdicts._claim import (
    Claim,
    ClaimResult,
    Subject,
    Verdict,
)

__all__ = [
    "Claim",
    "ClaimResult",
    "Subject",
    "Verdict",
]
