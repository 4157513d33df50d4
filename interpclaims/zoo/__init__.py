"""The model zoo: tiny transformers with known mechanisms, built deterministically.

``python -m interpclaims.zoo build`` generates the synthetic data, trains

* ``agreement`` -- a 2-layer ``LlamaForCausalLM`` (d_model 64, 4 heads, RoPE), and
* ``agreement-gpt2`` -- a 2-layer ``GPT2LMHeadModel`` of the same size,

both on a 50/50 mix of repeated random-token sequences (-> previous-token + induction heads)
and a toy grammar with subject-verb number agreement across distractor nouns, and writes them
with the held-out evaluation datasets, model cards and ``facts.json`` into ``fixtures/``.
``python -m interpclaims.zoo hash`` prints the hashes of what is shipped.

Importing this package does not import torch; the heavy modules (``train``, ``measure``,
``build``) are loaded only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interpclaims.zoo.constants import (
    DATASET_FILES,
    DEFAULT_DATA_SEED,
    DEFAULT_SEED,
    MODEL_ARCHS,
    MODEL_NAMES,
)

if TYPE_CHECKING:
    from interpclaims.zoo.train import TrainResult

__all__ = [
    "DATASET_FILES",
    "DEFAULT_DATA_SEED",
    "DEFAULT_SEED",
    "MODEL_ARCHS",
    "MODEL_NAMES",
    "train_model",
]

def train_model(arch: str, seed: int = DEFAULT_SEED, steps: int | None = None,
                **kwargs: Any) -> TrainResult:
    """Train a zoo model deterministically; see :func:`interpclaims.zoo.train.train_model`.

    ``train_model("llama", seed=0, steps=20).weights_sha256`` is identical across calls on
    one machine (a few seconds; meant for a determinism unit test). Imports torch lazily.
    """
    from interpclaims.zoo.train import train_model as _train_model

    return _train_model(arch, seed=seed, steps=steps, **kwargs)
