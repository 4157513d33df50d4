"""Model names: what a name resolves to, and loading the Hugging Face model and tokenizer.

Names:

* ``zoo/<name>`` — a model shipped in ``fixtures/models/<name>`` (see ``python -m interpclaims.zoo``);
* a path to a local Hugging Face folder (``config.json`` + weights + tokenizer);
* a Hugging Face hub name. The hub is used only where it is reachable and allowed: interpclaims
  sets ``HF_HUB_OFFLINE=1`` unless the environment says otherwise, so a model not in the local
  cache fails fast with a message instead of stalling on the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpclaims._data import fixtures_dir
from interpclaims._errors import ModelLoadError
from interpclaims._hashing import tokenizer_hash, weights_hash

__all__ = ["ZOO_PREFIX", "LoadedHF", "hub_hint", "load_hf", "resolve_model_path"]

ZOO_PREFIX = "zoo/"


def resolve_model_path(name: str) -> tuple[str, bool]:
    """``(source, is_local)``: a local folder for zoo names and paths, else the hub name."""
    if name.startswith(ZOO_PREFIX):
        zoo = fixtures_dir() / "models"
        path = zoo / name[len(ZOO_PREFIX):]
        if not (path / "config.json").is_file():
            have = (sorted(p.name for p in zoo.iterdir() if (p / "config.json").is_file())
                    if zoo.is_dir() else [])
            raise ModelLoadError(
                f"no zoo model {name!r}: {path} has no config.json. Shipped zoo models: "
                f"{', '.join('zoo/' + h for h in have) or 'none'}. Build them with "
                "`python -m interpclaims.zoo build`."
            )
        return str(path), True
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{name!r} is a local path but has no config.json: a model folder needs the "
                "Hugging Face layout (config.json, model.safetensors, tokenizer files)"
            )
        return str(path.resolve()), True
    return name, False


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
    hf_model: Any  # *ForCausalLM, float32, eager attention
    tokenizer: Any
    weights_hash: str
    tokenizer_hash: str


def load_hf(name: str) -> LoadedHF:
    """Load the model and tokenizer that ``name`` resolves to (float32, eager attention)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source, is_local = resolve_model_path(name)
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
        hf_model = AutoModelForCausalLM.from_pretrained(
            source, attn_implementation="eager", dtype="float32"
        )
    except OSError as e:
        if is_local:
            raise ModelLoadError(f"could not load model {name!r} from {source}: {e}") from e
        raise ModelLoadError(hub_hint(name)) from e
    return LoadedHF(
        source=source, hf_model=hf_model, tokenizer=tokenizer,
        weights_hash=weights_hash(source) if is_local else f"hub:{name}",
        tokenizer_hash=tokenizer_hash(source) if is_local else f"hub:{name}",
    )
