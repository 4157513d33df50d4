"""Hashes of shipped zoo fixtures, as found on disk and as recorded at build time.

Stdlib only: ``python -m interpclaims.zoo hash`` runs without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from interpclaims._hashing import data_hash, file_sha256, weights_hash
from interpclaims.zoo.constants import DATASET_FILES, MODEL_NAMES

__all__ = ["COMPANIONS", "recorded_hashes", "shipped_hashes"]

#: Companion folders inside a model folder (SAE in SAELens's format, transcoders in
#: circuit-tracer's); each records the hashes of its weight files in ``card.json``.
COMPANIONS = ("sae", "transcoders")


def shipped_hashes(out: Path) -> dict[str, str]:
    """SHA-256 of each dataset file and ``model.safetensors`` present under ``out``.

    Args:
        out: the fixtures folder.

    Returns:
        ``{"data/<file>": sha256, "models/<name>": sha256}`` for what exists.
    """
    hashes: dict[str, str] = {}
    for fname in DATASET_FILES:
        p = out / "data" / fname
        if p.exists():
            hashes[f"data/{fname}"] = data_hash(p)
    for name in MODEL_NAMES:
        d = out / "models" / name
        if (d / "model.safetensors").exists():
            hashes[f"models/{name}"] = weights_hash(d)
        for kind in COMPANIONS:
            for f in sorted((d / kind).glob("*.safetensors")):
                hashes[f"models/{name}/{kind}/{f.name}"] = file_sha256(f)
    return hashes


def recorded_hashes(out: Path) -> dict[str, str]:
    """Hashes recorded at build time in ``data/MANIFEST.json`` and each ``facts.json``.

    Args:
        out: the fixtures folder.

    Returns:
        Same keys as :func:`shipped_hashes`, for what was recorded.
    """
    recorded: dict[str, str] = {}
    manifest = out / "data" / "MANIFEST.json"
    if manifest.exists():
        for fname, entry in json.loads(manifest.read_text(encoding="utf-8"))["files"].items():
            recorded[f"data/{fname}"] = entry["sha256"]
    for name in MODEL_NAMES:
        facts = out / "models" / name / "facts.json"
        if facts.exists():
            data = json.loads(facts.read_text(encoding="utf-8"))
            recorded[f"models/{name}"] = data["weights_sha256"]
        for kind in COMPANIONS:
            card = out / "models" / name / kind / "card.json"
            if card.exists():
                files = json.loads(card.read_text(encoding="utf-8"))["files"]
                recorded.update({f"models/{name}/{kind}/{f}": h for f, h in files.items()})
    return recorded
