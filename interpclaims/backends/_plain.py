"""Edits in a declarative, torch-only form, so that a remote trace can apply them.

A :class:`PlainEdit` is an ordinary edit ``edit(act, rows) -> act`` (what local backends call)
that also carries its *operations*: value tensors, masks, head/neuron indices, a direction, SAE
weights. For one forward pass, :meth:`PlainEdit.operations` turns them into dicts of tensors,
numbers and strings only (the rows of the batch and its length applied), which the remote trace
body of :mod:`interpclaims.backends._remote` applies with plain torch code written inline: an
NDIF server has torch but not interpclaims. The operations compute what the local edit does,
operation for operation, so remote numbers equal local ones bit for bit (tested).

Operation kinds (each a frozen dataclass below):

- ``assign``: write ``value`` (or add it: ``add=True``) into a head / neuron / the whole tensor,
  at the positions ``where`` (zero, mean and resample ablation, patching, steering);
- ``direction``: set the coefficient along the unit vector ``u`` to ``fill``;
- ``sae``: encode with an SAE and set / shift features (``mode`` ``set`` / ``add``), or splice in
  the SAE's reconstruction (``splice``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["Assign", "Direction", "PlainEdit", "PlainOp", "SaeOp"]


@dataclass(frozen=True, slots=True)
class Assign:
    """``act[head / neuron] ← value`` (``add``: ``+= value``) at ``where`` (``[batch, pos]``)."""

    value: Any  # tensor broadcast against the selected part; rows-first when ``per_row``
    head: int | None = None
    neuron: int | None = None
    add: bool = False
    where: Any = None  # [batch, pos] bool, or None for every position
    per_row: bool = False  # value is [batch, pos, ...]: take the pass's rows and length

    def plain(self, rows: slice, n_pos: int) -> dict[str, Any]:
        value = self.value[rows][:, :n_pos] if self.per_row else self.value
        return {"kind": "assign", "value": value, "head": self.head, "neuron": self.neuron,
                "add": self.add, "where": None if self.where is None else self.where[rows]}


@dataclass(frozen=True, slots=True)
class Direction:
    """``act ← act + (fill − act·u) u``: the coefficient along ``u`` set to ``fill``."""

    u: Any  # [d_model], unit norm, in the activation's dtype
    fill: Any  # a 0-d tensor, or [pos]

    def plain(self, rows: slice, n_pos: int) -> dict[str, Any]:
        return {"kind": "direction", "u": self.u, "fill": self.fill}


@dataclass(frozen=True, slots=True)
class SaeOp:
    """An SAE edit: ``set`` / ``add`` ``value`` to features ``feats`` (the decoder rows
    ``w_dec`` of those features), or ``splice`` in the reconstruction, at ``where``."""

    mode: str  # set | add | splice
    w_enc: Any
    b_enc: Any
    b_dec: Any
    w_dec: Any  # [k, d_in] of ``feats`` (set/add) or the whole decoder (splice)
    threshold: Any
    b_dec_in: bool
    where: Any
    feats: Any = None
    value: float = 0.0

    def plain(self, rows: slice, n_pos: int) -> dict[str, Any]:
        return {"kind": "sae", "mode": self.mode, "w_enc": self.w_enc, "b_enc": self.b_enc,
                "b_dec": self.b_dec, "w_dec": self.w_dec, "threshold": self.threshold,
                "b_dec_in": self.b_dec_in, "where": self.where[rows], "feats": self.feats,
                "value": self.value}


PlainOp = Assign | Direction | SaeOp


@dataclass(frozen=True, slots=True)
class PlainEdit:
    """An edit (``fn``, called locally) and the same edit as operations (applied remotely)."""

    fn: Callable[[torch.Tensor, slice], torch.Tensor]
    ops: tuple[PlainOp, ...]

    def __call__(self, act: torch.Tensor, rows: slice) -> torch.Tensor:
        return self.fn(act, rows)

    def operations(self, rows: slice, n_pos: int) -> list[dict[str, Any]]:
        """The operations for one pass over the batch rows ``rows`` of ``n_pos`` positions."""
        return [op.plain(rows, n_pos) for op in self.ops]
