"""Interventions: edit builders (zero / mean / resample / direction ablation, patching, steering,
SAE feature edits that keep the error term)
and the one runner that applies them inside :meth:`Model.intervene` and proves they fired."""

from __future__ import annotations

from interpclaims.interventions._edits import (
    ABLATIONS,
    FIXED_ABLATIONS,
    MEAN_OVER,
    Ablation,
    Edit,
    FixedAblation,
    MeanOver,
    ablation_edit,
    check_vector,
    feature_shape,
    patch_edit,
    resolve_mean_over,
    steering_edit,
)
from interpclaims.interventions._run import (
    fired,
    run_lenient,
    run_lenient_many,
    run_strict,
    run_strict_many,
)
from interpclaims.interventions._sae import FeatureEditMode, sae_feature_edit

__all__ = [
    "ABLATIONS",
    "FIXED_ABLATIONS",
    "MEAN_OVER",
    "Ablation",
    "Edit",
    "FeatureEditMode",
    "FixedAblation",
    "MeanOver",
    "ablation_edit",
    "check_vector",
    "feature_shape",
    "fired",
    "patch_edit",
    "resolve_mean_over",
    "run_lenient",
    "run_lenient_many",
    "run_strict",
    "run_strict_many",
    "sae_feature_edit",
    "steering_edit",
]
