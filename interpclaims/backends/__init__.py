"""The backend seam: one small protocol, one module per backend (like httpx transports).

A backend runs token batches through a model, returns the activations of the requested sites in
their canonical shapes (see :mod:`interpclaims._sites`) and applies edits at sites — always inside
a context that removes everything it attached, also when the body raises. Importing this module
imports no torch.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from interpclaims._errors import BackendUnavailable, Unsupported
from interpclaims.backends._circuit import (
    GRAPH_ARCHITECTURES,
    RawGraph,
    Replacement,
    transcoder_decoders,
)
from interpclaims.backends._plain import Assign, Direction, PlainEdit, PlainOp, SaeOp
from interpclaims.backends._plan import PlanBackend
from interpclaims.backends._protocol import Backend, Edit, ModelSpec
from interpclaims.backends._remote import REMOTE_MODES, RemoteJobError, RemoteRunner

__all__ = [
    "BACKENDS",
    "GRAPH_ARCHITECTURES",
    "REMOTE_MODES",
    "Assign",
    "Backend",
    "Direction",
    "Edit",
    "ModelSpec",
    "PlainEdit",
    "PlainOp",
    "PlanBackend",
    "RawGraph",
    "RemoteJobError",
    "RemoteRunner",
    "Replacement",
    "SaeOp",
    "backend_available",
    "install_hint",
    "load_backend",
    "model_spec",
    "transcoder_decoders",
]

BACKENDS = ("tl", "nnsight")
_PACKAGE = {"tl": "transformer_lens", "nnsight": "nnsight"}
_EXTRA = {"tl": "tl", "nnsight": "nnsight"}

def backend_available(name: str) -> bool:
    """Whether the package behind backend ``name`` is installed (without importing it)."""
    return importlib.util.find_spec(_PACKAGE[name]) is not None


def install_hint(name: str) -> str:
    return (f"backend {name!r} needs the package {_PACKAGE[name]!r}: "
            f"pip install 'interpclaims[{_EXTRA[name]}]'")


def model_spec(hf_config: Any) -> ModelSpec:
    """The sizes of a Hugging Face model from its config (a clear error for an architecture
    interpclaims does not support)."""
    from interpclaims.backends._arch import model_spec as spec_of

    return spec_of(hf_config)


def load_backend(name: str, hf_model: Any, tokenizer: Any, spec: ModelSpec,
                 offload_folder: str | None = None, remote: str = "off", model_name: str = "",
                 source: str | None = None) -> Backend:
    """Wrap a loaded Hugging Face model in backend ``name`` (placed on its devices as the model
    is; ``offload_folder``: where TransformerLens keeps weights of "disk" entries); ``remote``
    (``local`` / ``ndif``, nnsight only) runs its traces on NDIF or nnsight's local simulation.
    ``hf_model`` None (``remote="ndif"``): no weights here; nnsight builds the model's modules
    from ``source`` on the meta device."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    if not backend_available(name):
        raise BackendUnavailable(install_hint(name))
    if remote not in REMOTE_MODES:
        raise Unsupported(f"remote={remote!r} is not one of {', '.join(map(repr, REMOTE_MODES))}")
    if name == "tl" and remote != "off":
        raise Unsupported(f"{model_name}: remote={remote!r} runs the nnsight backend only "
                          "(TransformerLens has no remote execution); use backends=['nnsight']")
    if name == "tl":
        from interpclaims.backends._tl import TLBackend

        return TLBackend(hf_model, tokenizer, spec, offload_folder)
    from interpclaims.backends._nnsight import NNsightBackend

    runner = RemoteRunner(remote, model_name) if remote != "off" else None
    return NNsightBackend(hf_model, tokenizer, spec, remote=runner, source=source)
