"""Companions of zoo/agreement: an SAE (SAELens format) and per-layer transcoders
(circuit-tracer format), trained deterministically on the model's own activations.

* ``fixtures/models/agreement/sae/`` -- a ReLU SAE at ``blocks.0.hook_resid_post``:
  ``cfg.json`` + ``sae_weights.safetensors`` (``sae_lens.SAE.load_from_disk`` reads it;
  architecture "standard": ``f = relu((x - b_dec) @ W_enc + b_enc)``, ``x̂ = f @ W_dec + b_dec``).
* ``fixtures/models/agreement/transcoders/`` -- one ReLU transcoder per layer, from the MLP input
  (after the post-attention RMSNorm, circuit-tracer's ``mlp.hook_in``) to the MLP output
  (``mlp.hook_out``): ``config.yaml`` + ``layer_{i}.safetensors`` (``W_enc [d_tc, d_model]``,
  ``W_dec [d_tc, d_model]``, ``b_enc``, ``b_dec``), read by circuit-tracer's ``load_transcoders``.

Training data: activations of the shipped model on :func:`~interpclaims.zoo.data.training_batch`
rows (the model's own training mix), real tokens only (no ``<bos>``, no pads). One CPU thread,
``torch.use_deterministic_algorithms``, fixed seeds: a rebuild writes identical bytes.
Imported only by ``python -m interpclaims.zoo build`` (it imports torch).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interpclaims._hashing import file_sha256
from interpclaims.zoo.data import MAX_LEN, training_batch
from interpclaims.zoo.vocab import BOS, PAD, token_to_id

if TYPE_CHECKING:
    import torch

__all__ = [
    "COMPANION_SEED",
    "SAE_HOOK",
    "DictRecipe",
    "collect_activations",
    "companion_dirs",
    "train_dictionary",
    "write_sae",
    "write_sae_cfg",
    "write_transcoders",
]

#: Seed of the companions (activation stream and initialisation).
COMPANION_SEED = 0
#: The SAELens version whose ``cfg.json`` layout the SAE follows (>= 6.0: ``metadata``).
SAELENS_FORMAT_VERSION = "6.54.12"
#: The site of the shipped SAE (TransformerLens hook name).
SAE_HOOK = "blocks.0.hook_resid_post"


@dataclass(frozen=True)
class DictRecipe:
    """Hyper-parameters of one sparse dictionary (SAE or transcoder)."""

    width: int = 256
    steps: int = 2000
    batch_tokens: int = 512
    lr: float = 1e-3
    #: L1 penalty on ``f_i * ||W_dec_i||``, relative to the target's mean squared norm.
    l1: float = 0.1


SAE_RECIPE = DictRecipe(l1=0.1)
TRANSCODER_RECIPE = DictRecipe(width=512, l1=0.1)


def companion_dirs(model_dir: Path) -> dict[str, Path]:
    """``{"sae": ..., "transcoders": ...}``: where the companions of a model folder live."""
    return {"sae": model_dir / "sae", "transcoders": model_dir / "transcoders"}


def collect_activations(model: Any, n_batches: int, seed: int, n_layers: int
                        ) -> dict[str, torch.Tensor]:
    """Activations of ``model`` (a Hugging Face Llama) on ``n_batches`` training batches.

    Returns:
        ``{"resid_post.0": [n, d_model], "mlp_in.L": [n, d_model], "mlp_out.L": [n, d_model]}``
        over the real tokens (no bos, no pads) of every row, in row-major order.
    """
    import torch

    ids = token_to_id()
    rng = np.random.default_rng(seed)
    store: dict[str, list[torch.Tensor]] = {}
    mask_box: list[torch.Tensor] = []

    def keep(name: str, t: torch.Tensor) -> None:
        store.setdefault(name, []).append(t.detach()[mask_box[0]])

    def mlp_hook(layer: int) -> Any:
        def hook(_m: Any, args: tuple[Any, ...], out: torch.Tensor) -> None:
            keep(f"mlp_in.{layer}", args[0])
            keep(f"mlp_out.{layer}", out)
        return hook

    def resid_hook(_m: Any, _a: Any, out: Any) -> None:
        keep("resid_post.0", out[0] if isinstance(out, tuple) else out)

    handles = [model.model.layers[layer].mlp.register_forward_hook(mlp_hook(layer))
               for layer in range(n_layers)]
    handles.append(model.model.layers[0].register_forward_hook(resid_hook))
    try:
        with torch.no_grad():
            for _ in range(n_batches):
                input_ids, labels = training_batch(rng, 64, MAX_LEN)
                tokens = torch.from_numpy(input_ids)
                real = (tokens != ids[BOS]) & (tokens != ids[PAD])
                mask_box[:] = [real]
                model(input_ids=tokens, attention_mask=(torch.from_numpy(labels) != -100).long())
    finally:
        for h in handles:
            h.remove()
    return {k: torch.cat(v) for k, v in store.items()}


def train_dictionary(x: torch.Tensor, y: torch.Tensor, recipe: DictRecipe, seed: int,
                     subtract_b_dec: bool) -> dict[str, torch.Tensor]:
    """Train a ReLU dictionary mapping ``x`` ``[n, d]`` to ``y`` ``[n, d]`` (an SAE when
    ``y is x``; a transcoder otherwise).

    ``f = relu((x - b_dec·[subtract_b_dec]) @ W_enc.T + b_enc)``, ``ŷ = f @ W_dec + b_dec``;
    loss ``mean ||y - ŷ||² / mean ||y - ȳ||² + l1 · mean Σ f_i ||W_dec_i|| / rms(y)``.

    Returns:
        ``{"W_enc": [width, d], "W_dec": [width, d], "b_enc": [width], "b_dec": [d]}`` (float32).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    w = recipe.width
    y_mean = y.mean(0)
    var = float(((y - y_mean) ** 2).sum(1).mean())
    scale = var ** 0.5
    w_dec = torch.randn(w, d, generator=gen)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True) * 0.1 * scale
    params = {
        "W_enc": torch.nn.Parameter(torch.randn(w, d, generator=gen) / float(x.norm(dim=1).mean())),
        "W_dec": torch.nn.Parameter(w_dec),
        "b_enc": torch.nn.Parameter(torch.zeros(w)),
        "b_dec": torch.nn.Parameter(y_mean.clone()),
    }
    opt = torch.optim.Adam(list(params.values()), lr=recipe.lr, foreach=False)
    n = x.shape[0]
    for step in range(recipe.steps):
        idx = torch.randint(0, n, (recipe.batch_tokens,), generator=gen)
        xb, yb = x[idx], y[idx]
        inp = xb - params["b_dec"] if subtract_b_dec else xb
        f = torch.relu(inp @ params["W_enc"].T + params["b_enc"])
        err = yb - (f @ params["W_dec"] + params["b_dec"])
        mse = (err ** 2).sum(1).mean() / var
        sparsity = (f * params["W_dec"].norm(dim=1)).sum(1).mean() / scale
        frac = min(1.0, (step + 1) / (recipe.steps // 10))  # L1 warm-up
        loss = mse + recipe.l1 * frac * sparsity
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for group in opt.param_groups:  # linear decay over the last fifth
            group["lr"] = recipe.lr * min(1.0, 5.0 * (recipe.steps - step) / recipe.steps)
    return {k: v.detach().clone().contiguous() for k, v in params.items()}


def _save(tensors: dict[str, torch.Tensor], path: Path) -> str:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, str(path))
    path.chmod(0o644)
    return file_sha256(path)


def write_sae(weights: dict[str, torch.Tensor], out: Path, model_name: str,
              recipe: DictRecipe, seconds: float) -> dict[str, Any]:
    """Write the SAE in SAELens's format (``cfg.json`` + ``sae_weights.safetensors``).

    SAELens's standard SAE stores ``W_enc`` as ``[d_in, d_sae]``; the training layout here is
    ``[d_sae, d_in]``, transposed on writing.
    """
    out.mkdir(parents=True, exist_ok=True)
    w = {"W_enc": weights["W_enc"].T.contiguous(), "W_dec": weights["W_dec"],
         "b_enc": weights["b_enc"], "b_dec": weights["b_dec"]}
    digest = _save(w, out / "sae_weights.safetensors")
    d_sae, d_in = weights["W_dec"].shape
    write_sae_cfg(out, int(d_in), int(d_sae), model_name)
    return {"files": {"sae_weights.safetensors": digest}, "recipe": asdict(recipe),
            "train_seconds": round(seconds, 1), "hook_name": SAE_HOOK, "d_sae": int(d_sae)}


def write_sae_cfg(out: Path, d_in: int, d_sae: int, model_name: str) -> None:
    """Write SAELens's ``cfg.json`` (the 6.x layout: ``metadata`` holds the hook and model)."""
    cfg = {
        "architecture": "standard",
        "d_in": d_in,
        "d_sae": d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {"model_name": model_name, "hook_name": SAE_HOOK, "hook_head_index": None,
                     "prepend_bos": True, "context_size": MAX_LEN,
                     "dataset_path": "interpclaims.zoo.data.training_batch",
                     # the SAELens format version this file follows (not a training run of it)
                     "sae_lens_version": SAELENS_FORMAT_VERSION},
    }
    (out / "cfg.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_transcoders(layers: list[dict[str, torch.Tensor]], out: Path, model_name: str,
                      recipe: DictRecipe, seconds: list[float]) -> dict[str, Any]:
    """Write per-layer transcoders in circuit-tracer's format (``config.yaml`` + layer files)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {f"layer_{i}.safetensors": _save(w, out / f"layer_{i}.safetensors")
             for i, w in enumerate(layers)}
    lines = [
        f"model_name: {model_name}",
        "model_kind: transcoder_set",
        "feature_input_hook: mlp.hook_in",
        "feature_output_hook: mlp.hook_out",
        f"scan: interpclaims-{model_name.replace('/', '-')}-transcoders",
        "transcoders:",
        *(f"  - {name}" for name in files),
    ]
    (out / "config.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"files": files, "recipe": asdict(recipe),
            "train_seconds": [round(s, 1) for s in seconds],
            "d_transcoder": int(layers[0]["W_dec"].shape[0])}


def train_companions(model: Any, n_layers: int, seed: int = COMPANION_SEED,
                     n_batches: int = 60, steps: int | None = None
                     ) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]],
                                dict[str, Any]]:
    """Train the SAE and the transcoders; returns ``(sae, [transcoder per layer], timings)``."""
    from dataclasses import replace

    acts = collect_activations(model, n_batches, seed, n_layers)
    sae_recipe = SAE_RECIPE if steps is None else replace(SAE_RECIPE, steps=steps)
    tc_recipe = TRANSCODER_RECIPE if steps is None else replace(TRANSCODER_RECIPE, steps=steps)
    start = time.perf_counter()
    x = acts["resid_post.0"]
    sae = train_dictionary(x, x, sae_recipe, seed, subtract_b_dec=True)
    timing: dict[str, Any] = {"sae": time.perf_counter() - start, "transcoders": [],
                              "tokens": int(x.shape[0]), "sae_recipe": sae_recipe,
                              "tc_recipe": tc_recipe}
    tcs = []
    for layer in range(n_layers):
        start = time.perf_counter()
        tcs.append(train_dictionary(acts[f"mlp_in.{layer}"], acts[f"mlp_out.{layer}"], tc_recipe,
                                    seed + 1 + layer, subtract_b_dec=False))
        timing["transcoders"].append(time.perf_counter() - start)
    return sae, tcs, timing


def _codec(w: dict[str, torch.Tensor]) -> tuple[Any, Any]:
    """``(encode, decode)`` of a transcoder's weights (as trained: ``W_enc [width, d]``)."""
    import torch

    def encode(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ w["W_enc"].T + w["b_enc"])

    def decode(f: torch.Tensor) -> torch.Tensor:
        return f @ w["W_dec"] + w["b_dec"]

    return encode, decode


def build_companions(out: Path, name: str = "agreement", seed: int = COMPANION_SEED,
                     steps: int | None = None) -> dict[str, str]:
    """Train, write, measure and card the companions of ``out/models/<name>``.

    Returns:
        ``{"models/<name>/sae/<file>": sha256, "models/<name>/transcoders/<file>": sha256}``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from interpclaims.zoo.companion_card import measure_dictionary, write_companion_card
    from interpclaims.zoo.train import pin_determinism

    model_dir = out / "models" / name
    prev = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    pin_determinism(seed)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="eager",
                                                     dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        n_layers = model.config.num_hidden_layers
        sae, tcs, timing = train_companions(model, n_layers, seed, steps=steps)
        dirs = companion_dirs(model_dir)
        sae_facts = write_sae(sae, dirs["sae"], f"zoo/{name}", timing["sae_recipe"], timing["sae"])

        def sae_encode(x: torch.Tensor) -> torch.Tensor:
            return torch.relu((x - sae["b_dec"]) @ sae["W_enc"].T + sae["b_enc"])

        quality = {"blocks.0.hook_resid_post": measure_dictionary(
            model, tokenizer, out / "data", model.model.layers[0], "output", sae_encode,
            lambda f: f @ sae["W_dec"] + sae["b_dec"])}
        write_companion_card(dirs["sae"], f"SAE of zoo/{name} at {SAE_HOOK}", {
            **sae_facts, "kind": "sae", "seed": seed, "train_tokens": timing["tokens"],
            "model_weights_sha256": file_sha256(model_dir / "model.safetensors"),
            "description": f"A ReLU SAE ({sae_facts['d_sae']} features) in SAELens's format.",
            "quality": quality})
        old_card = dirs["transcoders"] / "card.json"
        old = json.loads(old_card.read_text(encoding="utf-8")) if old_card.is_file() else {}
        tc_facts = write_transcoders(tcs, dirs["transcoders"], f"zoo/{name}",
                                     timing["tc_recipe"], timing["transcoders"])
        # graph scores measured with circuit-tracer on these very weights stay valid
        kept = old.get("graph_scores") if old.get("files") == tc_facts["files"] else None
        tc_quality = {}
        for layer, w in enumerate(tcs):
            tc_quality[f"layer {layer} (mlp.hook_in -> mlp.hook_out)"] = measure_dictionary(
                model, tokenizer, out / "data", model.model.layers[layer].mlp, "input",
                *_codec(w))
        write_companion_card(dirs["transcoders"], f"Transcoders of zoo/{name}", {
            **tc_facts, "kind": "transcoders", "seed": seed, "train_tokens": timing["tokens"],
            "model_weights_sha256": file_sha256(model_dir / "model.safetensors"),
            "description": f"Per-layer ReLU transcoders ({tc_facts['d_transcoder']} features) "
                           "in circuit-tracer's format.",
            "quality": tc_quality, "graph_scores": kept})
    finally:
        torch.set_num_threads(prev[0])
        torch.use_deterministic_algorithms(prev[1])
    hashes = {f"models/{name}/sae/{k}": v for k, v in sae_facts["files"].items()}
    hashes.update({f"models/{name}/transcoders/{k}": v for k, v in tc_facts["files"].items()})
    return hashes
