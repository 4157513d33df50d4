"""TransformerLens backend: a HookedTransformer built from a Hugging Face model.

Weights go through TransformerLens's own state-dict conversion with *no* weight processing
(no ``fold_ln``, ``center_writing_weights``, ``center_unembed``), so activations equal the Hugging
Face model's and NNsight's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from interpclaims._sites import Site
from interpclaims.backends._arch import arch, tl_config
from interpclaims.backends._devices import (
    dispatch,
    input_device,
    offloaded_on_cpu,
    on_cpu,
    tl_device_map,
)
from interpclaims.backends._grad import ForwardModes
from interpclaims.backends._hooks import ModuleHooks
from interpclaims.backends._protocol import Edit, ModelSpec

__all__ = ["TLBackend"]


class TLBackend(ForwardModes):
    """Backend ``tl``."""

    name = "tl"

    def __init__(self, hf_model: Any, tokenizer: Any, spec: ModelSpec,
                 offload_folder: str | None = None) -> None:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
        from transformer_lens.pretrained import weight_conversions

        self.spec = spec
        cfg = HookedTransformerConfig.from_dict(
            {**tl_config(hf_model.config, spec), "device": "cpu", "dtype": hf_model.dtype,
             "init_weights": False, "default_prepend_bos": False}
        )
        convert = getattr(weight_conversions, arch(spec.architecture).tl_convert)
        hf_map = getattr(hf_model, "hf_device_map", None)
        # the placement of every TransformerLens part, checked before any weight is converted
        tl_map = tl_device_map(hf_model, hf_map, arch(spec.architecture),
                               spec.n_layers) if hf_map else None
        with offloaded_on_cpu(hf_model):
            state_dict = {k: v.to("cpu") for k, v in convert(hf_model, cfg).items()}
        # Right padding (the only policy interpclaims uses) needs no attention mask; a
        # left-padding tokenizer would make TransformerLens compute one on its own.
        tokenizer.padding_side = "right"
        model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
        model.load_and_process_state_dict(
            state_dict, fold_ln=False, center_writing_weights=False, center_unembed=False,
            fold_value_biases=False, refactor_factored_attn_matrices=False,
        )
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if tl_map is not None:
            model = dispatch(model, tl_map, offload_folder)
            model.cfg.device = input_device(model.embed)
        self.native = model
        self.input_device = input_device(model.embed)
        self._hooks = ModuleHooks(model)

    def _forward(
        self, tokens: torch.Tensor, rows: slice, read: Sequence[Site], edits: Mapping[Site, Edit],
        grad: bool,
    ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        acts: dict[Site, torch.Tensor] = {}
        hooks: list[tuple[str | Callable[..., Any], Callable[..., Any]]] = []
        for site, fn in edits.items():
            def edit_hook(act: torch.Tensor, hook: Any, fn: Edit = fn) -> torch.Tensor:
                return fn(act, rows)

            hooks.append((site.tl_name, edit_hook))
        # Read hooks after edit hooks: TransformerLens runs hooks in registration order.
        for site in read:
            if site.kind == "logits":
                continue

            def read_hook(act: torch.Tensor, hook: Any, site: Site = site) -> None:
                acts[site] = act.detach().clone()

            hooks.append((site.tl_name, read_hook))
        mode = torch.enable_grad() if grad else torch.no_grad()
        with mode, self.native.hooks(fwd_hooks=hooks):
            logits = self.native(tokens.to(self.input_device), return_type="logits")
        if any(s.kind == "logits" for s in read):
            acts[Site("logits")] = logits
        return logits, acts

    def w_o(self, layer: int) -> torch.Tensor:
        attn: Any = self.native.blocks[layer].attn  # type: ignore[index]
        with offloaded_on_cpu(attn):
            return on_cpu(attn.W_O)

    def unembed(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        m: Any = self.native
        kind = "rms" if str(m.cfg.normalization_type).startswith("RMS") else "ln"
        with offloaded_on_cpu(m.unembed), offloaded_on_cpu(m.ln_final):
            return on_cpu(m.unembed.W_U), on_cpu(m.ln_final.w), kind, float(m.cfg.eps)

    def attached(self) -> list[str]:
        # every hook point's hooks (TransformerLens's own API) and plain torch hooks on any
        # submodule (model.native.blocks[0].register_forward_hook(...)) alike
        return self._hooks.describe()

    def detach_all(self) -> None:
        self.native.reset_hooks(including_permanent=True)
        self._hooks.remove()

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        return self.native.named_parameters()  # type: ignore[no-any-return]
