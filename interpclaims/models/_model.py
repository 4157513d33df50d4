"""The :class:`Model`: a model loaded on one backend, what the ``model`` fixture gives a claim.

It tokenizes prompts, runs them in batches (reading activations at sites, applying edits), keeps
the open :meth:`Model.intervene` contexts, and reports leaks. Clean runs (no edits) go through
its :class:`CleanCache` when it has one: the activations layer implements that protocol with the
activation store, so models never import activations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims._errors import InterpClaimsError, ModelLoadError, NotPlanned, Unsupported
from interpclaims._sites import Site, parse_site
from interpclaims.backends import (
    Backend,
    Edit,
    PlanBackend,
    Replacement,
    load_backend,
    model_spec,
)
from interpclaims.models._batch import Batch, token_id, tokenize
from interpclaims.models._edits import ActiveEdits
from interpclaims.models._placement import Placement
from interpclaims.models._resolve import LoadedHF, load_hf
from interpclaims.models._runs import CleanCache, Runs
from interpclaims.models._weights import changed_parameters, fingerprint

if TYPE_CHECKING:
    import torch

__all__ = ["CleanCache", "Model"]


def check_hosted(name: str, source: str) -> None:
    """NDIF runs models of the Hugging Face hub: a folder on this machine cannot run there."""
    if Path(source).exists():
        raise ModelLoadError(
            f"{name} is a folder on this machine ({source}), and NDIF runs models of the Hugging "
            "Face hub only: give its hub name, or run it with --claims-remote=local "
            "(remote='local' on its marker): nnsight's simulation of NDIF, on this machine")


class Model(Runs):
    """A model loaded on one backend: what the ``model`` fixture gives a claim."""

    def __init__(self, name: str, backend: str, cache: CleanCache | None = None,
                 placement: Placement | None = None, remote: str = "off") -> None:
        from interpclaims.models._torch import ensure_torch_settings

        ensure_torch_settings()
        self.remote = remote  # off | local | ndif (nnsight only: where its traces run)
        weightless = remote == "ndif" and backend == "nnsight"
        if weightless and placement is not None and not placement.is_default:
            raise Unsupported(
                f"{name}: device_map= and dtype= place weights loaded on this machine, and a model "
                "on NDIF (remote='ndif') loads none here: the server places it")
        # on NDIF the weights stay on the server: the config and tokenizer only
        loaded = load_hf(name, placement, weights=not weightless)
        if weightless:
            check_hosted(name, loaded.source)
        try:
            self._setup(name, backend, loaded, cache)
        except BaseException:
            if loaded.offload_folder:  # the backend refused the placed model: nothing uses it
                import shutil

                shutil.rmtree(loaded.offload_folder, ignore_errors=True)
            raise

    @classmethod
    def planned(cls, name: str, backend: str, cache: CleanCache | None = None,
                remote: str = "off") -> Model:
        """The planning stand-in of ``Model(name, backend, cache, remote=remote)``
        (``--claims-plan``): the config and tokenizer only, no weights; its backend
        (:class:`PlanBackend`) returns placeholder tensors, and its forward passes, store traffic
        and remote requests count as the real model's would."""
        from interpclaims.models._torch import ensure_torch_settings

        ensure_torch_settings()
        model = object.__new__(cls)
        model.remote = remote
        model._setup(name, backend, load_hf(name, weights=False), cache, plan=True)
        return model

    @property
    def planning(self) -> bool:
        """Whether this is a planning stand-in (placeholder numbers, see :meth:`planned`)."""
        return isinstance(self._backend, PlanBackend)

    def _setup(self, name: str, backend: str, loaded: LoadedHF, cache: CleanCache | None,
               plan: bool = False) -> None:
        hf_model, tokenizer = loaded.hf_model, loaded.tokenizer
        config = loaded.config if hf_model is None else hf_model.config
        self.spec = model_spec(config)
        if plan:  # no weights, placeholder numbers
            self._backend: Backend = PlanBackend(backend, self.spec, salt=loaded.weights_hash,
                                                 remote=self.remote)
        elif hf_model is None:  # on NDIF: no weights here
            self._backend = load_backend(backend, None, tokenizer, self.spec, remote=self.remote,
                                         model_name=name, source=loaded.source)
        else:
            hf_model.eval()
            for p in hf_model.parameters():
                p.requires_grad_(False)
            self._backend = load_backend(backend, hf_model, tokenizer, self.spec,
                                         loaded.offload_folder, remote=self.remote,
                                         model_name=name)
        self.name = name
        self.source = loaded.source
        self.tokenizer = tokenizer
        self.weights_hash = loaded.weights_hash
        self._hf_config = config
        self.placement_spec = loaded.placement
        self._device_map = loaded.device_map
        self._offload_folder = loaded.offload_folder
        self.backend = backend
        if tokenizer.bos_token_id is None:
            raise ModelLoadError(f"the tokenizer of {name!r} has no bos token; interpclaims "
                                 "prepends bos to every prompt")
        self.bos_id: int = tokenizer.bos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.forward_passes = 0
        self.intervention_passes = 0  # of forward_passes: those run with edits
        self.backward_passes = 0
        self._active: list[ActiveEdits] = []
        self._batches: dict[tuple[tuple[str, ...], tuple[str, ...]], Batch] = {}
        self._resets: dict[int, Model] = {}
        self.cache: CleanCache | None = cache
        self.tokenizer_hash = loaded.tokenizer_hash
        self._weights = fingerprint(self._backend.named_parameters())
        self._grads = {n: p.requires_grad for n, p in self._backend.named_parameters()}
        self._replacements: dict[Path, Replacement] = {}

    def reset_network(self, seed: int = 0) -> Model:
        """The same architecture, tokenizer and backend with freshly initialized weights.

        The "reset network" control: what an analysis finds here comes from the architecture or
        the analysis itself, not from training. Deterministic per ``seed``; loaded once.
        """
        if seed not in self._resets and self.remote == "ndif":
            raise Unsupported(f"{self.name}: the reset-network control needs a model with "
                              "fresh weights, which NDIF does not host; run this claim with "
                              "--claims-remote=off (or local)")
        if seed not in self._resets and self.planning:
            reset = object.__new__(Model)
            reset.remote = "off"
            reset._setup(f"{self.name} (reset network, seed {seed})", self.backend, LoadedHF(
                source=self.source, hf_model=None, tokenizer=self.tokenizer,
                weights_hash=f"{self.weights_hash}:reset-{seed}:plan",
                tokenizer_hash=self.tokenizer_hash, config=self._hf_config), self.cache,
                plan=True)
            self._resets[seed] = reset
        if seed not in self._resets:
            import torch
            from transformers import AutoModelForCausalLM

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                hf = AutoModelForCausalLM.from_config(
                    self._hf_config, attn_implementation="eager",
                    dtype=getattr(torch, self.placement_spec.dtype))
            loaded = LoadedHF(
                source=self.source, hf_model=hf, tokenizer=self.tokenizer,
                weights_hash=f"{self.weights_hash}:reset-{seed}:torch-{torch.__version__}",
                tokenizer_hash=self.tokenizer_hash,
                placement=Placement(dtype=self.placement_spec.dtype))
            reset = object.__new__(Model)
            reset.remote = self.remote
            reset._setup(f"{self.name} (reset network, seed {seed})", self.backend, loaded,
                         self.cache)
            self._resets[seed] = reset
        return self._resets[seed]

    def __repr__(self) -> str:
        label = self.placement_spec.label()
        return f"<Model {self.name} on {self.backend}{', ' + label if label else ''}>"

    @property
    def native(self) -> Any:
        """The backend's own model object (HookedTransformer or nnsight LanguageModel)."""
        return self._backend.native

    # -- sites -----------------------------------------------------------------------------
    def site(self, spec: str | Site, default_kind: str = "z") -> Site:
        """Parse ``spec`` and check it exists in this model."""
        __tracebackhide__ = True
        s = self.spec
        site = parse_site(spec, default_kind=default_kind, n_layers=s.n_layers, n_heads=s.n_heads)
        return site.check(s.n_layers, s.n_heads, s.d_mlp, model=self.name)

    # -- tokens ----------------------------------------------------------------------------
    def token_id(self, word: str, *, where: str) -> int:
        """The single token id of ``word`` (tried with and without a leading space)."""
        return token_id(self.tokenizer, word, where=where, model_name=self.name)

    def tokenize(self, texts: Sequence[str], ids: Sequence[str]) -> Batch:
        """Tokenize prompts: bos + tokens, right-padded. Unknown words are an error.

        Memoized per (texts, ids): every analysis of a claim suite tokenizes the same datasets.
        """
        key = (tuple(texts), tuple(ids))
        if key not in self._batches:
            if len(self._batches) >= 64:
                self._batches.pop(next(iter(self._batches)))
            self._batches[key] = tokenize(self.tokenizer, texts, ids, bos_id=self.bos_id,
                                          pad_id=self.pad_id, n_ctx=self.spec.n_ctx,
                                          model_name=self.name)
        return self._batches[key]

    # -- running ---------------------------------------------------------------------------
    def remote_counters(self) -> dict[str, int]:
        """Requests, bytes sent and returned, retries of its remote traces (empty when local)."""
        if isinstance(self._backend, PlanBackend):  # what the real model would send
            return {"requests": self._backend.requests} if self.remote != "off" else {}
        runner = getattr(self._backend, "remote", None)
        return runner.counters() if runner is not None else {}

    def unembedding(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        """``(W_U [d_model, d_vocab], final-norm gain [d_model], "rms" | "ln", eps)``."""
        return self._backend.unembed()

    @contextlib.contextmanager
    def intervene(self, edits: Mapping[Site, Edit], name: str = "intervention") -> Iterator[Model]:
        """Apply ``edits`` to every :meth:`run` inside the ``with`` block; removed on exit, also
        when the block raises. Nested contexts compose (outer edits apply first)."""
        entry = ActiveEdits(edits, name)
        self._active.append(entry)
        try:
            yield self
        finally:
            # clean_up() may have dropped it already (a context left open, reported as a leak)
            self._active[:] = [e for e in self._active if e is not entry]

    def placement(self) -> tuple[list[str], list[str]]:
        """The sorted devices and dtypes of the model's parameters (e.g. ``["cpu"]``,
        ``["float32"]``; ``"disk"`` for weights Accelerate offloaded to disk), for the report's
        manifest. A model on NDIF: ``["ndif"]`` and the dtype its config names (the server's
        choice), or ``"as served"``."""
        if self.remote == "ndif" and not self.planning:
            dtype = getattr(self._hf_config, "torch_dtype", None)
            return ["ndif"], [str(dtype).removeprefix("torch.") if dtype else "as served"]
        params = [t for _, t in self._backend.named_parameters()]
        devices = ({str(d) for d in self._device_map.values()} if self._device_map else
                   {str(t.device) for t in params})
        return (sorted(devices), sorted({str(t.dtype).removeprefix("torch.") for t in params}))

    # -- circuit-tracer --------------------------------------------------------------------
    def replacement(self, transcoders: Path) -> Replacement:
        """circuit-tracer's replacement model of this model on its backend, with the transcoder
        set in the folder ``transcoders``. Built once per folder from a *fresh* load (circuit-tracer
        mutates the model it wraps, so never this model's own) and kept until :meth:`close`."""
        if self.planning:
            raise NotPlanned(
                f"attribution graphs of {self.name} [{self.backend}] are not planned: "
                "circuit-tracer builds its own replacement model from the weights, which a plan "
                "does not load; its forward passes are not counted by a real run either, but the "
                "test's later steps are not planned")
        if self.remote != "off":
            raise Unsupported(
                f"attribution graphs of {self.name}: circuit-tracer runs its own replacement "
                f"model locally and cannot run remotely (remote={self.remote!r}); run graph "
                "claims with --claims-remote=off")
        if ":reset-" in self.weights_hash or self.edited_parameters():
            raise InterpClaimsError(
                f"attribution graphs of {self.name}: circuit-tracer builds its replacement model "
                "from the weights on disk, and this model's weights are not those (a reset-network "
                "control, or parameters edited in place); build graphs of the loaded model itself")
        if not self.placement_spec.is_default:
            raise Unsupported(
                f"attribution graphs of {self.name} loaded with {self.placement_spec.label()}: "
                "circuit-tracer builds its replacement model on one device in float32 here; "
                "build graphs of the model loaded without device_map= and dtype=")
        if transcoders not in self._replacements:
            loaded = load_hf(self.name)
            self._replacements[transcoders] = Replacement(
                self.backend, Path(self.source), loaded.hf_model, loaded.tokenizer, self.spec,
                transcoders)
        return self._replacements[transcoders]

    def close(self) -> None:
        """Release what this model built beside itself (circuit-tracer replacement models)."""
        for r in self._replacements.values():
            r.release()
        self._replacements.clear()
        for reset in self._resets.values():
            reset.close()
        if self._offload_folder:
            import shutil

            shutil.rmtree(self._offload_folder, ignore_errors=True)

    # -- hygiene ---------------------------------------------------------------------------
    def leaks(self) -> list[str]:
        """What a test left on the model (empty when clean): open intervention contexts, hooks
        on any submodule, persistent edits, SAEs or transcoders attached (SAELens's
        ``HookedSAETransformer.add_sae``, an SAE module set on the nnsight model), and parameters
        edited in place."""
        from interpclaims.models._sae_leaks import attached_saes

        open_contexts = [f"open interpclaims context {e.name!r}" for e in self._active]
        return open_contexts + self._backend.attached() + attached_saes(self.native) + [
            f"parameter {p} edited in place" for p in self.edited_parameters()] + [
            f"requires_grad of {n} turned {'on' if on else 'off'}"
            for n, on in self._grad_changes().items()]

    def _grad_changes(self) -> dict[str, bool]:
        return {n: p.requires_grad for n, p in self._backend.named_parameters()
                if n in self._grads and p.requires_grad != self._grads[n]}

    def edited_parameters(self) -> list[str]:
        """Parameters whose values differ from the weights loaded from disk."""
        return changed_parameters(self._weights, self._backend.named_parameters())

    def clean_up(self) -> None:
        """Remove open contexts, hooks and edits. Weights edited in place cannot be undone here:
        the registry reloads such a model (:meth:`ModelRegistry.discard`)."""
        from interpclaims.models._sae_leaks import detach_saes

        self._active.clear()
        detach_saes(self.native)
        self._backend.detach_all()
        params = dict(self._backend.named_parameters())
        for n in self._grad_changes():
            params[n].requires_grad_(self._grads[n])

