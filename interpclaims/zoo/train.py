"""Deterministic CPU training of the zoo models.

Everything that could vary between runs is pinned: ``torch.manual_seed`` before the model is
initialised, a seeded :class:`numpy.random.Generator` for the data stream, one CPU thread and
``torch.use_deterministic_algorithms(True)``. On the same machine and library versions two
runs with the same arguments give bit-identical weights (hence the same ``model.safetensors``
hash). Different CPUs or torch versions may round differently.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interpclaims.zoo.data import MAX_LEN, training_batch
from interpclaims.zoo.tokenizer import MAX_POSITIONS
from interpclaims.zoo.vocab import BOS, EOS, PAD, token_to_id, vocabulary

os.environ.setdefault("HF_HUB_OFFLINE", "1")

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

__all__ = [
    "ARCHS",
    "DEFAULT_RECIPE",
    "DEFAULT_SEED",
    "RECIPES",
    "Recipe",
    "TrainResult",
    "make_config",
    "make_model",
    "pin_determinism",
    "save_model",
    "state_dict_sha256",
    "train_model",
]

from interpclaims.zoo.constants import DEFAULT_SEED, MODEL_ARCHS

#: Architectures, keyed by the name of the model folder under ``fixtures/models``.
ARCHS: dict[str, str] = dict(MODEL_ARCHS)


@dataclass(frozen=True)
class Recipe:
    """Optimisation hyper-parameters (AdamW, linear warm-up then cosine decay)."""

    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    #: GPT-2 only: initialise the learned position embeddings with a scaled sinusoid
    #: (0 keeps the default random init). Makes the layer-0 previous-token head learnable.
    sinusoidal_positions: float = 0.0
    #: GPT-2 only: keep the position embeddings at their initial values (not trained).
    freeze_positions: bool = False

    def lr_at(self, step: int) -> float:
        """Learning rate at 0-based ``step``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)


DEFAULT_RECIPE = Recipe()
#: The recipe of each shipped model.
#:
#: Notes from tuning (seed 0, same data): the Llama model (RoPE) reaches the loss floor of the
#: mix early (about 1.3 by step 250) and ends with a previous-token head in layer 0 and
#: induction heads in layer 1. The GPT-2 twin (learned absolute positions) lowers the
#: repeated-token loss less, with a non-canonical mechanism (sharp, content-dependent
#: attention), and formed no head above 0.3 on either score in any variant tried:
#: 3000/4000/5000 steps, lr 1e-3/3e-3/6e-3, batch 32 x 7000 steps, sinusoidal position init
#: (scale 0.05/0.2, trained) and frozen sinusoidal positions (scale 0.05/0.15/0.25/0.4).
#: It is therefore shipped with the same plain recipe as the Llama model and documented as
#: a negative control for induction claims (it passes the agreement task).
RECIPES: dict[str, Recipe] = {"agreement": DEFAULT_RECIPE, "agreement-gpt2": DEFAULT_RECIPE}


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes:
        model: the trained model (eval mode, float32, CPU).
        arch: "llama" or "gpt2".
        seed: the seed used.
        recipe: the hyper-parameters used.
        seconds: wall time of the optimisation loop.
        weights_sha256: SHA-256 of the ``model.safetensors`` that ``save_pretrained`` writes.
        losses: training loss at every logged step, ``[(step, loss), ...]``.
    """

    model: PreTrainedModel
    arch: str
    seed: int
    recipe: Recipe
    seconds: float
    weights_sha256: str
    losses: list[tuple[int, float]] = field(default_factory=list)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The trained weights, ``{name: tensor}``."""
        return self.model.state_dict()


def pin_determinism(seed: int, threads: int = 1) -> None:
    """Seed torch and make CPU kernels deterministic and single-threaded.

    Args:
        seed: passed to ``torch.manual_seed``.
        threads: intra-op threads (1 for reproducible reductions).
    """
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)


def make_config(arch: str) -> PretrainedConfig:
    """The model config of ``arch`` ("llama" or "gpt2"): 2 layers, d_model 64, 4 heads.

    Raises:
        ValueError: for an unknown ``arch``.
    """
    from transformers import GPT2Config, LlamaConfig

    ids = token_to_id()
    common: dict[str, Any] = {
        "vocab_size": len(vocabulary()),
        "bos_token_id": ids[BOS],
        "eos_token_id": ids[EOS],
        "pad_token_id": ids[PAD],
        "torch_dtype": "float32",
        "attn_implementation": "eager",
    }
    if arch == "llama":
        return LlamaConfig(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=MAX_POSITIONS,
            rope_theta=10000.0,
            rms_norm_eps=1e-5,
            hidden_act="silu",
            initializer_range=0.02,
            attention_dropout=0.0,
            tie_word_embeddings=False,
            use_cache=True,
            **common,
        )
    if arch == "gpt2":
        return GPT2Config(
            n_positions=MAX_POSITIONS,
            n_ctx=MAX_POSITIONS,
            n_embd=64,
            n_layer=2,
            n_head=4,
            n_inner=256,
            activation_function="gelu_new",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            initializer_range=0.02,
            use_cache=True,
            **common,
        )
    raise ValueError(f"unknown zoo architecture {arch!r}; expected 'llama' or 'gpt2'")


def sinusoid(n_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The transformer sinusoidal position table, shape ``[n_positions, dim]``.

    Row norm is ``sqrt(dim / 2)``; columns ``2k`` hold sines and ``2k+1`` cosines.
    """
    import torch

    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]  # [P, 1]
    freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # [D/2]
    table = torch.zeros(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.to(torch.float32)


def make_model(arch: str, seed: int, sinusoidal_positions: float = 0.0) -> PreTrainedModel:
    """A freshly initialised model of ``arch``, its weights drawn after ``manual_seed(seed)``.

    Args:
        arch: "llama" or "gpt2".
        seed: torch seed of the initialisation.
        sinusoidal_positions: GPT-2 only; when > 0 the position embedding ``wpe`` starts as
            this times the sinusoidal table (it is still trained).
    """
    import torch
    from transformers import GPT2LMHeadModel, LlamaForCausalLM

    config = make_config(arch)
    torch.manual_seed(seed)
    model_cls = LlamaForCausalLM if arch == "llama" else GPT2LMHeadModel
    model = model_cls(config)
    if arch == "gpt2" and sinusoidal_positions > 0:
        with torch.no_grad():
            wpe = _gpt2_position_embedding(model).weight  # [n_positions, n_embd]
            wpe.copy_(sinusoidal_positions * sinusoid(int(wpe.shape[0]), int(wpe.shape[1])))
    return model.float()


def _gpt2_position_embedding(model: PreTrainedModel) -> torch.nn.Embedding:
    """The learned position embedding ``transformer.wpe`` of a ``GPT2LMHeadModel``."""
    import torch

    wpe = model.get_submodule("transformer.wpe")
    assert isinstance(wpe, torch.nn.Embedding)
    return wpe


def state_dict_sha256(model: PreTrainedModel) -> str:
    """SHA-256 of the ``model.safetensors`` that ``model.save_pretrained`` would write."""
    from interpclaims._hashing import weights_hash

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        return weights_hash(tmp)


def train_model(
    arch: str,
    seed: int = DEFAULT_SEED,
    steps: int | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
    log_every: int = 0,
    threads: int = 1,
) -> TrainResult:
    """Train a zoo model from scratch on the 50/50 repeated-tokens / agreement mix.

    Deterministic: same arguments, same machine -> same :attr:`TrainResult.weights_sha256`.
    ``train_model("llama", seed=0, steps=20)`` takes a few seconds and is meant for tests.

    Args:
        arch: "llama" or "gpt2" (or a model name from :data:`ARCHS`).
        seed: seeds the weight init and the data stream.
        steps: overrides ``recipe.steps`` (the schedule is stretched to it).
        recipe: optimisation hyper-parameters.
        log_every: print the training loss every this many steps (0: silent).
        threads: torch intra-op threads (keep 1 for reproducibility).

    Returns:
        A :class:`TrainResult`.
    """
    import torch

    arch = ARCHS.get(arch, arch)
    if steps is not None:
        recipe = Recipe(**{**recipe.__dict__, "steps": steps})
    # leave the caller's global torch state (RNG, determinism flag, threads) as it was
    prev_deterministic = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            pin_determinism(seed, threads)
            return _train(arch, seed, recipe, log_every)
    finally:
        torch.use_deterministic_algorithms(prev_deterministic)
        torch.set_num_threads(prev_threads)


def _train(arch: str, seed: int, recipe: Recipe, log_every: int) -> TrainResult:
    """The optimisation loop of :func:`train_model` (torch state already pinned)."""
    import torch

    model = make_model(arch, seed, recipe.sinusoidal_positions)
    model.train()
    if arch == "gpt2" and recipe.freeze_positions:
        _gpt2_position_embedding(model).weight.requires_grad_(False)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if p.ndim >= 2]
    no_decay = [p for n, p in trainable if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.lr,
        betas=recipe.betas,
        foreach=False,
    )
    rng = np.random.default_rng(seed)
    losses: list[tuple[int, float]] = []
    start = time.perf_counter()
    for step in range(recipe.steps):
        for group in opt.param_groups:
            group["lr"] = recipe.lr_at(step)
        input_ids, labels = training_batch(rng, recipe.batch_size, MAX_LEN)
        labels_t = torch.from_numpy(labels)
        out = model(
            input_ids=torch.from_numpy(input_ids),
            attention_mask=(labels_t != -100).long(),
            labels=labels_t,
        )
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        opt.step()
        if log_every and (step % log_every == 0 or step == recipe.steps - 1):
            loss = float(out.loss.detach())
            losses.append((step, loss))
            print(f"  [{arch}] step {step:5d}  loss {loss:.4f}  {time.perf_counter() - start:6.1f}s",
                  flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(
        model=model,
        arch=arch,
        seed=seed,
        recipe=recipe,
        seconds=seconds,
        weights_sha256=state_dict_sha256(model),
        losses=losses,
    )


def save_model(result: TrainResult, out_dir: Path) -> str:
    """Write the model folder (config, weights, generation config, tokenizer).

    Args:
        result: a trained model.
        out_dir: e.g. ``fixtures/models/agreement`` (created; existing files overwritten).

    Returns:
        The SHA-256 of the written ``model.safetensors``.
    """
    import json

    from interpclaims._hashing import weights_hash
    from interpclaims.zoo.tokenizer import save_tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(str(out_dir), safe_serialization=True)
    # transformers does not serialise the attention implementation; record it for readers
    # (loading still needs ``attn_implementation="eager"`` for ``output_attentions``).
    cfg_path = out_dir / "config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["attn_implementation"] = "eager"
    cfg.setdefault("torch_dtype", "float32")  # the key older transformers versions read
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    save_tokenizer(out_dir)
    for path in out_dir.iterdir():
        path.chmod(0o644)  # safetensors writes 0600
    return weights_hash(out_dir)
