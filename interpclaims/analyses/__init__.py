"""Analyses: the research actions, each returning an Estimate (or a table of them)."""

from __future__ import annotations

from interpclaims.analyses._causal import (
    Localization,
    PairwiseAblation,
    SteeringResult,
    ablate,
    ablate_pair,
    localize,
    mean_difference,
    patch,
    patch_heads,
    patch_sweep,
    steer,
)
from interpclaims.analyses._common import attention_score, measure
from interpclaims.analyses._probe import ProbeResult, probe

__all__ = [
    "Localization",
    "PairwiseAblation",
    "ProbeResult",
    "SteeringResult",
    "ablate",
    "ablate_pair",
    "attention_score",
    "localize",
    "mean_difference",
    "measure",
    "patch",
    "patch_heads",
    "patch_sweep",
    "probe",
    "steer",
]
