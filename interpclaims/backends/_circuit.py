"""circuit-tracer, behind one adapter: the replacement model of a backend, and its graphs as plain
arrays.

Everything circuit-tracer-specific lives here (imports, the per-backend construction, the
attribution call, pruning and scores, the nnsight flags its import flips); what leaves this module
is numpy arrays and strings, the same whichever backend made them.

Pitfalls handled (circuit-tracer 0.5.0, measured): the replacement model mutates what it wraps
(renamed MLP/unembed modules, permanent hooks, ``requires_grad=False`` on every parameter), so it
is built from a *fresh* load and never shared with the plain model; its TransformerLens model
resets hooks in ``__del__`` (a TypeError at interpreter exit unless released explicitly); its
nnsight module sets nnsight's ``PYMOUNT`` / ``CROSS_INVOKER`` off for the whole process at import
(restored here right after, so the plain nnsight backend keeps working); token ids passed in must
already start with bos (for a string it prepends the first *truthy* special id).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims._errors import BackendUnavailable, InterpClaimsError, Unsupported
from interpclaims.backends._arch import arch, tl_config
from interpclaims.backends._protocol import ModelSpec

if TYPE_CHECKING:
    import numpy as np

__all__ = ["GRAPH_ARCHITECTURES", "RawGraph", "Replacement", "load_transcoder_set",
           "transcoder_decoders"]

# circuit-tracer's nnsight backend maps these Hugging Face architectures (not GPT-2);
# its TransformerLens backend takes whatever TransformerLens loads.
GRAPH_ARCHITECTURES = {"tl": ("LlamaForCausalLM", "GPT2LMHeadModel"),
                       "nnsight": ("LlamaForCausalLM",)}
NODE_THRESHOLD = 0.8  # circuit-tracer's default pruning thresholds
EDGE_THRESHOLD = 0.98
# a feature node needs an activation above this fraction of the graph's largest one
NOISE_FRACTION = 1e-6
_MEMO = 1024  # graphs kept per replacement model (a few hundred KB each at most on the zoo)


@dataclass(frozen=True, slots=True)
class RawGraph:
    """One prompt's graph as plain arrays (node order: features, errors, tokens, logits)."""

    tokens: np.ndarray  # [n_pos] int64, starting with bos
    features: np.ndarray  # [n_features, 3] int64: (layer, position, feature index) of each node
    activations: np.ndarray  # [n_features] float32
    adjacency: np.ndarray  # [n_nodes, n_nodes] float32, rows are targets
    logit_labels: tuple[str, ...]
    logit_ids: np.ndarray  # [n_logits] int64; -1 for a direction that is not a vocabulary token
    logit_weights: np.ndarray  # [n_logits] float32: probabilities (or 1 for a custom target)
    influence: np.ndarray  # [n_nodes] float32: circuit-tracer's node influence on the logits
    pruned: np.ndarray  # [n_nodes] bool: kept by prune_graph at the default thresholds
    replacement_score: float
    completeness_score: float
    n_layers: int


def _restore_nnsight_flags() -> contextlib.AbstractContextManager[None]:
    """Run circuit-tracer with the nnsight flags it sets at import (``PYMOUNT`` and
    ``CROSS_INVOKER`` off), and put back the process's own values afterwards."""

    @contextlib.contextmanager
    def keep() -> Iterator[None]:
        from nnsight import CONFIG

        before = (CONFIG.APP.PYMOUNT, CONFIG.APP.CROSS_INVOKER)
        CONFIG.APP.PYMOUNT = CONFIG.APP.CROSS_INVOKER = False
        try:
            yield
        finally:
            CONFIG.APP.PYMOUNT, CONFIG.APP.CROSS_INVOKER = before

    return keep()


def _import(name: str) -> Any:
    try:
        import importlib

        with _restore_nnsight_flags():
            return importlib.import_module(name)
    except ImportError as e:
        raise Unsupported(
            f"attribution graphs need circuit-tracer ({e}); install the extra: "
            "pip install -c constraints.txt 'interpclaims[graphs]'") from e


def load_transcoder_set(folder: Path) -> Any:
    """circuit-tracer's own loader on a folder with ``config.yaml`` and ``layer_{i}.safetensors``
    (eager, float32, on the CPU)."""
    import torch
    import yaml

    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    slt = _import("circuit_tracer.transcoder.single_layer_transcoder")
    paths = {i: str(folder / name) for i, name in enumerate(config["transcoders"])}
    return slt.load_transcoder_set(
        paths, scan=config["scan"], feature_input_hook=config["feature_input_hook"],
        feature_output_hook=config["feature_output_hook"], device=torch.device("cpu"),
        dtype=torch.float32, lazy_encoder=False, lazy_decoder=False)


def transcoder_decoders(folder: Path) -> dict[int, np.ndarray]:
    """``W_dec`` ``[d_transcoder, d_model]`` of each layer, read without circuit-tracer."""
    import yaml
    from safetensors.numpy import load_file

    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    return {i: load_file(str(folder / name))["W_dec"]
            for i, name in enumerate(config["transcoders"])}


class Replacement:
    """circuit-tracer's replacement model of one model on one backend (``tl`` / ``nnsight``),
    built from a fresh load of the model folder; :meth:`release` frees it (call it once)."""

    def __init__(self, backend: str, folder: Path, hf_model: Any, tokenizer: Any,
                 spec: ModelSpec, transcoders: Path) -> None:
        import torch

        if spec.architecture not in GRAPH_ARCHITECTURES.get(backend, ()):
            raise Unsupported(
                f"circuit-tracer's {backend} backend does not support {spec.architecture} "
                f"(supported there: {', '.join(GRAPH_ARCHITECTURES.get(backend, ())) or 'none'}); "
                "attribution-graph claims on this model run on the other backend only")
        if not (transcoders / "config.yaml").is_file():
            raise InterpClaimsError(
                f"no transcoder set at {transcoders} (a folder with config.yaml and "
                "layer_{i}.safetensors in circuit-tracer's format); pass "
                "transcoders='path/to/folder' to ic.attribution_graph")
        self.backend = backend
        self._graphs: dict[tuple[Any, ...], RawGraph] = {}
        rm = _import("circuit_tracer.replacement_model")
        tc = load_transcoder_set(transcoders)
        if backend == "tl":
            self.native = self._build_tl(rm, hf_model, tokenizer, spec, tc)
        else:
            with _restore_nnsight_flags():
                self.native = rm.ReplacementModel.from_pretrained_and_transcoders(
                    str(folder), tc, backend="nnsight", device=torch.device("cpu"),
                    dtype=torch.float32)

    @staticmethod
    def _build_tl(rm: Any, hf_model: Any, tokenizer: Any, spec: ModelSpec, tc: Any) -> Any:
        """The TransformerLens replacement model with this project's unprocessed weights (the
        replacement renames ``mlp`` → ``mlp.old_mlp`` and ``unembed`` → ``unembed.old_unembed``)."""
        import torch
        from transformer_lens import HookedTransformerConfig
        from transformer_lens.pretrained import weight_conversions

        cfg = HookedTransformerConfig.from_dict(
            {**tl_config(hf_model.config, spec), "device": "cpu", "dtype": torch.float32,
             "init_weights": False, "default_prepend_bos": False})
        state = getattr(weight_conversions, arch(spec.architecture).tl_convert)(hf_model, cfg)
        tokenizer.padding_side = "right"
        model = rm.ReplacementModel.from_config(cfg, tc, backend="transformerlens",
                                                tokenizer=tokenizer, move_to_device=False)
        renamed = {}
        for key, value in state.items():
            parts = key.split(".")
            if parts[0] == "blocks" and parts[2] == "mlp":
                key = ".".join([*parts[:3], "old_mlp", *parts[3:]])
            elif parts[0] == "unembed":
                key = ".".join(["unembed", "old_unembed", *parts[1:]])
            renamed[key] = value
        missing, unexpected = model.load_state_dict(renamed, strict=False)
        stray = [k for k in missing if not k.startswith("transcoders.")
                 and not k.endswith(("IGNORE", "mask", "rotary_sin", "rotary_cos"))]
        if stray or unexpected:
            raise BackendUnavailable(
                f"circuit-tracer's TransformerLens replacement model did not take the weights: "
                f"missing {stray[:5]}, unexpected {list(unexpected)[:5]} (circuit-tracer version "
                "mismatch? interpclaims is tested with circuit-tracer 0.5.0)")
        model.eval()
        return model

    # -- graphs ----------------------------------------------------------------------------
    def unembedding(self) -> np.ndarray:
        """``W_U`` ``[d_model, d_vocab]`` of the replacement model (float32)."""
        w = self.native.unembed_proj.detach().float()
        return (w.T if w.shape[0] != self.native.model_config.d_model else w).numpy()

    def graph(self, tokens: list[int], diff: tuple[str, int, int] | None,
              max_n_logits: int, desired_logit_prob: float) -> RawGraph:
        """The graph of one prompt (``tokens`` start with bos): to circuit-tracer's top logits
        (``diff`` None) or to the logit difference ``(label, answer id, wrong id)``. Memoized:
        claims on the same prompts share their graphs."""
        import torch

        key = (tuple(tokens), diff, max_n_logits, desired_logit_prob)
        if key in self._graphs:
            return self._graphs[key]

        attribution = _import("circuit_tracer.attribution.attribute")
        targets = _import("circuit_tracer.attribution.targets")
        spec: Any = None
        if diff is not None:
            label, a, w = diff
            w_u = torch.from_numpy(self.unembedding())
            spec = [targets.CustomTarget(label, 1.0, w_u[:, a] - w_u[:, w])]
        with _restore_nnsight_flags(), warnings.catch_warnings():
            # circuit-tracer's nnsight backend takes gradients w.r.t. module outputs only
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            g = attribution.attribute(torch.tensor(tokens), self.native, attribution_targets=spec,
                                      max_n_logits=max_n_logits,
                                      desired_logit_prob=desired_logit_prob, batch_size=256)
        if len(self._graphs) >= _MEMO:
            self._graphs.pop(next(iter(self._graphs)))
        self._graphs[key] = self._plain(g)
        return self._graphs[key]

    @staticmethod
    def _without_noise(g: Any) -> Any:
        """``g`` without the feature nodes whose activation is float32 noise (below
        :data:`NOISE_FRACTION` of the graph's largest activation): a ReLU feature whose
        pre-activation is 0 in exact arithmetic reads 5e-8 on one backend and 0 on the other,
        which would make the node sets differ. Their edges are of that size too."""
        import torch

        graph = _import("circuit_tracer.graph")
        selected = g.selected_features.long()
        acts = g.activation_values[selected].detach().float()
        tol = NOISE_FRACTION * float(acts.abs().max()) if len(acts) else 0.0
        keep_feat = acts.abs() > tol
        if bool(keep_feat.all()):
            return g
        n_rest = g.adjacency_matrix.shape[0] - len(selected)
        keep = torch.cat([keep_feat, torch.ones(n_rest, dtype=torch.bool)])
        kept = selected[keep_feat]
        return graph.Graph(
            input_string=g.input_string, input_tokens=g.input_tokens,
            active_features=g.active_features[kept], activation_values=g.activation_values[kept],
            selected_features=torch.arange(len(kept)),
            adjacency_matrix=g.adjacency_matrix[keep][:, keep], cfg=g.cfg,
            logit_targets=g.logit_targets, logit_probabilities=g.logit_probabilities,
            scan=g.scan, vocab_size=g.vocab_size)

    def _plain(self, g: Any) -> RawGraph:
        import numpy as np

        graph = _import("circuit_tracer.graph")
        g = self._without_noise(g)
        vocab = int(g.vocab_size)
        weights = torch_float(g.logit_probabilities)
        adjacency = g.adjacency_matrix.detach().float()
        logit_weights = adjacency.new_zeros(adjacency.shape[0])
        logit_weights[-len(g.logit_targets):] = g.logit_probabilities.float()
        influence = graph.compute_node_influence(adjacency, logit_weights)
        pruned = graph.prune_graph(g, NODE_THRESHOLD, EDGE_THRESHOLD).node_mask
        replacement, completeness = graph.compute_graph_scores(g)
        selected = g.selected_features.long()
        raw = RawGraph(
            tokens=g.input_tokens.detach().long().numpy(),
            features=g.active_features[selected].detach().long().numpy(),
            activations=g.activation_values[selected].detach().float().numpy(),
            adjacency=adjacency.numpy(),
            logit_labels=tuple(str(t.token_str) for t in g.logit_targets),
            logit_ids=np.array([t.vocab_idx if t.vocab_idx < vocab else -1
                                for t in g.logit_targets], dtype=np.int64),
            logit_weights=weights,
            influence=influence.detach().float().numpy(),
            pruned=pruned.detach().bool().numpy(),
            replacement_score=float(replacement),
            completeness_score=float(completeness),
            n_layers=int(g.cfg.n_layers),
        )
        for name in ("tokens", "features", "activations", "adjacency", "logit_ids",
                     "logit_weights", "influence", "pruned"):
            getattr(raw, name).setflags(write=False)  # shared by the memo: read-only
        return raw

    # -- lifecycle -------------------------------------------------------------------------
    def release(self) -> None:
        """Remove the replacement model's hooks (permanent ones too) and drop it, explicitly:
        left to ``__del__`` at interpreter exit, circuit-tracer's reset raises a TypeError."""
        self._graphs.clear()
        native = self.__dict__.pop("native", None)
        if native is None:
            return
        if self.backend == "tl":
            native.reset_hooks(including_permanent=True)
        del native


def torch_float(t: Any) -> np.ndarray:
    """A torch tensor as a float32 numpy array."""
    return t.detach().float().cpu().numpy()  # type: ignore[no-any-return]
