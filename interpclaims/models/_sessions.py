"""Forward passes grouped into remote sessions.

A remote model (NDIF, or nnsight's local simulation of it) sends its forward passes as requests
that each wait in the server's queue. The passes of one :meth:`Model.run_many` call (the batches
of one run, or every cell of a sweep) are independent of each other, so they go together: one
session holds as many consecutive passes as fit the memory cap (what comes back is held here
until the session returns) and at most :data:`SESSION_TRACES`. A local model runs one pass at a
time and groups nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interpclaims.models._batch import memory_cap_bytes, returned_bytes

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.backends import Edit, ModelSpec

__all__ = ["SESSION_TRACES", "Pass", "sessions"]

SESSION_TRACES = 64  # traces per remote session at most


@dataclass(frozen=True, slots=True)
class Pass:
    """One forward pass: the rows ``rows`` of ``tokens`` ``[batch, pos]``, the whole-tensor
    sites read, and the edits."""

    tokens: torch.Tensor
    rows: slice
    bases: Sequence[Site]
    edits: Mapping[Site, Edit]


def sessions(spec: ModelSpec, passes: Sequence[Pass]) -> list[list[Pass]]:
    """``passes``, in order, cut into sessions: consecutive passes whose returned logits and
    activations fit the memory cap together, at most :data:`SESSION_TRACES` each (a pass
    larger than the cap alone goes in a session of its own)."""
    cap = memory_cap_bytes()
    out: list[list[Pass]] = []
    held = 0
    for p in passes:
        size = returned_bytes(spec, p.tokens[p.rows], p.bases)
        if not out or held + size > cap or len(out[-1]) >= SESSION_TRACES:
            out.append([])
            held = 0
        out[-1].append(p)
        held += size
    return out
