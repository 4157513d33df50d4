"""Build the zoo: evaluation datasets, trained models, model cards and facts.

Imported only by ``python -m interpclaims.zoo build`` (it imports torch).
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interpclaims._hashing import data_hash, weights_hash
from interpclaims.zoo.card import write_card_and_facts
from interpclaims.zoo.constants import DATASET_FILES, DEFAULT_DATA_SEED
from interpclaims.zoo.data import write_eval_datasets
from interpclaims.zoo.measure import measure_model
from interpclaims.zoo.train import (
    ARCHS,
    DEFAULT_SEED,
    RECIPES,
    Recipe,
    save_model,
    train_model,
)

__all__ = ["build", "build_model", "refresh_facts"]


def build_model(
    name: str,
    out: Path,
    seed: int = DEFAULT_SEED,
    data_seed: int = DEFAULT_DATA_SEED,
    steps: int | None = None,
    log_every: int = 500,
) -> dict[str, Any]:
    """Train ``name``, write its folder under ``out/models``, measure it, write card + facts.

    Args:
        name: a key of :data:`~interpclaims.zoo.train.ARCHS` ("agreement", "agreement-gpt2").
        out: the fixtures folder (holds ``data/`` with the eval datasets).
        seed: training seed.
        data_seed: seed the eval datasets were generated with (recorded in the facts).
        steps: override the recipe's number of steps.
        log_every: print the training loss every this many steps (0: silent).

    Returns:
        The facts dict (also written to ``facts.json``).
    """
    import numpy
    import torch
    import transformers

    recipe: Recipe = RECIPES[name]
    result = train_model(name, seed=seed, steps=steps, recipe=recipe, log_every=log_every)
    model_dir = out / "models" / name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    digest = save_model(result, model_dir)
    if digest != result.weights_sha256:  # pragma: no cover - save_pretrained is deterministic
        raise RuntimeError(f"{name}: written weights differ from the trained ones")
    data_dir = out / "data"
    measured = measure_model(model_dir, data_dir)
    facts: dict[str, Any] = {
        "model": name,
        "architecture": type(result.model).__name__,
        "weights_sha256": digest,
        "weights_bytes": (model_dir / "model.safetensors").stat().st_size,
        "n_parameters": sum(p.numel() for p in result.model.parameters()),
        "seed": seed,
        "data_seed": data_seed,
        "train_steps": result.recipe.steps,
        "train_seconds": round(result.seconds, 1),
        "recipe": asdict(result.recipe),
        "datasets": {f: data_hash(data_dir / f) for f in DATASET_FILES},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": numpy.__version__,
            "python": platform.python_version(),
        },
        **measured,
    }
    write_card_and_facts(model_dir, facts)
    return facts


def build(
    out: Path,
    seed: int = DEFAULT_SEED,
    data_seed: int = DEFAULT_DATA_SEED,
    only: str | None = None,
    steps: int | None = None,
    log_every: int = 500,
) -> dict[str, str]:
    """Build the datasets and/or models into ``out`` and print their hashes.

    Args:
        out: the fixtures folder (``data/`` and ``models/`` are written under it).
        seed: training seed of the models.
        data_seed: seed of the evaluation datasets.
        only: "data" or one model name; None builds everything.
        steps: override the number of training steps (for quick experiments).
        log_every: training-loss print interval (0: silent).

    Returns:
        ``{name: sha256}`` for every dataset file and model built.
    """
    hashes: dict[str, str] = {}
    data_dir = out / "data"
    if only in (None, "data") or not (data_dir / "MANIFEST.json").exists():
        manifest = write_eval_datasets(data_dir, data_seed)
        for fname, entry in manifest["files"].items():
            hashes[f"data/{fname}"] = entry["sha256"]
            print(f"data/{fname}: sha256 {entry['sha256']} ({entry['rows']} rows)", flush=True)
    names = [n for n in ARCHS if only in (None, n)]
    for name in names:
        print(f"training {name} (seed {seed}) ...", flush=True)
        facts = build_model(name, out, seed, data_seed, steps, log_every)
        hashes[f"models/{name}"] = facts["weights_sha256"]
        m = facts["metrics"]
        print(
            f"models/{name}: weights sha256 {facts['weights_sha256']}  "
            f"({facts['train_steps']} steps, {facts['train_seconds']:.1f}s)\n"
            f"  repeated loss {m['repeated_loss_repeated']:.3f} vs first occurrence "
            f"{m['repeated_loss_first_occurrence']:.3f}; agreement acc "
            f"{m['agreement_accuracy']:.3f} (distractor differs "
            f"{m['agreement_accuracy_distractor_differs']:.3f}); category acc "
            f"{m['category_accuracy']:.3f}\n"
            f"  induction heads {facts['induction_heads']}, previous-token heads "
            f"{facts['previous_token_heads']}",
            flush=True,
        )
    if only in (None, "agreement") and steps is None:
        from interpclaims.zoo.companions import build_companions

        print("training the companions of agreement ...", flush=True)
        for key, digest in build_companions(out).items():
            hashes[key] = digest
            print(f"{key}: sha256 {digest}", flush=True)
    return hashes


def refresh_facts(out: Path, only: str | None = None) -> None:
    """Re-measure shipped models and rewrite their ``facts.json`` and ``MODEL_CARD.md``.

    The weights are not touched; the training record (seed, steps, wall time, recipe) is kept
    from the existing ``facts.json``. Use after changing a measurement, not the training.

    Args:
        out: the fixtures folder.
        only: one model name, or None for all.
    """
    import json

    data_dir = out / "data"
    for name in ARCHS:
        if only not in (None, name):
            continue
        model_dir = out / "models" / name
        facts = json.loads((model_dir / "facts.json").read_text(encoding="utf-8"))
        if weights_hash(model_dir) != facts["weights_sha256"]:
            raise RuntimeError(f"{name}: model.safetensors does not match facts.json; rebuild")
        facts.update(measure_model(model_dir, data_dir))
        facts["datasets"] = {f: data_hash(data_dir / f) for f in DATASET_FILES}
        write_card_and_facts(model_dir, facts)
        print(f"models/{name}: facts refreshed; induction heads {facts['induction_heads']}, "
              f"previous-token heads {facts['previous_token_heads']}", flush=True)
