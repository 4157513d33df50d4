"""Model names: what a name resolves to, and loading the Hugging Face model and tokenizer.

Names:

* ``zoo/<name>`` — a model shipped in ``fixtures/models/<name>`` (see ``python -m interpclaims.zoo``);
* a path to a local Hugging Face folder (``config.json`` + weights + tokenizer);
* a Hugging Face hub name. The hub is used only where it is reachable and allowed: interpclaims
  sets ``HF_HUB_OFFLINE=1`` unless the environment says otherwise, so a model not in the local
  cache fails fast with a message instead of stalling on the network.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interpclaims._data import fixtures_dir
from interpclaims._errors import ModelLoadError
from interpclaims._hashing import tokenizer_hash, weights_hash
from interpclaims.models._placement import Placement, hf_load_kwargs

__all__ = ["ZOO_PREFIX", "LoadedHF", "check_folder", "hub_hint", "load_hf", "resolve_model_path"]

ZOO_PREFIX = "zoo/"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")


def resolve_model_path(name: str) -> tuple[str, bool]:
    """``(source, is_local)``: a local folder for zoo names and paths, else the hub name."""
    __tracebackhide__ = True
    if not isinstance(name, str) or not name.strip():
        raise ModelLoadError(f"a model name must be a non-empty string (zoo/<name>, a local "
                             f"folder or a hub name), got {name!r}")
    if name.startswith(ZOO_PREFIX):
        zoo = fixtures_dir() / "models"
        path = zoo / name[len(ZOO_PREFIX):]
        if not (path / "config.json").is_file():
            have = (sorted(p.name for p in zoo.iterdir() if (p / "config.json").is_file())
                    if zoo.is_dir() else [])
            near = difflib.get_close_matches(name[len(ZOO_PREFIX):], have, n=1)
            raise ModelLoadError(
                f"no zoo model {name!r}: {path} has no config.json."
                + (f" Did you mean 'zoo/{near[0]}'?" if near else "")
                + f" Shipped zoo models: {', '.join('zoo/' + h for h in have) or 'none'}. Build "
                "them with `python -m interpclaims.zoo build`."
            )
        return str(path), True
    path = Path(name).expanduser()
    if path.exists():
        check_folder(path, name)
        return str(path.resolve()), True
    if _looks_like_path(name):
        raise ModelLoadError(_missing_folder(name, path))
    if not _HUB_NAME.match(name):
        raise ModelLoadError(
            f"{name!r} is not a zoo model (zoo/<name>), not an existing local folder, and not a "
            "valid Hugging Face hub name ('org/name': letters, digits, '-', '_', '.'); check the "
            "spelling"
        )
    return name, False


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is written as a path (a hub name is ``org/name``, nothing more)."""
    return (name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
            or name.endswith("/") or os.path.isabs(name))


def _missing_folder(name: str, path: Path) -> str:
    """Why the folder ``name`` was not found, with the nearest folder names that exist."""
    where = path if path.is_absolute() else Path.cwd() / path
    parent = where.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    near: list[str] = []
    if parent.is_dir():
        children = [p.name for p in parent.iterdir() if p.is_dir()]
        near = [str(parent / n) for n in difflib.get_close_matches(where.name, children, n=2)]
    return (
        f"no model folder {name!r}: {where} does not exist (relative paths start at the current "
        f"directory, {Path.cwd()})."
        + (f" Did you mean {', '.join(near)}?" if near else "")
        + " Give an existing folder with config.json, model.safetensors and tokenizer files; "
        "a hub name is written 'org/name'."
    )


def check_folder(path: Path, name: str) -> None:
    """Raise :class:`ModelLoadError` unless ``path`` is a Hugging Face model folder that
    interpclaims can load: config.json, safetensors weights and tokenizer files."""
    __tracebackhide__ = True
    if not path.is_dir():
        raise ModelLoadError(f"{name!r} is a file, not a model folder; give the folder that holds "
                             "config.json, model.safetensors and the tokenizer files")
    files = sorted(p.name for p in path.iterdir())
    if "config.json" not in files:
        raise ModelLoadError(
            f"{name!r} is a local path but has no config.json: a model folder needs the "
            f"Hugging Face layout (config.json, model.safetensors, tokenizer files); it holds "
            f"{files or 'nothing'}"
        )
    if not set(files) & set(WEIGHT_FILES):
        if any(f.startswith("pytorch_model") for f in files):
            raise ModelLoadError(
                f"{name!r} holds pytorch_model.bin weights but no model.safetensors: interpclaims "
                "reads (and hashes, to key its activation store) safetensors weights only. "
                "Convert once: AutoModelForCausalLM.from_pretrained(folder)"
                ".save_pretrained(folder, safe_serialization=True)"
            )
        raise ModelLoadError(f"{name!r} has no weights (model.safetensors); it holds {files}. "
                             "Save the model there with model.save_pretrained(folder)")
    if not set(files) & set(TOKENIZER_FILES):
        raise ModelLoadError(
            f"{name!r} has no tokenizer files (tokenizer.json, tokenizer.model or vocab.json); "
            f"it holds {files}. Save the tokenizer beside the model: "
            "tokenizer.save_pretrained(folder)"
        )


def hub_hint(name: str) -> str:
    """Why a hub name could not be loaded, and how to fix it."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return (
            f"{name!r} is neither a zoo model (zoo/<name>) nor a local folder, and the Hugging Face "
            "hub is offline (HF_HUB_OFFLINE=1), so it must already be in the local Hugging Face "
            "cache. Download it once where the hub is reachable (huggingface-cli download "
            f"{name}), point to a local folder, or set HF_HUB_OFFLINE=0 to allow downloads."
        )
    return f"could not download {name!r} from the Hugging Face hub (is it reachable?)"


@dataclass(frozen=True, slots=True)
class LoadedHF:
    """A Hugging Face model and tokenizer loaded from a name, with their content hashes."""

    source: str  # the local folder or the hub name
    hf_model: Any  # *ForCausalLM, eager attention, in the placement's dtype and devices
    tokenizer: Any
    weights_hash: str
    tokenizer_hash: str
    placement: Placement = field(default_factory=Placement)
    # module name -> device ("cpu", "disk", "cuda:0") as Accelerate placed it; None: one device
    device_map: dict[str, str] | None = None
    offload_folder: str | None = None  # where offloaded ("disk") weights are kept
    config: Any = None  # the Hugging Face config (set by load_hf)


def load_hf(name: str, placement: Placement | None = None, *, weights: bool = True) -> LoadedHF:
    """Load the model and tokenizer that ``name`` resolves to (eager attention; float32 on the
    CPU unless ``placement`` gives a dtype and a device map).

    Whatever fails inside transformers is re-raised as a :class:`ModelLoadError` that names the
    part (config, tokenizer, weights) and the folder, so the registry keeps it and does not load
    the model again for every test. ``weights=False`` (a plan) loads the config and the
    tokenizer only: ``hf_model`` is None."""
    __tracebackhide__ = True
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source, is_local = resolve_model_path(name)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from interpclaims.backends import model_spec

    def step(what: str, fix: str, load: Callable[[], Any]) -> Any:
        __tracebackhide__ = True
        try:
            return load()
        except ModelLoadError:
            raise
        except Exception as e:
            why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if is_local:
                raise ModelLoadError(f"could not load {what} of model {name!r} from {source} "
                                     f"({why}); {fix}") from e
            if type(e).__name__ == "HFValidationError":
                raise ModelLoadError(f"{name!r} is not a zoo model (zoo/<name>), an existing "
                                     f"local folder, or a valid hub name ({why})") from e
            raise ModelLoadError(hub_hint(name) + f" ({why})") from e

    resave = "re-save it with save_pretrained(folder), or copy it again"
    config = step("the config", f"config.json must be a Hugging Face model config; {resave}",
                  lambda: AutoConfig.from_pretrained(source))
    model_spec(config)  # an unsupported architecture fails before its weights load
    tokenizer = step("the tokenizer", f"the tokenizer files may be damaged; {resave}",
                     lambda: AutoTokenizer.from_pretrained(source))
    placement = placement or Placement()
    hashes = (weights_hash(source) if is_local else f"hub:{name}",
              tokenizer_hash(source) if is_local else f"hub:{name}")
    if not weights:  # a plan: the config and the tokenizer only
        return LoadedHF(source, None, tokenizer, *hashes, placement=placement, config=config)
    kwargs = hf_load_kwargs(placement, config, name)
    placed = f" with {placement.label()}" if not placement.is_default else ""
    try:
        hf_model = step(
            "the weights" + placed, f"model.safetensors may be damaged or truncated (an "
            f"interrupted copy or download); {resave}" + (
                f"; or Accelerate could not place it{placed}: check the device map"
                if placed else ""),
            lambda: AutoModelForCausalLM.from_pretrained(source, attn_implementation="eager",
                                                         **kwargs))
    except ModelLoadError:
        if "offload_folder" in kwargs:  # nothing will use it
            shutil.rmtree(kwargs["offload_folder"], ignore_errors=True)
        raise
    where = getattr(hf_model, "hf_device_map", None) if "device_map" in kwargs else None
    return LoadedHF(
        source, hf_model, tokenizer, *hashes, placement=placement, config=config,
        device_map=({k: f"cuda:{v}" if isinstance(v, int) else str(v) for k, v in where.items()}
                    if where else None),
        offload_folder=kwargs.get("offload_folder"),
    )
