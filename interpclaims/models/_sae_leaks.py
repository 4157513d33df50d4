"""SAEs and transcoders left attached to a backend's model: a leak, like a hook left behind.

SAELens's ``HookedSAETransformer.add_sae`` replaces the hook point at the SAE's site by the SAE
(other hooks there are dropped, and the SAE does not show in hook counts), so the check reads
``acts_to_saes`` and walks the module tree for SAE / transcoder modules of SAELens or
circuit-tracer (also an SAE module set on the nnsight model).
"""

from __future__ import annotations

from typing import Any

__all__ = ["attached_saes", "detach_saes"]


def _torch_root(native: Any) -> Any:
    """The ``torch.nn.Module`` a backend computes with (nnsight wraps it as ``._model``)."""
    return getattr(native, "_model", native)


def _is_dictionary(module: Any) -> bool:
    """Whether ``module`` is an SAE / transcoder of SAELens or circuit-tracer."""
    return any(c.__module__.split(".")[0] in ("sae_lens", "circuit_tracer")
               and ("SAE" in c.__name__ or "Transcoder" in c.__name__)
               for c in type(module).__mro__)


def attached_saes(native: Any) -> list[str]:
    """SAEs (or transcoders) left on a backend's model: ``HookedSAETransformer.acts_to_saes``
    entries (TransformerLens) and SAE / transcoder modules set anywhere in the module tree (an
    SAE module put on the nnsight model, a hook point replaced by an SAE)."""
    leaks = [f"SAE attached at {name} (HookedSAETransformer.add_sae; remove with reset_saes())"
             for name in sorted(getattr(native, "acts_to_saes", None) or {})]
    root = _torch_root(native)
    named = getattr(root, "named_modules", None)
    if named is not None:
        seen = {name.split(".hook_sae")[0] for name in getattr(native, "acts_to_saes", None) or {}}
        for name, mod in named():
            if name and _is_dictionary(mod) and name not in seen:
                leaks.append(f"{type(mod).__name__} module attached at {name}")
    return leaks


def detach_saes(native: Any) -> None:
    """Remove what :func:`attached_saes` lists where the library can (``reset_saes``) and delete
    SAE / transcoder submodules set as attributes."""
    if getattr(native, "acts_to_saes", None) and hasattr(native, "reset_saes"):
        native.reset_saes()
    root = _torch_root(native)
    for name, mod in list(getattr(root, "named_modules", lambda: [])()):
        if name and _is_dictionary(mod):
            parent_name, _, attr = name.rpartition(".")
            parent = root.get_submodule(parent_name) if parent_name else root
            if attr in getattr(parent, "_modules", {}):
                del parent._modules[attr]
