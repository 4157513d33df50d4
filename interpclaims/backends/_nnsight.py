"""NNsight backend: a ``LanguageModel`` around the Hugging Face model (eager attention).

NNsight visits module inputs/outputs in forward order and each at most once per trace, so a
forward pass walks the layers in order and, inside a layer, the access points in the order the
model computes them:

``layer.input`` (resid_pre) → ``o_proj.input`` (z) → ``attn.output`` (attn_out, pattern) →
``ln2.input`` (resid_mid) → ``down_proj.input`` (mlp_post) → ``mlp.output`` (mlp_out) →
``layer.output`` (resid_post).

``resid_mid`` is not a module boundary in Hugging Face models (the residual add happens inside
the decoder layer), so an edit of ``resid_mid`` is applied as the equivalent edit of the attention
output: ``attn_out' = edit(resid_pre + attn_out) - resid_pre``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from interpclaims._errors import ModelLoadError
from interpclaims._sites import Site
from interpclaims.backends import Edit, ModelSpec

__all__ = ["NNsightBackend"]


class NNsightBackend:
    """Backend ``nnsight``."""

    name = "nnsight"

    def __init__(self, hf_model: Any, tokenizer: Any, spec: ModelSpec) -> None:
        from nnsight import LanguageModel

        if spec.architecture not in ("LlamaForCausalLM", "GPT2LMHeadModel"):
            raise ModelLoadError(
                f"the nnsight backend of interpclaims supports LlamaForCausalLM and "
                f"GPT2LMHeadModel, not {spec.architecture}"
            )
        self.spec = spec
        self._llama = spec.architecture == "LlamaForCausalLM"
        self.native = LanguageModel(hf_model, tokenizer=tokenizer, dispatch=True)
        # NNsight keeps hooks of its own on every module; only hooks beyond these are leaks.
        self._baseline = self._hook_ids()

    # -- module access ---------------------------------------------------------------------
    def _layer(self, layer: int) -> Any:
        lm = self.native
        return lm.model.layers[layer] if self._llama else lm.transformer.h[layer]

    def _hf_layer(self, layer: int) -> Any:
        m = self.native._model
        return m.model.layers[layer] if self._llama else m.transformer.h[layer]

    def w_o(self, layer: int) -> torch.Tensor:
        s = self.spec
        if self._llama:
            w = self._hf_layer(layer).self_attn.o_proj.weight  # [d_model, n_heads*d_head]
            return w.detach().T.reshape(s.n_heads, s.d_head, s.d_model)
        w = self._hf_layer(layer).attn.c_proj.weight  # Conv1D: [n_heads*d_head, d_model]
        return w.detach().reshape(s.n_heads, s.d_head, s.d_model)

    def unembed(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        m = self.native._model
        w_u = m.lm_head.weight.detach().T
        if self._llama:
            return w_u, m.model.norm.weight.detach(), "rms", float(m.model.norm.variance_epsilon)
        return w_u, m.transformer.ln_f.weight.detach(), "ln", float(m.transformer.ln_f.eps)

    # -- forward ---------------------------------------------------------------------------
    def forward(
        self, tokens: torch.Tensor, rows: slice, read: Sequence[Site], edits: Mapping[Site, Edit]
    ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        lm = self.native
        reads = set(read)
        wanted = reads | set(edits)
        layers = sorted({s.layer for s in wanted if s.layer is not None})
        out: dict[str, Any] = {}
        s = self.spec
        with torch.no_grad(), lm.trace(tokens):
            for L in layers:
                layer = self._layer(L)
                attn = layer.self_attn if self._llama else layer.attn
                z_mod = attn.o_proj if self._llama else attn.c_proj
                ln2 = layer.post_attention_layernorm if self._llama else layer.ln_2
                mlp = layer.mlp
                mlp_in = mlp.down_proj if self._llama else mlp.c_proj

                def want(kind: str, L: int = L) -> bool:
                    return Site(kind, L) in wanted

                resid_pre = None
                if want("resid_pre") or want("resid_mid"):
                    resid_pre = layer.input
                    site = Site("resid_pre", L)
                    if site in edits:
                        resid_pre = edits[site](resid_pre, rows)
                        layer.input = resid_pre
                    if site in reads:
                        out[f"resid_pre.{L}"] = resid_pre
                if want("z"):
                    site = Site("z", L)
                    flat = z_mod.input
                    z = flat.reshape(flat.shape[0], flat.shape[1], s.n_heads, s.d_head)
                    if site in edits:
                        z = edits[site](z, rows)
                        z_mod.input = z.reshape(flat.shape)
                    if site in reads:
                        out[f"z.{L}"] = z
                if want("attn_out") or want("pattern") or want("resid_mid"):
                    o = attn.output
                    a_out = o[0]
                    site = Site("attn_out", L)
                    changed = False
                    if site in edits:
                        a_out = edits[site](a_out, rows)
                        changed = True
                    mid_site = Site("resid_mid", L)
                    if mid_site in edits:
                        assert resid_pre is not None
                        a_out = edits[mid_site](resid_pre + a_out, rows) - resid_pre
                        changed = True
                    if changed:
                        attn.output = (a_out, *o[1:])
                    if site in reads:
                        out[f"attn_out.{L}"] = a_out
                    if Site("pattern", L) in reads:
                        out[f"pattern.{L}"] = o[1]
                    if mid_site in reads:
                        out[f"resid_mid.{L}"] = ln2.input
                if want("mlp_post"):
                    site = Site("mlp_post", L)
                    post = mlp_in.input
                    if site in edits:
                        post = edits[site](post, rows)
                        mlp_in.input = post
                    if site in reads:
                        out[f"mlp_post.{L}"] = post
                if want("mlp_out"):
                    site = Site("mlp_out", L)
                    m_out = mlp.output
                    if site in edits:
                        m_out = edits[site](m_out, rows)
                        mlp.output = m_out
                    if site in reads:
                        out[f"mlp_out.{L}"] = m_out
                if want("resid_post"):
                    site = Site("resid_post", L)
                    lo = layer.output
                    post_r = lo if self._llama else lo[0]
                    if site in edits:
                        post_r = edits[site](post_r, rows)
                        layer.output = post_r if self._llama else (post_r, *lo[1:])
                    if site in reads:
                        out[f"resid_post.{L}"] = post_r
            out["logits"] = lm.lm_head.output
        acts = {site: out[f"{site.kind}.{site.layer}" if site.kind != "logits" else "logits"]
                for site in reads}
        return out["logits"], acts

    # -- hygiene ---------------------------------------------------------------------------
    _HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")

    def _hook_ids(self) -> dict[tuple[str, str], set[int]]:
        ids = {}
        for name, mod in self.native._model.named_modules():
            for attr in self._HOOK_DICTS:
                ids[(name or "<model>", attr)] = set(getattr(mod, attr, {}))
        return ids

    def _extra(self) -> dict[tuple[str, str], set[int]]:
        now = self._hook_ids()
        return {k: v - self._baseline.get(k, set()) for k, v in now.items()
                if v - self._baseline.get(k, set())}

    def attached(self) -> list[str]:
        leaks = [f"{name}.{attr} ({len(v)} hook{'s' if len(v) > 1 else ''})"
                 for (name, attr), v in self._extra().items()]
        edits = len(getattr(self.native, "_default_mediators", []))
        if edits:  # model.edit(inplace=True) applies to every later trace
            leaks.append(f"{edits} persistent NNsight edit{'s' if edits > 1 else ''} "
                         "(model.edit(inplace=True))")
        return leaks

    def detach_all(self) -> None:
        if getattr(self.native, "_default_mediators", None):
            self.native.clear_edits()
        modules = dict(self.native._model.named_modules())
        for (name, attr), extra in self._extra().items():
            hooks = getattr(modules["" if name == "<model>" else name], attr)
            for hook_id in extra:
                hooks.pop(hook_id, None)
