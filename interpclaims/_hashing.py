"""Content hashes of shipped fixtures (stdlib only: importable without torch)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["data_hash", "file_sha256", "tokenizer_hash", "weights_hash"]

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes.

    Args:
        path: the file to hash.

    Returns:
        The full 64-character lowercase hex digest.
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def weights_hash(model_dir: str | Path) -> str:
    """SHA-256 of ``model.safetensors`` in a Hugging Face model folder (of a sharded model: over
    the shards named by ``model.safetensors.index.json``).

    Args:
        model_dir: the model folder (or the ``.safetensors`` file itself).

    Returns:
        The full hex digest.

    Raises:
        FileNotFoundError: when the folder holds no ``model.safetensors`` (nor an index).
    """
    p = Path(model_dir)
    if p.is_dir():
        index = p / "model.safetensors.index.json"
        if not (p / "model.safetensors").is_file() and index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            h = hashlib.sha256()
            for shard in shards:
                h.update(shard.encode() + b"\0" + file_sha256(p / shard).encode())
            return h.hexdigest()
        p = p / "model.safetensors"
    if not p.is_file():
        raise FileNotFoundError(f"no model.safetensors at {p}")
    return file_sha256(p)


def data_hash(path: str | Path) -> str:
    """SHA-256 of a dataset file's bytes (e.g. a JSONL file).

    Args:
        path: the dataset file.

    Returns:
        The full hex digest.
    """
    return file_sha256(path)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.json", "merges.txt", "tokenizer.model")


def tokenizer_hash(model_dir: str | Path) -> str:
    """SHA-256 over the tokenizer files present in a Hugging Face model folder."""
    h = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = Path(model_dir) / name
        if path.is_file():
            h.update(name.encode() + b"\0" + file_sha256(path).encode())
    return h.hexdigest()
