"""When and how a model consults the activation store: the :class:`StoreCache` policy.

A model's clean runs (no edits) read their activations through a
:class:`~interpclaims.models.CleanCache`; :class:`StoreCache` is that cache on an
:class:`~interpclaims.activations.ActivationStore`. The model runs only on a miss, and a small
model then extracts every site at once, so later analyses of the same prompts run no forward pass
at all. Tensors handed back by ``read`` are read-only memory maps; ``gather`` copies out only the
positions an analysis reads, chunk by chunk, so a large entry never becomes resident.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from interpclaims._sites import LAYER_KINDS, Site

if TYPE_CHECKING:
    import numpy as np
    import torch

    from interpclaims.activations._store import ActivationStore
    from interpclaims.backends import ModelSpec
    from interpclaims.models import Model

__all__ = ["PREFETCH_MAX", "StoreCache", "prefetch_sites"]

PREFETCH_MAX = 4096  # n_layers * d_model up to which a cache miss extracts every site


def prefetch_sites(spec: ModelSpec) -> list[Site]:
    """Every whole-tensor site of a model small enough (``n_layers * d_model`` up to
    :data:`PREFETCH_MAX`) to extract them all on a miss; none for a larger model."""
    if spec.n_layers * spec.d_model > PREFETCH_MAX:
        return []
    return [Site(k, ly) for ly in range(spec.n_layers) for k in LAYER_KINDS if k != "result"]


class StoreCache:
    """A :class:`~interpclaims.models.CleanCache` backed by an activation store.

    Only a clean model touches the store: while ``model.leaks()`` reports anything (a hook left
    on a submodule, a persistent edit, weights edited in place, an open intervention), its
    forward pass is not the clean one, so :meth:`read` neither reads the store (the stored
    activations would not be what this model computes) nor writes it (its activations would
    poison every later run): it runs ``model.forward`` and counts the run as ``bypassed``.
    """

    def __init__(self, store: ActivationStore) -> None:
        self.store = store
        self.bypassed = 0

    def __repr__(self) -> str:
        return f"StoreCache({self.store!r})"

    def counters(self) -> dict[str, int]:
        """The store's cumulative counters (hits, misses, writes, corrupt) and the reads that
        bypassed the store because the model was not clean."""
        return {**self.store.stats.to_json(), "bypassed": self.bypassed}

    def read(self, model: Model, tokens: torch.Tensor, bases: Sequence[Site],
             batch_size: int | None) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Logits ``[batch, pos, d_vocab]`` and the clean activations ``bases`` of ``tokens``
        ``[batch, pos]``, from the store; ``model.forward`` runs only on a miss, or whenever the
        model is not clean (``model.leaks()``), in which case the store is not touched."""
        import torch

        if model.leaks():  # checked on every read: a clean model may have been hooked since
            self.bypassed += 1
            return model.forward(tokens, bases, {}, batch_size)
        arrays = self._arrays(model, tokens, [Site("logits"), *bases], batch_size)
        with warnings.catch_warnings():  # read-only memory maps: analyses never write in place
            warnings.simplefilter("ignore", UserWarning)
            tensors = {s: torch.from_numpy(arr) for s, arr in arrays.items()}
        return tensors.pop(Site("logits")), tensors

    def gather(self, model: Model, tokens: torch.Tensor, bases: Sequence[Site],
               where: np.ndarray, batch_size: int | None) -> dict[Site, torch.Tensor]:
        """The clean activations ``bases`` of ``tokens`` ``[batch, pos]`` at the positions
        ``where`` (``[batch, pos]`` bool): ``{base: [where.sum(), ...]}``, prompt by prompt.

        Stored entries are read chunk by chunk, their pages released after each chunk
        (:func:`~interpclaims.activations._gather.gather_rows`), so a large entry is never held in
        memory; the logits are not read. Misses and unclean models as in :meth:`read`.
        """
        import torch

        from interpclaims.activations._gather import gather_rows

        if model.leaks():
            self.bypassed += 1
            _, acts = model.forward(tokens, bases, {}, batch_size)
            mask = torch.from_numpy(where)
            return {b: acts[b][mask] for b in bases}
        arrays = self._arrays(model, tokens, bases, batch_size)
        return {s: torch.from_numpy(gather_rows(arr, where)) for s, arr in arrays.items()}

    def _arrays(self, model: Model, tokens: torch.Tensor, requested: Sequence[Site],
                batch_size: int | None) -> dict[Site, np.ndarray]:
        """The stored arrays (read-only memory maps) of the sites ``requested``, the model run
        once on a miss (then a small model extracts every site, and always the logits)."""
        from interpclaims.activations._key import StoreKey, tokens_digest

        digest = tokens_digest(tokens.numpy())

        def key(site: Site) -> StoreKey:
            return StoreKey(weights=model.weights_hash, backend=model.backend,
                            dtype=model.placement_spec.dtype,
                            tokenizer=model.tokenizer_hash, tokens=digest, site=str(site))

        # A small model asks for every site at once: one forward pass on a miss serves all later
        # analyses of these prompts, and the per-key locks (taken in a fixed order) make a second
        # xdist worker wait for that pass instead of repeating it.
        if all(key(s) in self.store for s in requested):
            wanted = list(requested)  # the warm path opens only what is asked for
        else:
            prefetch = prefetch_sites(model.spec)
            extra = (set(requested) | set(prefetch)) - {Site("logits")}
            wanted = [Site("logits"), *sorted(extra, key=lambda s: s.order)]
        keys = {key(s): s for s in wanted}

        def compute(missing: list[StoreKey]) -> dict[StoreKey, np.ndarray]:
            sites = [keys[k] for k in missing if keys[k].kind != "logits"]
            logits, acts = model.forward(tokens, sites, {}, batch_size)
            acts[Site("logits")] = logits
            return {k: acts[keys[k]].numpy() for k in missing}

        arrays = self.store.get_or_compute_many(list(keys), compute)
        return {keys[k]: a for k, a in arrays.items() if keys[k] in requested}
