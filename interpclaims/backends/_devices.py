"""Models spread over several devices by Hugging Face Accelerate (a ``device_map``).

The Hugging Face model arrives already placed (``from_pretrained(..., device_map=...)``). NNsight
wraps it as it is; TransformerLens converts its weights (read through the CPU) into a
HookedTransformer that Accelerate's ``dispatch_model`` then places the same way, module for
module: TransformerLens 3.2.1's own ``n_devices`` puts a HookedTransformer on one device only
(its ``move_model_modules_to_device`` moves every block to the same "best" device), and its
multi-device bridge accepts GPUs only (no "cpu" or "disk" entries).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from interpclaims._errors import ModelLoadError
from interpclaims.backends._arch import Arch

__all__ = ["dispatch", "input_device", "offloaded_on_cpu", "on_cpu", "tl_device_map"]


@contextlib.contextmanager
def offloaded_on_cpu(root: Any) -> Iterator[None]:
    """Inside the block, the weights of ``root``'s submodules that Accelerate offloaded (to the
    CPU or disk; ``meta`` tensors in the module) are real tensors on the CPU."""
    if not any(hasattr(m, "_hf_hook") for m in root.modules()):
        yield
        return
    from accelerate.utils import align_module_device, has_offloaded_params

    with contextlib.ExitStack() as stack:
        for m in root.modules():
            if has_offloaded_params(m):
                stack.enter_context(align_module_device(m, torch.device("cpu")))
        yield


def on_cpu(t: torch.Tensor) -> torch.Tensor:
    """``t`` detached, on the CPU in float32 (itself when it is already there)."""
    return t.detach().to("cpu", torch.float32)


def input_device(module: Any) -> torch.device:
    """Where the inputs of ``module`` (the token embedding) must be: the device it computes on."""
    hook = getattr(module, "_hf_hook", None)
    device = getattr(hook, "execution_device", None)
    if device is not None:
        return torch.device(f"cuda:{device}" if isinstance(device, int) else device)
    for p in module.parameters():
        return p.device if p.device.type != "meta" else torch.device("cpu")
    return torch.device("cpu")


def _tl_parts(hf_model: Any, a: Arch, n_layers: int) -> dict[str, str]:
    """TransformerLens module name -> the Hugging Face module holding the same weights."""
    names = {id(m): n for n, m in hf_model.named_modules()}
    parts = {"embed": names[id(hf_model.get_input_embeddings())]}
    wpe = getattr(getattr(hf_model, "transformer", None), "wpe", None)  # GPT-2's positions
    if wpe is not None:
        parts["pos_embed"] = names[id(wpe)]
    parts.update({f"blocks.{i}": f"{a.layers}.{i}" for i in range(n_layers)})
    parts.update({"ln_final": a.final_norm, "unembed": a.unembed})
    return parts


def tl_device_map(hf_model: Any, hf_map: Mapping[str, str], a: Arch, n_layers: int
                  ) -> dict[str, str]:
    """The device map of the HookedTransformer that mirrors ``hf_map`` (the Hugging Face model's
    placed map): each TransformerLens part goes where its Hugging Face module went.

    A map finer than whole layers (``model.layers.0.mlp`` on another device than its attention)
    has no TransformerLens counterpart here: an error says so."""
    __tracebackhide__ = True
    out: dict[str, str] = {}
    for tl_name, hf_name in _tl_parts(hf_model, a, n_layers).items():
        finer = [k for k in hf_map if k.startswith(hf_name + ".")]
        if finer:
            raise ModelLoadError(
                f"device_map splits {hf_name!r} ({finer[0]!r} has its own device): the "
                "TransformerLens backend places whole layers, embeddings, the final norm and the "
                f"unembedding only; give {hf_name!r} one device, or run this model with "
                "backends=['nnsight']")
        owners = [k for k in hf_map if k == "" or hf_name == k or hf_name.startswith(k + ".")]
        out[tl_name] = hf_map[max(owners, key=len)]
    for name in ("embed", "pos_embed"):
        if name in out:
            out[f"hook_{name}"] = out[name]
    return out


def dispatch(model: Any, device_map: dict[str, str], offload_folder: str | None) -> Any:
    """Place ``model``'s modules as ``device_map`` says (Accelerate's ``dispatch_model``),
    offloading "disk" entries to ``offload_folder``."""
    from accelerate import dispatch_model

    folder = None
    if "disk" in device_map.values():
        folder = os.path.join(offload_folder or tempfile.mkdtemp(prefix="interpclaims-offload-"),
                              "transformer_lens")
        os.makedirs(folder, exist_ok=True)
    first = device_map.get("embed", "cpu")
    main = first if first != "disk" else next(
        (d for d in device_map.values() if d != "disk"), "cpu")
    return dispatch_model(model, device_map=device_map, main_device=main, offload_dir=folder)
