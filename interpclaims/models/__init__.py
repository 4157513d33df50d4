"""Models: a name resolves to a loaded model on a backend; tokenizing, batched runs, edits, leaks."""

from __future__ import annotations

from interpclaims.models._model import (
    Model,
    ModelRegistry,
    fixtures_dir,
    resolve_model_path,
)
from interpclaims.models._parity import (
    SiteDifference,
    all_sites,
    compare_backends,
    max_difference,
)

__all__ = [
    "Model",
    "ModelRegistry",
    "SiteDifference",
    "all_sites",
    "compare_backends",
    "fixtures_dir",
    "max_difference",
    "resolve_model_path",
]
