"""The protocol every backend implements, and the sizes of a loaded model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site

__all__ = ["Backend", "Edit", "ModelSpec"]

# An edit receives the canonical activation at a site for the rows ``rows`` of the dataset being
# run, and returns the replacement (same shape).
Edit = Callable[["torch.Tensor", slice], "torch.Tensor"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Sizes of a loaded model, shared by every backend."""

    architecture: str
    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class Backend(Protocol):
    """What every backend provides."""

    name: str
    spec: ModelSpec
    native: Any  # the HookedTransformer / nnsight LanguageModel, for users who need it

    def forward(
        self,
        tokens: torch.Tensor,
        rows: slice,
        read: Sequence[Site],
        edits: Mapping[Site, Edit],
    ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Logits ``[batch, pos, d_vocab]`` and the canonical activation of each site in ``read``.

        Edits apply before reads at the same site (a read sees the edited value). Nothing stays
        attached after the call returns or raises.
        """
        ...

    def forward_many(
        self, passes: Sequence[tuple[torch.Tensor, slice, Sequence[Site], Mapping[Site, Edit]]]
    ) -> list[tuple[torch.Tensor, dict[Site, torch.Tensor]]]:
        """:meth:`forward` of each ``(tokens, rows, read, edits)``, in order. A remote backend
        sends them together, as one request."""
        ...

    def forward_grad(
        self,
        tokens: torch.Tensor,
        rows: slice,
        read: Sequence[Site],
        edits: Mapping[Site, Edit],
        cotangent: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
        """:meth:`forward` with one backward pass: logits, the activation of each site in
        ``read`` and the gradient of ``(logits * cotangent).sum()`` with respect to it (same
        shape; ``cotangent`` ``[batch, pos, d_vocab]``). Everything returned is detached; nothing
        stays attached and no parameter's ``requires_grad`` changes."""
        ...

    def w_o(self, layer: int) -> torch.Tensor:
        """Output weights of the heads of ``layer``: ``[n_heads, d_head, d_model]``."""
        ...

    def unembed(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        """``(W_U [d_model, d_vocab], final-norm gain [d_model], "rms" | "ln", eps)``."""
        ...

    def attached(self) -> list[str]:
        """Names of hooks or edits attached beyond the backend's own (empty when clean)."""
        ...

    def detach_all(self) -> None:
        """Remove everything :meth:`attached` lists."""
        ...

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The weights the backend computes with (to detect edits made in place)."""
        ...
