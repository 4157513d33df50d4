"""The backend seam: one small protocol, one module per backend (like httpx transports).

A backend runs token batches through a model, returns the activations of the requested sites in
their canonical shapes (see :mod:`interpclaims._sites`) and applies edits at sites — always inside
a context that removes everything it attached, also when the body raises. Importing this module
imports no torch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from interpclaims._errors import BackendUnavailable

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site

__all__ = [
    "BACKENDS",
    "Backend",
    "Edit",
    "ModelSpec",
    "backend_available",
    "install_hint",
    "load_backend",
]

BACKENDS = ("tl", "nnsight")
_PACKAGE = {"tl": "transformer_lens", "nnsight": "nnsight"}
_EXTRA = {"tl": "tl", "nnsight": "nnsight"}

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


def backend_available(name: str) -> bool:
    """Whether the package behind backend ``name`` is installed (without importing it)."""
    return importlib.util.find_spec(_PACKAGE[name]) is not None


def install_hint(name: str) -> str:
    return (f"backend {name!r} needs the package {_PACKAGE[name]!r}: "
            f"pip install 'interpclaims[{_EXTRA[name]}]'")


def load_backend(name: str, hf_model: Any, tokenizer: Any, spec: ModelSpec) -> Backend:
    """Wrap a loaded Hugging Face model in backend ``name``."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    if not backend_available(name):
        raise BackendUnavailable(install_hint(name))
    if name == "tl":
        from interpclaims.backends._tl import TLBackend

        return TLBackend(hf_model, tokenizer, spec)
    from interpclaims.backends._nnsight import NNsightBackend

    return NNsightBackend(hf_model, tokenizer, spec)
