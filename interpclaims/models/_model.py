"""Models: a name resolves to a loaded model on a backend.

Names:

* ``zoo/<name>`` — a model shipped in ``fixtures/models/<name>`` (see ``python -m interpclaims.zoo``);
* a path to a local Hugging Face folder (``config.json`` + weights + tokenizer);
* a Hugging Face hub name. The hub is used only where it is reachable and allowed: interpclaims
  sets ``HF_HUB_OFFLINE=1`` unless the environment says otherwise, so a model not in the local
  cache fails fast with a message instead of stalling on the network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims._data import fixtures_dir
from interpclaims._errors import DataError, ModelLoadError, SiteError
from interpclaims._hashing import tokenizer_hash, weights_hash
from interpclaims._sites import KINDS, Site, parse_site
from interpclaims.backends import Backend, Edit, ModelSpec, load_backend

if TYPE_CHECKING:
    import torch

    from interpclaims.activations import ActivationStore

__all__ = ["BATCH_SIZE", "Batch", "Model", "ModelRegistry", "memory_cap_bytes", "resolve_model_path"]

ZOO_PREFIX = "zoo/"
BATCH_SIZE = 64
PREFETCH_MAX = 4096  # n_layers * d_model up to which a cache miss extracts every site


def memory_cap_bytes() -> int:
    """The memory cap of one batch's activations (``INTERPCLAIMS_MEMORY_CAP_MB``, default 512),
    read when used so that a test or a session can change it."""
    return int(float(os.environ.get("INTERPCLAIMS_MEMORY_CAP_MB", "512")) * 2**20)


def resolve_model_path(name: str) -> tuple[str, bool]:
    """``(source, is_local)``: a local folder for zoo names and paths, else the hub name."""
    if name.startswith(ZOO_PREFIX):
        zoo = fixtures_dir() / "models"
        path = zoo / name[len(ZOO_PREFIX):]
        if not (path / "config.json").is_file():
            have = sorted(p.name for p in zoo.iterdir() if (p / "config.json").is_file()) \
                if zoo.is_dir() else []
            raise ModelLoadError(
                f"no zoo model {name!r}: {path} has no config.json. Shipped zoo models: "
                f"{', '.join('zoo/' + h for h in have) or 'none'}. Build them with "
                "`python -m interpclaims.zoo build`."
            )
        return str(path), True
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{name!r} is a local path but has no config.json: a model folder needs the "
                "Hugging Face layout (config.json, model.safetensors, tokenizer files)"
            )
        return str(path.resolve()), True
    return name, False


def _hub_hint(name: str) -> str:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return (
            f"{name!r} is neither a zoo model (zoo/<name>) nor a local folder, and the Hugging Face "
            "hub is offline (HF_HUB_OFFLINE=1), so it must already be in the local Hugging Face "
            "cache. Download it once where the hub is reachable (huggingface-cli download "
            f"{name}), point to a local folder, or set HF_HUB_OFFLINE=0 to allow downloads."
        )
    return f"could not download {name!r} from the Hugging Face hub (is it reachable?)"


def _spec(hf_config: Any) -> ModelSpec:
    arch = (getattr(hf_config, "architectures", None) or [type(hf_config).__name__])[0]
    if arch == "GPT2LMHeadModel":
        n_heads = hf_config.n_head
        d_model = hf_config.n_embd
        return ModelSpec(
            architecture=arch, n_layers=hf_config.n_layer, n_heads=n_heads, d_model=d_model,
            d_head=d_model // n_heads, d_mlp=hf_config.n_inner or 4 * d_model,
            d_vocab=hf_config.vocab_size, n_ctx=hf_config.n_positions,
        )
    if arch == "LlamaForCausalLM":
        n_heads = hf_config.num_attention_heads
        d_model = hf_config.hidden_size
        return ModelSpec(
            architecture=arch, n_layers=hf_config.num_hidden_layers, n_heads=n_heads,
            d_model=d_model, d_head=getattr(hf_config, "head_dim", None) or d_model // n_heads,
            d_mlp=hf_config.intermediate_size, d_vocab=hf_config.vocab_size,
            n_ctx=hf_config.max_position_embeddings,
        )
    raise ModelLoadError(
        f"architecture {arch} is not supported yet; interpclaims supports LlamaForCausalLM and "
        "GPT2LMHeadModel"
    )


@dataclass(frozen=True, slots=True)
class Batch:
    """Right-padded token ids of a list of prompts."""

    tokens: torch.Tensor  # [batch, pos] long
    lengths: torch.Tensor  # [batch] long, number of real tokens (incl. bos)
    ids: tuple[str, ...]

    @property
    def mask(self) -> torch.Tensor:
        """``[batch, pos]`` bool, True on real tokens."""
        import torch

        pos = torch.arange(self.tokens.shape[1])
        return pos[None, :] < self.lengths[:, None]


class _ActiveEdits(dict):  # type: ignore[type-arg]
    """Edits of one open :meth:`Model.intervene` context (compared by identity)."""

    def __init__(self, edits: Mapping[Site, Edit], name: str) -> None:
        super().__init__(edits)
        self.name = name

    __eq__ = object.__eq__  # type: ignore[assignment]
    __hash__ = object.__hash__  # type: ignore[assignment]


def _compose(layers: Sequence[Mapping[Site, Edit]]) -> dict[Site, Edit]:
    """One edit per site: edits of later layers apply to the output of earlier ones."""
    out: dict[Site, Edit] = {}
    for layer in layers:
        for site, fn in layer.items():
            if site in out:
                first = out[site]

                def both(act: Any, rows: slice, first: Edit = first, fn: Edit = fn) -> Any:
                    return fn(first(act, rows), rows)

                out[site] = both
            else:
                out[site] = fn
    return out


class Model:
    """A model loaded on one backend: what the ``model`` fixture gives a claim."""

    def __init__(self, name: str, backend: str, store: ActivationStore | None = None) -> None:
        from interpclaims.models._torch import ensure_torch_settings

        ensure_torch_settings()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        source, is_local = resolve_model_path(name)
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(source)
            hf_model = AutoModelForCausalLM.from_pretrained(
                source, attn_implementation="eager", dtype="float32"
            )
        except OSError as e:
            if is_local:
                raise ModelLoadError(f"could not load model {name!r} from {source}: {e}") from e
            raise ModelLoadError(_hub_hint(name)) from e
        self._setup(name, backend, source, hf_model, tokenizer, store,
                    weights=weights_hash(source) if is_local else f"hub:{name}",
                    tokenizer_digest=tokenizer_hash(source) if is_local else f"hub:{name}")

    def _setup(self, name: str, backend: str, source: str, hf_model: Any, tokenizer: Any,
               store: ActivationStore | None, *, weights: str, tokenizer_digest: str) -> None:
        hf_model.eval()
        for p in hf_model.parameters():
            p.requires_grad_(False)
        self.name = name
        self.source = source
        self.spec = _spec(hf_model.config)
        self.tokenizer = tokenizer
        self.weights_hash = weights
        self._hf_config = hf_model.config
        self._backend: Backend = load_backend(backend, hf_model, tokenizer, self.spec)
        self.backend = backend
        if tokenizer.bos_token_id is None:
            raise ModelLoadError(f"the tokenizer of {name!r} has no bos token; interpclaims "
                                 "prepends bos to every prompt")
        self.bos_id: int = tokenizer.bos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.forward_passes = 0
        self._active: list[_ActiveEdits] = []
        self._batches: dict[tuple[tuple[str, ...], tuple[str, ...]], Batch] = {}
        self._resets: dict[int, Model] = {}
        self.store: ActivationStore | None = store
        # small models extract every site on the first miss (one pass serves all analyses)
        self._prefetch = self.spec.n_layers * self.spec.d_model <= PREFETCH_MAX
        self.tokenizer_hash = tokenizer_digest

    def reset_network(self, seed: int = 0) -> Model:
        """The same architecture, tokenizer and backend with freshly initialized weights.

        The "reset network" control: what an analysis finds here comes from the architecture or
        the analysis itself, not from training. Deterministic per ``seed``; loaded once.
        """
        if seed not in self._resets:
            import torch
            from transformers import AutoModelForCausalLM

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                hf = AutoModelForCausalLM.from_config(self._hf_config,
                                                      attn_implementation="eager",
                                                      dtype=torch.float32)
            reset = object.__new__(Model)
            reset._setup(f"{self.name} (reset network, seed {seed})", self.backend, self.source,
                         hf, self.tokenizer, self.store,
                         weights=f"{self.weights_hash}:reset-{seed}:torch-{torch.__version__}",
                         tokenizer_digest=self.tokenizer_hash)
            self._resets[seed] = reset
        return self._resets[seed]

    def __repr__(self) -> str:
        return f"<Model {self.name} on {self.backend}>"

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
        tok = self.tokenizer
        for text in (" " + word, word):
            ids = tok.encode(text, add_special_tokens=False)
            if len(ids) == 1 and ids[0] != tok.unk_token_id:
                return int(ids[0])
        raise DataError(
            f"{where}: {word!r} is not a single token of {self.name}'s tokenizer (got "
            f"{tok.tokenize(' ' + word)}); answers compared by logit must be single tokens"
        )

    def tokenize(self, texts: Sequence[str], ids: Sequence[str]) -> Batch:
        """Tokenize prompts: bos + tokens, right-padded. Unknown words are an error.

        Memoized per (texts, ids): every analysis of a claim suite tokenizes the same datasets.
        """
        key = (tuple(texts), tuple(ids))
        if key not in self._batches:
            if len(self._batches) >= 64:
                self._batches.pop(next(iter(self._batches)))
            self._batches[key] = self._tokenize(texts, ids)
        return self._batches[key]

    def _tokenize(self, texts: Sequence[str], ids: Sequence[str]) -> Batch:
        import torch

        tok = self.tokenizer
        rows = []
        for text, pid in zip(texts, ids, strict=True):
            toks = tok.encode(text, add_special_tokens=False)
            if tok.unk_token_id is not None and tok.unk_token_id in toks:
                words = [w for w in text.split() if tok.encode(w, add_special_tokens=False)
                         == [tok.unk_token_id]]
                raise DataError(
                    f"prompt {pid!r}: {words or 'some words'} are not in the vocabulary of "
                    f"{self.name} (they tokenize to {tok.unk_token!r}); fix the prompt or use a "
                    "dataset written for this model"
                )
            rows.append([self.bos_id, *toks])
        longest = max(len(r) for r in rows)
        if longest > self.spec.n_ctx:
            pid = ids[max(range(len(rows)), key=lambda i: len(rows[i]))]
            raise DataError(
                f"prompt {pid!r} is {longest} tokens long but {self.name} has a context of "
                f"{self.spec.n_ctx} tokens; shorten it"
            )
        tokens = torch.full((len(rows), longest), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        return Batch(tokens=tokens, lengths=lengths, ids=tuple(ids))

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        tokens: torch.Tensor,
        read: Iterable[Site] = (),
        edits: Mapping[Site, Edit] | None = None,
        *,
        batch_size: int | None = None,
    ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Run ``tokens`` ``[batch, pos]`` in batches; logits and whole-tensor activations.

        ``batch_size``: prompts per forward pass; by default as many as fit the memory cap
        (``INTERPCLAIMS_MEMORY_CAP_MB``, 512), at most 64.

        ``read`` may name heads or neurons: their whole-layer tensor is returned under
        ``site.base`` (select with ``site.select``). ``result`` sites are computed from ``z`` and
        the head output weights, the same way on every backend.
        """
        import torch

        read = [self.site(s) for s in read]
        edits = _compose([*self._active, dict(edits or {})])
        for site in edits:
            if site.kind in ("pattern", "result", "logits") or site.base != site:
                raise SiteError(
                    f"cannot edit site {site}: edits apply to whole-tensor sites of kind "
                    "resid_pre, z, attn_out, resid_mid, mlp_post, mlp_out or resid_post "
                    "(select heads/neurons inside the edit function)"
                )
        bases = sorted({(Site("z", s.layer) if s.kind == "result" else s.base) for s in read},
                       key=lambda s: s.order)
        if not edits and self.store is not None:
            logits, acts = self._cached(tokens, bases, batch_size)
        else:
            logits, acts = self._forward(tokens, bases, edits, batch_size)
        for s in read:
            if s.kind == "result":
                assert s.layer is not None
                z = acts[Site("z", s.layer)]  # [batch, pos, head, d_head]
                acts[s.base] = torch.einsum("bphd,hdm->bphm", z, self._backend.w_o(s.layer))
        return logits, acts

    def _batch_size(self, tokens: torch.Tensor, bases: Sequence[Site], requested: int | None) -> int:
        """Prompts per forward pass: ``requested``, else as many as fit the memory cap."""
        if requested is not None:
            return max(1, int(requested))
        s = self.spec
        pos = tokens.shape[1]
        width = {"z": s.n_heads * s.d_head, "pattern": s.n_heads * pos, "mlp_post": s.d_mlp}
        floats = pos * (s.d_vocab + sum(width.get(b.kind, s.d_model) for b in bases))
        # activations of the reads and logits, times 4 for the model's own intermediates
        per_prompt = 4 * floats * 4
        return int(max(1, min(BATCH_SIZE, memory_cap_bytes() // max(per_prompt, 1))))

    def _forward(self, tokens: torch.Tensor, bases: Sequence[Site], edits: Mapping[Site, Edit],
                 batch_size: int | None) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Forward passes over ``tokens`` in batches: logits and the whole-tensor ``bases``."""
        import torch

        from interpclaims.models._progress import progress

        size = self._batch_size(tokens, bases, batch_size)
        logits_parts: list[torch.Tensor] = []
        parts: dict[Site, list[torch.Tensor]] = {b: [] for b in bases}
        starts = range(0, tokens.shape[0], size)
        for start in progress(starts, f"{self.name} [{self.backend}]"):
            rows = slice(start, min(start + size, tokens.shape[0]))
            lg, acts = self._backend.forward(tokens[rows], rows, bases, edits)
            self.forward_passes += 1
            logits_parts.append(lg.detach())
            for b in bases:
                parts[b].append(acts[b].detach())
        return torch.cat(logits_parts), {b: torch.cat(v) for b, v in parts.items()}

    def _cached(self, tokens: torch.Tensor, bases: Sequence[Site], batch_size: int | None
                ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Clean activations through the activation store: the model runs only on a miss, and
        then extracts every site of a small model at once so later analyses of the same prompts
        run no forward pass at all."""
        import warnings

        import numpy as np
        import torch

        from interpclaims.activations import StoreKey, tokens_digest

        assert self.store is not None
        digest = tokens_digest(tokens.numpy())

        def key(site: Site) -> StoreKey:
            return StoreKey(weights=self.weights_hash, backend=self.backend, dtype="float32",
                            tokenizer=self.tokenizer_hash, tokens=digest, site=str(site))

        # A small model asks for every site at once: one forward pass on a miss serves all later
        # analyses of these prompts, and the per-key locks (taken in a fixed order) make a second
        # xdist worker wait for that pass instead of repeating it.
        requested = [Site("logits"), *bases]
        if all(key(s) in self.store for s in requested):
            wanted = requested  # the warm path opens only what is asked for
        else:
            prefetch = self._prefetch_sites() if self._prefetch else []
            wanted = [Site("logits"), *sorted(set(bases) | set(prefetch), key=lambda s: s.order)]
        keys = {key(s): s for s in wanted}

        def compute(missing: list[StoreKey]) -> dict[StoreKey, np.ndarray]:
            sites = [keys[k] for k in missing if keys[k].kind != "logits"]
            logits, acts = self._forward(tokens, sites, {}, batch_size)
            acts[Site("logits")] = logits
            return {k: acts[keys[k]].numpy() for k in missing}

        arrays = self.store.get_or_compute_many(list(keys), compute)
        arrays = {k: a for k, a in arrays.items() if keys[k] in requested}
        with warnings.catch_warnings():  # read-only memory maps: analyses never write in place
            warnings.simplefilter("ignore", UserWarning)
            tensors = {keys[k]: torch.from_numpy(arr) for k, arr in arrays.items()}
        return tensors.pop(Site("logits")), tensors

    def _prefetch_sites(self) -> list[Site]:
        s = self.spec
        return [Site(k, ly) for ly in range(s.n_layers) for k in KINDS
                if k not in ("logits", "result")]

    def unembedding(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        """``(W_U [d_model, d_vocab], final-norm gain [d_model], "rms" | "ln", eps)``."""
        return self._backend.unembed()

    @contextlib.contextmanager
    def intervene(self, edits: Mapping[Site, Edit], name: str = "intervention") -> Iterator[Model]:
        """Apply ``edits`` to every :meth:`run` inside the ``with`` block; removed on exit, also
        when the block raises. Nested contexts compose (outer edits apply first)."""
        entry = _ActiveEdits(edits, name)
        self._active.append(entry)
        try:
            yield self
        finally:
            # clean_up() may have dropped it already (a context left open, reported as a leak)
            self._active[:] = [e for e in self._active if e is not entry]

    # -- hygiene ---------------------------------------------------------------------------
    def leaks(self) -> list[str]:
        """Hooks or edits left attached to the model (empty when clean)."""
        open_contexts = [f"open interpclaims context {e.name!r}" for e in self._active]
        return open_contexts + self._backend.attached()

    def clean_up(self) -> None:
        self._active.clear()
        self._backend.detach_all()


class ModelRegistry:
    """Loaded models of one process, keyed by (name, backend); each is loaded once."""

    def __init__(self, store: ActivationStore | None = None,
                 store_factory: Callable[[], ActivationStore] | None = None) -> None:
        self.store = store
        self._store_factory = store_factory
        self._models: dict[tuple[str, str], Model] = {}
        self._seen: dict[tuple[str, str], int] = {}
        self._seen_store: dict[str, int] = {}
        self._errors: dict[tuple[str, str], ModelLoadError] = {}

    def get(self, name: str, backend: str) -> Model:
        __tracebackhide__ = True
        key = (name, backend)
        if key in self._errors:
            raise self._errors[key]
        if key not in self._models:
            if self.store is None and self._store_factory is not None:
                self.store = self._store_factory()
            try:
                self._models[key] = Model(name, backend, store=self.store)
            except ModelLoadError as e:
                self._errors[key] = e
                raise
        return self._models[key]

    def loaded(self) -> list[Model]:
        return list(self._models.values())

    def take_counters(self) -> dict[str, Any]:
        """Forward passes per model and backend, and store hits/misses, since the last call."""
        passes = {}
        for (name, backend), m in self._models.items():
            n = m.forward_passes - self._seen.get((name, backend), 0)
            self._seen[(name, backend)] = m.forward_passes
            if n:
                passes[f"{name} [{backend}]"] = n
        out: dict[str, Any] = {}
        if passes:
            out["forward_passes"] = passes
        if self.store is not None:
            now = self.store.stats.to_json()
            delta = {k: v - self._seen_store.get(k, 0) for k, v in now.items()}
            self._seen_store = now
            if any(delta.values()):
                out["cache"] = delta
        return out
