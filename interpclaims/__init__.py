"""interpclaims: mechanistic-interpretability findings as pytest claims.

Importing this package imports no torch; analyses import it when they run.
"""

from __future__ import annotations

from interpclaims._data import Dataset, load_data
from interpclaims._errors import (
    BackendUnavailable,
    ClaimInconclusive,
    ClaimRefuted,
    ClaimWarning,
    DataError,
    HookLeakError,
    InterpClaimsError,
    InterventionDidNotFire,
    ModelLoadError,
    SiteError,
    StoreWarning,
)
from interpclaims._estimate import Estimate, EstimateMatrix
from interpclaims._sites import (
    Site,
    attn_out,
    head,
    mlp_out,
    mlp_post,
    parse_site,
    pattern,
    resid_mid,
    resid_post,
    resid_pre,
)
from interpclaims.analyses import (
    Collapse,
    FeatureComparison,
    Localization,
    PairwiseAblation,
    Polysemanticity,
    ProbeResult,
    SteeringResult,
    ablate,
    ablate_pair,
    attention_score,
    compare_features,
    localize,
    mean_difference,
    measure,
    patch,
    patch_heads,
    patch_sweep,
    polysemanticity,
    probe,
    representation_collapse,
    steer,
)
from interpclaims.plugin import claim_id, family, model
from interpclaims.report import read_report
from interpclaims.verdicts import Claim, ClaimResult, Verdict

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "Claim",
    "ClaimInconclusive",
    "ClaimRefuted",
    "ClaimResult",
    "ClaimWarning",
    "Collapse",
    "DataError",
    "Dataset",
    "Estimate",
    "EstimateMatrix",
    "FeatureComparison",
    "HookLeakError",
    "InterpClaimsError",
    "InterventionDidNotFire",
    "Localization",
    "ModelLoadError",
    "PairwiseAblation",
    "Polysemanticity",
    "ProbeResult",
    "Site",
    "SiteError",
    "SteeringResult",
    "StoreWarning",
    "Verdict",
    "ablate",
    "ablate_pair",
    "attention_score",
    "attn_out",
    "claim_id",
    "compare_features",
    "family",
    "head",
    "load_data",
    "localize",
    "mean_difference",
    "measure",
    "mlp_out",
    "mlp_post",
    "model",
    "parse_site",
    "patch",
    "patch_heads",
    "patch_sweep",
    "pattern",
    "polysemanticity",
    "probe",
    "read_report",
    "representation_collapse",
    "resid_mid",
    "resid_post",
    "resid_pre",
    "steer",
]
