"""Seeds, shipped model names and dataset files of the zoo (stdlib only)."""

from __future__ import annotations

#: Seed of the shipped models (weight init and training-data stream).
DEFAULT_SEED = 0
#: Seed of the held-out evaluation datasets in ``fixtures/data``.
DEFAULT_DATA_SEED = 1
#: Shipped models (folder names under ``fixtures/models``) and their architecture.
MODEL_ARCHS: dict[str, str] = {"agreement": "llama", "agreement-gpt2": "gpt2"}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_ARCHS)
#: Evaluation datasets under ``fixtures/data`` (listed with their hashes in MANIFEST.json).
DATASET_FILES: tuple[str, ...] = ("repeated_tokens.jsonl", "agreement.jsonl", "random_tokens.jsonl")
