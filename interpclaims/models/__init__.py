"""Models: a name resolves to a loaded model on a backend; tokenizing, batched runs, edits, leaks."""

from __future__ import annotations

from interpclaims._data import fixtures_dir
from interpclaims.models._batch import BATCH_SIZE, Batch, memory_cap_bytes
from interpclaims.models._model import CleanCache, Model
from interpclaims.models._parity import (
    SiteDifference,
    all_sites,
    compare_backends,
    max_difference,
)
from interpclaims.models._placement import DTYPES, Placement, make_placement
from interpclaims.models._progress import progress_to
from interpclaims.models._registry import ModelRegistry
from interpclaims.models._resolve import resolve_model_path
from interpclaims.models._sae import (
    SAE_ARCHITECTURES,
    SparseAutoencoder,
    load_sae,
    resolve_sae,
    sae_for,
)

__all__ = [
    "BATCH_SIZE",
    "DTYPES",
    "SAE_ARCHITECTURES",
    "Batch",
    "CleanCache",
    "Model",
    "ModelRegistry",
    "Placement",
    "SiteDifference",
    "SparseAutoencoder",
    "all_sites",
    "compare_backends",
    "fixtures_dir",
    "load_sae",
    "make_placement",
    "max_difference",
    "memory_cap_bytes",
    "progress_to",
    "resolve_model_path",
    "resolve_sae",
    "sae_for",
]
