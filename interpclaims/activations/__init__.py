"""Activations: the content-addressed on-disk store and the policy of when to consult it."""

from __future__ import annotations

from interpclaims.activations._store import (
    FORMAT_VERSION,
    ActivationStore,
    StoreKey,
    StoreStats,
    StoreWarning,
    tokens_digest,
)

__all__ = [
    "FORMAT_VERSION",
    "ActivationStore",
    "StoreKey",
    "StoreStats",
    "StoreWarning",
    "tokens_digest",
]
