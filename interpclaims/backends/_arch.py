"""What interpclaims knows about each model architecture, in one table.

One :class:`Arch` entry per Hugging Face architecture (``config.architectures[0]``) says how to
read the model's sizes from its config, how to build the TransformerLens config and convert the
weights, and where NNsight finds each access point. Supporting another architecture (Gemma, Qwen,
...) is one more entry in :data:`ARCHITECTURES`; an architecture without an entry is refused here,
in :func:`arch`, and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from interpclaims._errors import ModelLoadError
from interpclaims.backends._protocol import ModelSpec

__all__ = ["ARCHITECTURES", "Arch", "arch", "model_spec", "module_at", "tl_config"]

# ModelSpec sizes, in the order they are read: a default may use the sizes before it
_SIZE_FIELDS = ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "d_vocab", "n_ctx")
# a size whose config attribute is missing, None or 0 (GPT-2's n_inner) takes its default
_DEFAULTS: dict[str, Callable[[dict[str, int]], int]] = {
    "d_head": lambda s: s["d_model"] // s["n_heads"],
    "d_mlp": lambda s: 4 * s["d_model"],
}


def _llama_tl(hf_config: Any, spec: ModelSpec) -> dict[str, Any]:
    n_kv = hf_config.num_key_value_heads
    return {
        "eps": hf_config.rms_norm_eps,
        "act_fn": hf_config.hidden_act,
        "n_key_value_heads": n_kv if n_kv != spec.n_heads else None,
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "rotary_adjacent_pairs": False,
        "rotary_dim": spec.d_head,
        "rotary_base": getattr(hf_config, "rope_theta", None) or 10000.0,
        "final_rms": True,
        "gated_mlp": True,
    }


def _gpt2_tl(hf_config: Any, spec: ModelSpec) -> dict[str, Any]:
    return {
        "eps": hf_config.layer_norm_epsilon,
        "act_fn": hf_config.activation_function,
        "use_attn_scale": True,
        "scale_attn_by_inverse_layer_idx": hf_config.scale_attn_by_inverse_layer_idx,
        "normalization_type": "LN",
    }


@dataclass(frozen=True, slots=True)
class Arch:
    """One architecture. Module paths are dotted attribute paths: ``layers`` from the top-level
    model (the Hugging Face ``*ForCausalLM`` or the NNsight ``LanguageModel`` around it), the
    per-layer ones from a decoder layer, ``final_norm`` and ``unembed`` from the top level."""

    name: str
    sizes: Mapping[str, str | None]  # ModelSpec field -> Hugging Face config attribute
    tl_fields: Callable[[Any, ModelSpec], dict[str, Any]]  # HookedTransformerConfig fields
    tl_convert: str  # name in transformer_lens.pretrained.weight_conversions
    layers: str  # the list of decoder layers
    attn: str  # attention module: output (attn_out, pattern)
    z_proj: str  # head-output projection: its input is z ([batch, pos, n_heads * d_head])
    ln2: str  # the norm before the MLP: its input is resid_mid
    mlp: str  # MLP module: output is mlp_out
    mlp_in: str  # the MLP's output projection: its input is mlp_post
    final_norm: str
    norm_kind: str  # "rms" | "ln"
    norm_eps: str  # attribute of the final norm module holding eps
    layer_output_tuple: bool  # a decoder layer returns (hidden, ...) rather than hidden
    # W_O layout: nn.Linear stores [d_model, n_heads * d_head] (transposed), GPT-2's Conv1D
    # stores [n_heads * d_head, d_model]
    w_o_transposed: bool
    unembed: str = "lm_head"

ARCHITECTURES: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch(
            name="LlamaForCausalLM",
            sizes={"n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                   "d_model": "hidden_size", "d_head": "head_dim", "d_mlp": "intermediate_size",
                   "d_vocab": "vocab_size", "n_ctx": "max_position_embeddings"},
            tl_fields=_llama_tl, tl_convert="convert_llama_weights",
            layers="model.layers", attn="self_attn", z_proj="self_attn.o_proj",
            ln2="post_attention_layernorm", mlp="mlp", mlp_in="mlp.down_proj",
            final_norm="model.norm", norm_kind="rms", norm_eps="variance_epsilon",
            layer_output_tuple=False, w_o_transposed=True,
        ),
        Arch(
            name="GPT2LMHeadModel",
            sizes={"n_layers": "n_layer", "n_heads": "n_head", "d_model": "n_embd", "d_head": None,
                   "d_mlp": "n_inner", "d_vocab": "vocab_size", "n_ctx": "n_positions"},
            tl_fields=_gpt2_tl, tl_convert="convert_gpt2_weights",
            layers="transformer.h", attn="attn", z_proj="attn.c_proj", ln2="ln_2", mlp="mlp",
            mlp_in="mlp.c_proj", final_norm="transformer.ln_f", norm_kind="ln", norm_eps="eps",
            layer_output_tuple=True, w_o_transposed=False,
        ),
    )
}


def arch(name: str) -> Arch:
    """The table entry of architecture ``name``; the one place an unsupported one is refused."""
    if name not in ARCHITECTURES:
        raise ModelLoadError(
            f"architecture {name} is not supported yet; interpclaims supports "
            f"{' and '.join(ARCHITECTURES)} (each backend reads what it needs about an "
            "architecture from interpclaims/backends/_arch.py: another one is one more entry there)"
        )
    return ARCHITECTURES[name]


def model_spec(hf_config: Any) -> ModelSpec:
    """The sizes of a Hugging Face model from its config."""
    name = (getattr(hf_config, "architectures", None) or [type(hf_config).__name__])[0]
    entry = arch(name)
    sizes: dict[str, int] = {}
    for f in _SIZE_FIELDS:
        attr = entry.sizes[f]
        value = getattr(hf_config, attr, None) if attr is not None else None
        if not value:
            if f not in _DEFAULTS:
                raise ModelLoadError(f"the config of this {name} model has no {attr!r} ({f})")
            value = _DEFAULTS[f](sizes)
        sizes[f] = value
    return ModelSpec(architecture=name, **sizes)


def tl_config(hf_config: Any, spec: ModelSpec) -> dict[str, Any]:
    """HookedTransformerConfig fields of a model.

    TransformerLens's ``convert_hf_model_config`` keys Llama detection on the *name* (a local
    folder whose path contains "llama" skips reading its config), and does not carry
    ``rope_theta`` for Llama; so the config is converted here, from the table.
    """
    common = {
        "d_model": spec.d_model, "d_head": spec.d_head, "n_heads": spec.n_heads,
        "d_mlp": spec.d_mlp, "n_layers": spec.n_layers, "n_ctx": spec.n_ctx,
        "d_vocab": spec.d_vocab, "original_architecture": spec.architecture,
    }
    return {**common, **arch(spec.architecture).tl_fields(hf_config, spec)}


def module_at(root: Any, path: str) -> Any:
    """``root.a.b.c`` for ``path == "a.b.c"`` (torch modules and NNsight envoys alike)."""
    return functools.reduce(getattr, path.split("."), root)
