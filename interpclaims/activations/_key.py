"""Store keys (what names an entry) and the store's counters.

This module imports numpy and the standard library, never torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["FORMAT_VERSION", "StoreKey", "StoreStats", "tokens_digest"]

#: Version of the key digest and of the on-disk layout; bump it to invalidate every entry.
FORMAT_VERSION = 2


@dataclass(frozen=True, slots=True)
class StoreKey:
    """Every ingredient that changes a stored activation; its digest names the entry.

    Attributes:
        weights: hash of the model weights (e.g. ``weights_hash(model_dir)``).
        backend: the backend that ran the model, ``"tl"`` or ``"nnsight"``.
        dtype: the compute dtype, e.g. ``"float32"``.
        tokenizer: hash of the tokenizer.
        tokens: SHA-256 of the exact token-id matrix and lengths (see :func:`tokens_digest`); it
            covers the data and the BOS / padding policy that produced the ids.
        site: the site, as ``str(site)``, e.g. ``"L1.resid_post"``.
        policy: the token-position / padding policy tag.
    """

    weights: str
    backend: str
    dtype: str
    tokenizer: str
    tokens: str
    site: str
    policy: str = "right-pad+bos"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) or not value:
                raise TypeError(
                    f"StoreKey.{f.name} must be a non-empty str, got {value!r}; "
                    f"pass str(...) of the {f.name} (e.g. str(site) for a Site)"
                )

    def to_json(self) -> dict[str, str]:
        """The fields as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # asdict deep-copies: slow

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreKey:
        """The key stored in a sidecar, from :meth:`to_json`'s dict.

        Raises:
            TypeError: when a field is missing, unknown or not a non-empty string.
        """
        return cls(**data)

    def canonical(self) -> str:
        """The canonical JSON the digest hashes: sorted keys, no spaces, ASCII, format version."""
        return json.dumps(
            {"format": FORMAT_VERSION, "key": self.to_json()},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )

    def digest(self) -> str:
        """SHA-256 hex of :meth:`canonical`: stable across processes, runs and machines."""
        return hashlib.sha256(self.canonical().encode("ascii")).hexdigest()


def tokens_digest(ids: np.ndarray, lengths: np.ndarray | Sequence[int] | None = None) -> str:
    """SHA-256 of a token-id matrix and its row lengths, for :attr:`StoreKey.tokens`.

    The ids and lengths are hashed as little-endian int64 in C order together with their shapes,
    so the digest does not depend on the integer dtype or memory layout they arrive in.

    Args:
        ids: the token ids, any integer array (typically ``(batch, seq)``, padding included).
        lengths: the number of real tokens of each row, or ``None``.

    Returns:
        The 64-character hex digest.

    Raises:
        TypeError: when ``ids`` or ``lengths`` is not an integer array.
    """
    h = hashlib.sha256(b"interpclaims.tokens.v1")
    parts: list[tuple[str, np.ndarray | None]] = [("ids", np.asarray(ids))]
    parts.append(("lengths", None if lengths is None else np.asarray(lengths)))
    for name, arr in parts:
        if arr is None:
            h.update(f"|{name}:none".encode())
            continue
        if arr.dtype.kind not in "iub":
            raise TypeError(f"tokens_digest: {name} must hold integers, got dtype {arr.dtype}")
        canon = np.asarray(arr, dtype="<i8", order="C")
        h.update(f"|{name}:{list(canon.shape)}".encode())
        h.update(canon.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


@dataclass(slots=True)
class StoreStats:
    """Counters of one :class:`ActivationStore` (this process only).

    Attributes:
        hits: lookups answered from disk.
        misses: lookups not answered from disk (``get`` returning ``None``, and every compute).
        writes: entries written.
        corrupt: damaged entries detected (and deleted in ``"rw"`` mode, so they are rebuilt).
    """

    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0

    def to_json(self) -> dict[str, int]:
        """The counters as a JSON-ready dict."""
        return asdict(self)
