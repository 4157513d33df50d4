"""NNsight backend: a ``LanguageModel`` around the Hugging Face model (eager attention).

NNsight visits module inputs/outputs in forward order and each at most once per trace, so a
forward pass walks the layers in order and, inside a layer, the access points in the order the
model computes them:

``layer.input`` (resid_pre) → ``o_proj.input`` (z) → ``attn.output`` (attn_out, pattern) →
``ln2.input`` (resid_mid) → ``down_proj.input`` (mlp_post) → ``mlp.output`` (mlp_out) →
``layer.output`` (resid_post); after the last layer, the final norm's input (``ln_final``,
normalized here as TransformerLens's ``ln_final.hook_normalized``: without gain and bias).

``resid_mid`` is not a module boundary in Hugging Face models (the residual add happens inside
the decoder layer), so an edit of ``resid_mid`` is applied as the equivalent edit of the attention
output: ``attn_out' = edit(resid_pre + attn_out) - resid_pre``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from interpclaims._errors import InterpClaimsError
from interpclaims._sites import Site
from interpclaims.backends._arch import arch, module_at
from interpclaims.backends._devices import input_device, offloaded_on_cpu, on_cpu
from interpclaims.backends._grad import ForwardModes
from interpclaims.backends._hooks import ModuleHooks
from interpclaims.backends._plain import PlainEdit
from interpclaims.backends._protocol import Edit, ModelSpec
from interpclaims.backends._remote import RemoteRunner

__all__ = ["NNsightBackend"]


@dataclass(slots=True)
class _Pass:
    """One trace: the sites read and edited, the dataset rows of the batch, what was read."""

    reads: set[Site]
    edits: Mapping[Site, Edit]
    rows: slice
    out: dict[Site, Any]

    def want(self, kind: str, layer: int) -> bool:
        site = Site(kind, layer)
        return site in self.reads or site in self.edits

    def visit(self, site: Site, module: Any, attr: str) -> Any:
        """Edit then read ``module.<attr>`` (``input`` / ``output``) as the activation of ``site``."""
        value = getattr(module, attr)
        if site in self.edits:
            value = self.edits[site](value, self.rows)
            setattr(module, attr, value)
        if site in self.reads:
            self.out[site] = value
        return value


@dataclass(slots=True)
class _RemoteSteps:
    """The steps of a remote trace (see :func:`interpclaims.backends._remote.remote_session`): the
    access points of :meth:`NNsightBackend._visit_layer`, in the same order, as plain data."""

    backend: NNsightBackend
    reads: set[Site]
    edits: Mapping[Site, Edit]
    rows: slice
    n_pos: int

    def ops(self, site: Site) -> list[dict[str, Any]]:
        edit = self.edits.get(site)
        if edit is None:
            return []
        if not isinstance(edit, PlainEdit):
            raise InterpClaimsError(
                f"the edit of {site} is a Python function ({getattr(edit, '__qualname__', edit)}"
                "), which a remote trace cannot run: an NDIF server has torch but not your code "
                "or interpclaims. Use interpclaims' built-in interventions (ablate, patch, steer, "
                "SAE feature edits), or run with --claims-remote=off")
        return edit.operations(self.rows, self.n_pos)

    def step(self, site: Site, mod: Any, attr: str, *, tuple_: bool = False,
             z: tuple[int, int] | None = None, ops: list[dict[str, Any]] | None = None,
             pattern: str | None = None) -> dict[str, Any]:
        return {"mod": mod, "attr": attr, "tuple": tuple_, "z": z, "key": str(site),
                "read": site in self.reads, "ops": self.ops(site) if ops is None else ops,
                "pattern": pattern}

    def build(self) -> list[dict[str, Any]]:
        sites = self.reads | set(self.edits)
        steps: list[dict[str, Any]] = []
        for L in sorted({s.layer for s in sites if s.layer is not None}):
            steps += self.layer(L, lambda kind, L=L: Site(kind, L) in sites)
        return steps

    def layer(self, L: int, want: Any) -> list[dict[str, Any]]:
        a, s = self.backend._arch, self.backend.spec
        layer = module_at(self.backend.native, a.layers)[L]
        steps = []
        if want("resid_pre") or want("resid_mid"):
            steps.append(self.step(Site("resid_pre", L), layer, "input"))
        if want("z"):
            steps.append(self.step(Site("z", L), module_at(layer, a.z_proj), "input",
                                   z=(s.n_heads, s.d_head)))
        if want("attn_out") or want("pattern") or want("resid_mid"):
            mid, pattern = Site("resid_mid", L), Site("pattern", L)
            ops = self.ops(Site("attn_out", L))
            if mid in self.edits:  # attn_out' = edit(resid_pre + attn_out) - resid_pre
                pre = str(Site("resid_pre", L))
                ops += [{"kind": "shift", "key": pre, "sign": 1}, *self.ops(mid),
                        {"kind": "shift", "key": pre, "sign": -1}]
            steps.append(self.step(Site("attn_out", L), module_at(layer, a.attn), "output",
                                   tuple_=True, ops=ops,
                                   pattern=str(pattern) if pattern in self.reads else None))
            if mid in self.reads:
                steps.append(self.step(mid, module_at(layer, a.ln2), "input", ops=[]))
        if want("mlp_post"):
            steps.append(self.step(Site("mlp_post", L), module_at(layer, a.mlp_in), "input"))
        if want("mlp_out"):
            steps.append(self.step(Site("mlp_out", L), module_at(layer, a.mlp), "output"))
        if want("resid_post"):
            steps.append(self.step(Site("resid_post", L), layer, "output",
                                   tuple_=a.layer_output_tuple))
        return steps


class NNsightBackend(ForwardModes):
    """Backend ``nnsight``."""

    name = "nnsight"

    def __init__(self, hf_model: Any, tokenizer: Any, spec: ModelSpec,
                 remote: RemoteRunner | None = None, source: str | None = None) -> None:
        """``hf_model`` None: a model whose weights stay on NDIF (``remote``): nnsight builds its
        modules from ``source``'s config on the meta device, and the few weights an analysis
        reads (head output weights, the unembedding) come back from the server on demand."""
        from nnsight import LanguageModel

        self.spec = spec
        self.remote = remote  # None: traces run here; else on NDIF or its local simulation
        self._arch = arch(spec.architecture)
        self.weightless = hf_model is None
        self._fetched: dict[str, torch.Tensor] = {}  # weights read from the server
        if hf_model is None:
            assert remote is not None and source is not None
            self.native = LanguageModel(source, tokenizer=tokenizer)  # meta: no weights
            self.input_device = torch.device("cpu")
        else:
            # placed by Accelerate (device_map) stays as placed: dispatch=True wraps it as is
            self.native = LanguageModel(hf_model, tokenizer=tokenizer, dispatch=True)
            self.input_device = input_device(hf_model.get_input_embeddings())
        # NNsight keeps hooks of its own on every module; only hooks beyond these are leaks.
        self._hooks = ModuleHooks(self.native._model)

    # -- module access ---------------------------------------------------------------------
    def _hf_layer(self, layer: int) -> Any:
        return module_at(self.native._model, self._arch.layers)[layer]

    def _weights(self, parts: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Weights of a weightless model (``{key: module envoy}``: its ``weight``), as CPU
        float32: read from the server once (one request for those not read before) and kept in
        the server's dtype."""
        assert self.remote is not None
        missing = {k: (mod, "weight") for k, mod in parts.items() if k not in self._fetched}
        if missing:
            probe = torch.tensor([[self.native.tokenizer.bos_token_id or 0]])
            got = self.remote.fetch(self.native, probe, missing)
            self._fetched.update({k: v.detach().cpu() for k, v in got.items()})
        return {k: self._fetched[k].float() for k in parts}

    def w_o(self, layer: int) -> torch.Tensor:
        """``[n_heads, d_head, d_model]``, from the head-output projection's weight."""
        s = self.spec
        if self.weightless:
            proj = module_at(module_at(self.native, self._arch.layers)[layer], self._arch.z_proj)
            w = self._weights({f"w_o.{layer}": proj})[f"w_o.{layer}"]
        else:
            proj = module_at(self._hf_layer(layer), self._arch.z_proj)
            with offloaded_on_cpu(proj):
                w = on_cpu(proj.weight)
        if self._arch.w_o_transposed:  # nn.Linear: [d_model, n_heads*d_head]
            w = w.T
        return w.reshape(s.n_heads, s.d_head, s.d_model)

    def unembed(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        a = self._arch
        m = self.native._model
        norm = module_at(m, a.final_norm)
        eps = float(getattr(norm, a.norm_eps))
        if self.weightless:
            got = self._weights({"w_u": module_at(self.native, a.unembed),
                                 "gain": module_at(self.native, a.final_norm)})
            return got["w_u"].T, got["gain"], a.norm_kind, eps
        head = module_at(m, a.unembed)
        with offloaded_on_cpu(norm), offloaded_on_cpu(head):
            w_u, gain = on_cpu(head.weight).T, on_cpu(norm.weight)
        return w_u, gain, a.norm_kind, eps

    # -- forward ---------------------------------------------------------------------------
    def _forward(
        self, tokens: torch.Tensor, rows: slice, read: Sequence[Site], edits: Mapping[Site, Edit],
        grad: bool,
    ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        if self.remote is not None:
            if grad:
                raise InterpClaimsError(
                    "a gradient pass (attribution patching, method='atp') cannot run remotely: "
                    "remote traces return saved values, not gradients; use method='exact' or "
                    "--claims-remote=off")
            return self.forward_many([(tokens, rows, read, edits)])[0]
        lm = self.native
        p = _Pass(reads=set(read), edits=edits, rows=rows, out={})
        layers = sorted({s.layer for s in p.reads | set(edits) if s.layer is not None})
        final = Site("ln_final")
        mode = torch.enable_grad() if grad else torch.no_grad()
        with mode, lm.trace(tokens.to(self.input_device)):
            for L in layers:
                self._visit_layer(p, L)
            if final in p.reads:  # the final norm's input; normalized below, as TransformerLens
                p.out[final] = module_at(lm, self._arch.final_norm).input
            p.out[Site("logits")] = module_at(lm, self._arch.unembed).output
        logits = p.out[Site("logits")]
        if final in p.reads:
            p.out[final] = self._normalized(p.out[final])
        return logits, {site: p.out[site] for site in p.reads}

    def forward_many(self, passes: Sequence[tuple[torch.Tensor, slice, Sequence[Site],
                                                  Mapping[Site, Edit]]]
                     ) -> list[tuple[torch.Tensor, dict[Site, torch.Tensor]]]:
        """:meth:`forward` of each pass; remotely, all of them in one session (one request)."""
        if self.remote is None:
            return super().forward_many(passes)
        final = Site("ln_final")
        jobs = [{"tokens": tokens,
                 "steps": _RemoteSteps(self, set(read), edits, rows, tokens.shape[1]).build(),
                 "final": module_at(self.native, self._arch.final_norm) if final in read else None,
                 "unembed": module_at(self.native, self._arch.unembed)}
                for tokens, rows, read, edits in passes]
        outs = self.remote.run(self.native, jobs)
        results = []
        for (_, _, read, _), out in zip(passes, outs, strict=True):
            acts = {site: out[str(site)] for site in read if site != final}
            if final in read:
                acts[final] = self._normalized(out["ln_final"])
            results.append((out["logits"], acts))
        return results

    def _normalized(self, x: torch.Tensor) -> torch.Tensor:
        """``ln_final.hook_normalized``: the final norm without its gain and bias."""
        norm = module_at(self.native._model, self._arch.final_norm)
        eps = float(getattr(norm, self._arch.norm_eps))
        if self._arch.norm_kind == "ln":
            x = x - x.mean(-1, keepdim=True)
        return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()

    def _visit_layer(self, p: _Pass, L: int) -> None:
        """The access points of layer ``L`` in the order the model computes them."""
        a = self._arch
        layer = module_at(self.native, a.layers)[L]
        resid_pre = None
        if p.want("resid_pre", L) or p.want("resid_mid", L):
            resid_pre = p.visit(Site("resid_pre", L), layer, "input")
        if p.want("z", L):
            self._visit_z(p, L, module_at(layer, a.z_proj))
        if p.want("attn_out", L) or p.want("pattern", L) or p.want("resid_mid", L):
            self._visit_attn(p, L, layer, resid_pre)
        if p.want("mlp_post", L):
            p.visit(Site("mlp_post", L), module_at(layer, a.mlp_in), "input")
        if p.want("mlp_out", L):
            p.visit(Site("mlp_out", L), module_at(layer, a.mlp), "output")
        if p.want("resid_post", L):
            self._visit_resid_post(p, L, layer)

    def _visit_z(self, p: _Pass, L: int, z_mod: Any) -> None:
        """``z`` ``[batch, pos, n_heads, d_head]``: the input of the head-output projection."""
        s = self.spec
        site = Site("z", L)
        flat = z_mod.input
        z = flat.reshape(flat.shape[0], flat.shape[1], s.n_heads, s.d_head)
        if site in p.edits:
            z = p.edits[site](z, p.rows)
            z_mod.input = z.reshape(flat.shape)
        if site in p.reads:
            p.out[site] = z

    def _visit_attn(self, p: _Pass, L: int, layer: Any, resid_pre: Any) -> None:
        """``attn_out`` and ``pattern`` from the attention output ``(attn_out, pattern, ...)``;
        ``resid_mid`` read at the input of the second norm and edited through ``attn_out``."""
        attn = module_at(layer, self._arch.attn)
        o = attn.output
        a_out = o[0]
        site = Site("attn_out", L)
        changed = False
        if site in p.edits:
            a_out = p.edits[site](a_out, p.rows)
            changed = True
        mid_site = Site("resid_mid", L)
        if mid_site in p.edits:
            assert resid_pre is not None
            a_out = p.edits[mid_site](resid_pre + a_out, p.rows) - resid_pre
            changed = True
        if changed:
            attn.output = (a_out, *o[1:])
        if site in p.reads:
            p.out[site] = a_out
        if Site("pattern", L) in p.reads:
            p.out[Site("pattern", L)] = o[1]
        if mid_site in p.reads:
            p.out[mid_site] = module_at(layer, self._arch.ln2).input

    def _visit_resid_post(self, p: _Pass, L: int, layer: Any) -> None:
        site = Site("resid_post", L)
        tuple_out = self._arch.layer_output_tuple
        lo = layer.output
        post = lo[0] if tuple_out else lo
        if site in p.edits:
            post = p.edits[site](post, p.rows)
            layer.output = (post, *lo[1:]) if tuple_out else post
        if site in p.reads:
            p.out[site] = post

    # -- hygiene ---------------------------------------------------------------------------
    def attached(self) -> list[str]:
        leaks = self._hooks.describe()
        edits = len(getattr(self.native, "_default_mediators", []))
        if edits:  # model.edit(inplace=True) applies to every later trace
            leaks.append(f"{edits} persistent NNsight edit{'s' if edits > 1 else ''} "
                         "(model.edit(inplace=True))")
        return leaks

    def detach_all(self) -> None:
        if getattr(self.native, "_default_mediators", None):
            self.native.clear_edits()
        self._hooks.remove()

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        return self.native._model.named_parameters()  # type: ignore[no-any-return]
