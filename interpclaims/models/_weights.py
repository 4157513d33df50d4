"""Weights edited in place: a fingerprint of every parameter, taken when the model loads and
compared after each test (a hand-made ablation ``W_O[...] = 0`` that is not undone would change
every later claim)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["FULL_HASH_BYTES", "changed_parameters", "fingerprint"]

#: Models up to this many bytes of weights are hashed whole; larger ones through a strided sample
#: of each parameter (every edit of a whole head, neuron or row still shows) plus its sum.
FULL_HASH_BYTES = 256 * 2**20
_SAMPLE = 1 << 16  # elements per parameter hashed in the sampled mode


def _digest(t: torch.Tensor, whole: bool) -> str:
    import torch

    h = hashlib.blake2b(digest_size=16)
    if t.device.type == "meta":  # offloaded by Accelerate: reloaded from its folder every pass
        h.update(f"offloaded {tuple(t.shape)} {t.dtype}".encode())
        return h.hexdigest()
    flat = t.detach().reshape(-1)
    if not whole and flat.numel() > _SAMPLE:
        h.update(repr(float(flat.double().sum())).encode())
        flat = flat[:: flat.numel() // _SAMPLE]
    h.update(flat.contiguous().cpu().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fingerprint(params: Iterable[tuple[str, torch.Tensor]]) -> dict[str, str]:
    """``{parameter name: digest}`` of a model's weights."""
    params = list(params)
    whole = sum(p.numel() * p.element_size() for _, p in params) <= FULL_HASH_BYTES
    return {name: _digest(p, whole) for name, p in params}


def changed_parameters(before: dict[str, str], params: Iterable[tuple[str, torch.Tensor]]
                       ) -> list[str]:
    """Names of parameters whose values differ from ``before`` (or appeared / disappeared)."""
    now = fingerprint(params)
    return sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
