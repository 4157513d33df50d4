"""Activations: the content-addressed on-disk store and the policy of when to consult it."""

from __future__ import annotations

from interpclaims._errors import StoreWarning
from interpclaims.activations._cache import PREFETCH_MAX, StoreCache, prefetch_sites
from interpclaims.activations._gather import gather_rows
from interpclaims.activations._key import FORMAT_VERSION, StoreKey, StoreStats, tokens_digest
from interpclaims.activations._plan import PlanStore, plan_cache
from interpclaims.activations._results import RESULTS_FORMAT, ResultStore
from interpclaims.activations._store import ActivationStore

__all__ = [
    "FORMAT_VERSION",
    "PREFETCH_MAX",
    "RESULTS_FORMAT",
    "ActivationStore",
    "PlanStore",
    "ResultStore",
    "StoreCache",
    "StoreKey",
    "StoreStats",
    "StoreWarning",
    "gather_rows",
    "plan_cache",
    "prefetch_sites",
    "tokens_digest",
]
