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
from interpclaims._estimate import Estimate, EstimateMatrix, estimate
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
    Localization,
    PairwiseAblation,
    ProbeResult,
    SteeringResult,
    ablate,
    ablate_pair,
    attention_score,
    localize,
    mean_difference,
    measure,
    patch,
    patch_heads,
    patch_sweep,
    probe,
    steer,
)
from interpclaims.plugin import family, model
from interpclaims.verdicts import Claim, ClaimResult, Verdict

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "Claim",
    "ClaimInconclusive",
    "ClaimRefuted",
    "ClaimResult",
    "ClaimWarning",
    "DataError",
    "Dataset",
    "Estimate",
    "EstimateMatrix",
    "HookLeakError",
    "InterpClaimsError",
    "InterventionDidNotFire",
    "Localization",
    "ModelLoadError",
    "PairwiseAblation",
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
    "estimate",
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
    "probe",
    "resid_mid",
    "resid_post",
    "resid_pre",
    "steer",
]
