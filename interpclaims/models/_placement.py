"""Where a model's weights live and in which dtype: ``ic.model(name, device_map=..., dtype=...)``.

A :class:`Placement` is checked where it is written (the marker), then turned into the keyword
arguments of Hugging Face's ``from_pretrained`` (Accelerate places the modules) once the model's
config is known, so that a module name the model does not have is refused before any weight loads.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interpclaims._errors import ModelLoadError

if TYPE_CHECKING:
    import torch

    from interpclaims.backends import Edit

__all__ = ["DTYPES", "Placement", "hf_load_kwargs", "make_placement", "placed_edits", "to_cpu"]

DTYPES = ("float32", "bfloat16", "float16")
_DEVICE = re.compile(r"^(cpu|disk|cuda(:\d+)?|mps|xpu(:\d+)?|npu(:\d+)?)$")
_DEVICES_HINT = ("'cpu', 'disk' (offloaded to a folder, loaded layer by layer), 'cuda:<i>' or "
                 "an integer GPU index")


@dataclass(frozen=True, slots=True)
class Placement:
    """``device_map``: ``None`` (one device, the CPU), ``"auto"`` (Accelerate fills the GPUs,
    then the CPU, then disk), or ``((module name, device), ...)`` sorted by module name;
    ``dtype``: the compute dtype, one of :data:`DTYPES`."""

    device_map: str | tuple[tuple[str, str], ...] | None = None
    dtype: str = "float32"

    @property
    def is_default(self) -> bool:
        return self.device_map is None and self.dtype == "float32"

    def label(self) -> str:
        """``""`` for the default placement, else e.g. ``"device_map=auto, dtype=bfloat16"``."""
        parts = []
        if isinstance(self.device_map, str):
            parts.append(f"device_map={self.device_map}")
        elif self.device_map is not None:
            parts.append("device_map={" + ", ".join(f"{k or '<model>'}: {v}"
                                                    for k, v in self.device_map) + "}")
        if self.dtype != "float32":
            parts.append(f"dtype={self.dtype}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        dm = self.device_map
        return {"device_map": dict(dm) if isinstance(dm, tuple) else dm, "dtype": self.dtype}


def _dtype_name(dtype: Any, where: str) -> str:
    __tracebackhide__ = True
    if dtype is None:
        return "float32"
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        near = difflib.get_close_matches(name, DTYPES, n=1)
        raise ModelLoadError(
            f"{where}: unknown dtype {dtype!r}"
            + (f" (did you mean {near[0]!r}?)" if near else "")
            + f"; use one of {', '.join(map(repr, DTYPES))} or the torch dtype itself")
    return name


def _device_name(module: str, device: Any, where: str) -> str:
    __tracebackhide__ = True
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return f"cuda:{device}"
    text = str(device).strip() if isinstance(device, str) else ""
    if not _DEVICE.match(text):
        extra = (" ('meta' would leave the weights uninitialized: use 'disk' to offload)"
                 if text == "meta" else "")
        raise ModelLoadError(
            f"{where}: device_map[{module!r}] = {device!r} is not a device{extra}; use "
            f"{_DEVICES_HINT}")
    return "cuda:0" if text == "cuda" else text


def make_placement(device_map: Any = None, dtype: Any = None, *, where: str = "ic.model()"
                   ) -> Placement:
    """Check ``device_map`` and ``dtype`` as written (module names are checked at load time,
    against the model: :func:`hf_load_kwargs`)."""
    __tracebackhide__ = True
    name = _dtype_name(dtype, where)
    if device_map is None or device_map == "auto":
        return Placement(device_map, name)
    if isinstance(device_map, str):
        raise ModelLoadError(
            f"{where}: device_map={device_map!r} is not supported; give 'auto' or a dict "
            "{module name: device} (e.g. {'model.embed_tokens': 'cpu', 'model.layers.0': 'cpu', "
            "'model.layers.1': 'disk', ...})")
    if not isinstance(device_map, Mapping) or not device_map:
        raise ModelLoadError(f"{where}: device_map must be 'auto' or a non-empty dict "
                             f"{{module name: device}}, got {device_map!r}")
    pairs = []
    for module, device in device_map.items():
        if not isinstance(module, str):
            raise ModelLoadError(f"{where}: device_map keys are module names (strings, '' for "
                                 f"the whole model), got {module!r}")
        pairs.append((module, _device_name(module, device, where)))
    return Placement(tuple(sorted(pairs)), name)


def _check_modules(pairs: tuple[tuple[str, str], ...], config: Any, name: str) -> None:
    """Every key names a module of the model and every parameter gets a device."""
    __tracebackhide__ = True
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        skeleton = AutoModelForCausalLM.from_config(config)
    modules = [n for n, _ in skeleton.named_modules()]
    for module, _ in pairs:
        if module not in modules:
            near = difflib.get_close_matches(module, modules, n=3, cutoff=0.5)
            raise ModelLoadError(
                f"model {name!r}: device_map names the module {module!r}, which the model does "
                "not have" + (f"; did you mean {', '.join(map(repr, near))}?" if near else "")
                + " Keys are module names of the Hugging Face model (print "
                "[n for n, _ in hf_model.named_modules()]), e.g. 'model.layers.0'.")
    keys = [k for k, _ in pairs]
    missing = [p for p, _ in skeleton.named_parameters()
               if not any(k == "" or p == k or p.startswith(k + ".") for k in keys)]
    if missing:
        raise ModelLoadError(
            f"model {name!r}: device_map gives no device to {len(missing)} parameter(s), e.g. "
            f"{missing[0]!r}; add their module (or a module above it) to the map")


def _check_available(devices: set[str], name: str) -> None:
    __tracebackhide__ = True
    import torch

    cuda = sorted(d for d in devices if d.startswith("cuda"))
    have = torch.cuda.device_count()
    bad = [d for d in cuda if int(d.split(":")[1]) >= have]
    if bad:
        raise ModelLoadError(
            f"model {name!r}: device_map places modules on {', '.join(bad)}, but this machine has "
            f"{have} CUDA device(s); use devices it has ('cpu', 'disk', "
            f"{', '.join(f'cuda:{i}' for i in range(have)) or 'no cuda:<i>'}) or device_map='auto'")


def hf_load_kwargs(placement: Placement, config: Any, name: str) -> dict[str, Any]:
    """The ``from_pretrained`` keywords of ``placement`` for the model ``name`` (its ``config``):
    ``dtype``, and with a device map ``device_map`` and an ``offload_folder`` (a new temporary
    folder, under ``INTERPCLAIMS_OFFLOAD_DIR`` when set)."""
    __tracebackhide__ = True
    out: dict[str, Any] = {"dtype": placement.dtype}
    dm = placement.device_map
    if dm is None:
        return out
    if isinstance(dm, tuple):
        _check_modules(dm, config, name)
        _check_available({d for _, d in dm}, name)
        out["device_map"] = dict(dm)
    else:
        out["device_map"] = dm
    out["offload_folder"] = tempfile.mkdtemp(prefix="interpclaims-offload-",
                                             dir=os.environ.get("INTERPCLAIMS_OFFLOAD_DIR"))
    return out


def to_cpu(t: torch.Tensor) -> torch.Tensor:
    """An activation or logits read on any device, in any dtype, as CPU float32 (what analyses
    and statistics compute with; they widen to float64 themselves)."""
    import torch

    return t.detach().to("cpu", torch.float32)


def placed_edits(edits: Mapping[Any, Edit]) -> dict[Any, Edit]:
    """``edits`` applied to the CPU float32 copy of the activation they edit, their result
    returned to the activation's own device and dtype: an edit's tensors (a mean, a donor
    activation, positions) are built from CPU reads, whatever device the layer runs on."""

    def placed(fn: Edit) -> Edit:
        def edit(act: torch.Tensor, rows: slice) -> torch.Tensor:
            import torch

            if act.device.type == "cpu" and act.dtype == torch.float32:
                return fn(act, rows)
            return fn(to_cpu(act), rows).to(act.device, act.dtype)

        return edit

    return {site: placed(fn) for site, fn in edits.items()}
