"""How a :class:`~interpclaims.models.Model` runs prompts: batched forward passes (reads and
edits), clean reads through its :class:`CleanCache`, reads at chosen positions only, and the
gradient pass of attribution patching. Every pass is counted here."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from interpclaims._errors import InterpClaimsError
from interpclaims._sites import Site
from interpclaims.models._batch import prompts_per_pass
from interpclaims.models._edits import ActiveEdits, compose, editable
from interpclaims.models._placement import Placement, placed_edits, to_cpu
from interpclaims.models._sessions import Pass, sessions

if TYPE_CHECKING:
    import numpy as np
    import torch

    from interpclaims.backends import Backend, Edit, ModelSpec

__all__ = ["CleanCache", "Runs"]


class CleanCache(Protocol):
    """Where :meth:`Model.run` gets clean (edit-free) activations instead of running the model.

    ``read`` returns logits ``[batch, pos, d_vocab]`` and the whole-tensor ``bases`` of
    ``tokens`` ``[batch, pos]`` — from storage, or by calling ``model.forward`` on a miss.
    """

    def read(self, model: Any, tokens: torch.Tensor, bases: Sequence[Site],
             batch_size: int | None) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]: ...

    def gather(self, model: Any, tokens: torch.Tensor, bases: Sequence[Site],
               where: np.ndarray, batch_size: int | None) -> dict[Site, torch.Tensor]:
        """The clean ``bases`` of ``tokens`` at the positions ``where`` (``[batch, pos]`` bool):
        ``{base: [where.sum(), ...]}``, without holding a whole stored tensor in memory."""
        ...

    def counters(self) -> dict[str, int]:
        """Cumulative counters (hits, misses, ...) since the cache was opened."""
        ...


class Runs:
    """The running part of :class:`~interpclaims.models.Model` (a base class of it)."""

    name: str
    backend: str
    remote: str  # off | local | ndif
    spec: ModelSpec
    cache: CleanCache | None
    placement_spec: Placement
    forward_passes: int
    intervention_passes: int
    backward_passes: int
    _backend: Backend
    _active: list[ActiveEdits]

    def site(self, spec: str | Site, default_kind: str = "z") -> Site:
        raise NotImplementedError

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
        the head output weights, the same way on every backend. Without edits, activations come
        from the model's :class:`CleanCache` when it has one.
        """
        return next(self.run_many([(tokens, read, [edits or {}])], batch_size=batch_size))

    def run_many(
        self,
        requests: Sequence[tuple[torch.Tensor, Iterable[Site], Sequence[Mapping[Site, Edit]]]],
        *,
        batch_size: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, dict[Site, torch.Tensor]]]:
        """:meth:`run` of each independent ``(tokens, read, edit layers)``, yielded in order as
        each completes (no pass of a later request runs before). The sites, the edits and the
        open :meth:`intervene` contexts are read now; the edit layers compose in turn after
        those contexts (as nested contexts would). On a remote model the forward passes of all
        the requests go together, in as few sessions as the memory cap allows (one request to
        the server each) instead of one per pass."""
        plans = []
        passes: list[Pass] = []
        for tokens, read, layers in requests:
            sites = [self.site(s) for s in read]
            composed = editable(compose([*self._active, *layers]))
            bases = _bases(sites)
            clean = not composed and self.cache is not None
            mine = [] if clean else self._chunked(tokens, bases, composed, batch_size)
            plans.append((tokens, sites, bases, None if clean else len(mine)))
            passes += mine
        return self._yield_runs(plans, passes, batch_size)

    def _yield_runs(self, plans: list[tuple[torch.Tensor, list[Site], list[Site], int | None]],
                    passes: list[Pass], batch_size: int | None
                    ) -> Iterator[tuple[torch.Tensor, dict[Site, torch.Tensor]]]:
        """The results of :meth:`run_many`'s ``plans`` (tokens, sites, bases, number of passes
        or ``None`` for a clean read through the cache), from ``passes`` in order."""
        import torch

        done = self._execute(passes)
        for tokens, sites, bases, n_passes in plans:
            if n_passes is None:
                assert self.cache is not None
                logits, acts = self.cache.read(self, tokens, bases, batch_size)
            else:  # exactly this request's passes
                mine = list(itertools.islice(done, n_passes))
                logits = torch.cat([lg for _, lg, _ in mine])
                acts = {b: torch.cat([got[b] for _, _, got in mine]) for b in bases}
            for s in sites:
                if s.kind == "result":
                    z = acts[Site("z", s.layer)]  # [batch, pos, head, d_head]
                    acts[s.base] = torch.einsum("bphd,hdm->bphm", z, self._w_o(s))
            yield logits, acts

    def run_at(self, tokens: torch.Tensor, read: Iterable[Site], where: torch.Tensor, *,
               batch_size: int | None = None) -> dict[Site, torch.Tensor]:
        """The activations of ``read`` at the positions ``where`` (``[batch, pos]`` bool) of
        ``tokens`` ``[batch, pos]``: ``{site: [where.sum(), ...]}`` (the site's head or neuron
        selected), prompt by prompt — the values of ``site.select(run(...)[1][site.base])[where]``.

        Nothing of the size of the whole ``[batch, pos, ...]`` tensor is held: clean reads come
        from the :class:`CleanCache`'s ``gather`` (chunk by chunk from the store), and forward
        passes (edits open, or no cache) keep only the selected rows of each batch. Sites with
        no position axis in front (``pattern``, ``logits``) are read with :meth:`run`.
        """
        import torch

        read = [self.site(s) for s in read]
        flat = [s for s in read if s.kind in ("pattern", "logits")]
        if flat:
            raise InterpClaimsError(f"run_at(): {flat[0]} has no [batch, pos] layout to select "
                                    "positions from; read it with Model.run")
        bases = _bases(read)
        mask = torch.as_tensor(where, dtype=torch.bool)
        composed = editable(compose(self._active))
        if not composed and self.cache is not None:
            rows = self.cache.gather(self, tokens, bases, mask.numpy(), batch_size)
        else:  # keep only the selected rows of each pass
            parts: dict[Site, list[torch.Tensor]] = {b: [] for b in bases}
            for chunk, _, acts in self._passes(tokens, bases, composed, batch_size):
                for b in bases:
                    parts[b].append(acts[b][mask[chunk]])
            rows = {b: torch.cat(v) for b, v in parts.items()}
        out = {}
        for s in read:
            full = rows[s.base] if s.kind != "result" else torch.einsum(
                "nhd,hdm->nhm", rows[Site("z", s.layer)], self._w_o(s))
            out[s] = s.select(full.unsqueeze(1)).squeeze(1)  # select expects [batch, pos, ...]
        return out

    def _w_o(self, site: Site) -> torch.Tensor:
        """The head output weights ``[head, d_head, d_model]`` of a ``result`` site's layer."""
        assert site.layer is not None  # result sites are parsed with their layer
        return self._backend.w_o(site.layer)

    def forward(self, tokens: torch.Tensor, bases: Sequence[Site], edits: Mapping[Site, Edit],
                batch_size: int | None = None) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Forward passes over ``tokens`` ``[batch, pos]`` in batches, never through the cache:
        logits ``[batch, pos, d_vocab]`` and the whole-tensor ``bases`` (edits applied as given,
        open :meth:`intervene` contexts not included). Counted in :attr:`forward_passes`."""
        import torch

        logits_parts: list[torch.Tensor] = []
        parts: dict[Site, list[torch.Tensor]] = {b: [] for b in bases}
        for _, lg, acts in self._passes(tokens, bases, edits, batch_size):
            logits_parts.append(lg)
            for b in bases:
                parts[b].append(acts[b])
        return torch.cat(logits_parts), {b: torch.cat(v) for b, v in parts.items()}

    def _passes(self, tokens: torch.Tensor, bases: Sequence[Site], edits: Mapping[Site, Edit],
                batch_size: int | None) -> Iterator[tuple[slice, torch.Tensor,
                                                          dict[Site, torch.Tensor]]]:
        """``(rows, logits, {base: activation})`` of each forward pass over ``tokens``, in
        order, detached; counted in :attr:`forward_passes`."""
        for p, logits, acts in self._execute(self._chunked(tokens, bases, edits, batch_size)):
            yield p.rows, logits, acts

    def _chunked(self, tokens: torch.Tensor, bases: Sequence[Site], edits: Mapping[Site, Edit],
                 batch_size: int | None) -> list[Pass]:
        """The forward passes over ``tokens`` ``[batch, pos]``: consecutive rows, as many per
        pass as :func:`prompts_per_pass` allows."""
        size = prompts_per_pass(self.spec, tokens, bases, batch_size)
        return [Pass(tokens, slice(start, min(start + size, tokens.shape[0])), bases, edits)
                for start in range(0, tokens.shape[0], size)]

    def _execute(self, passes: Sequence[Pass]
                 ) -> Iterator[tuple[Pass, torch.Tensor, dict[Site, torch.Tensor]]]:
        """Run ``passes`` in order: ``(pass, logits, {base: activation})``, detached, counted
        in :attr:`forward_passes`. Locally one at a time; a remote model sends them in sessions
        (:func:`sessions`), each one request."""
        from interpclaims.models._progress import progress

        placed = not self.placement_spec.is_default
        detach = to_cpu if placed else (lambda t: t.detach())
        groups = sessions(self.spec, passes) if self.remote != "off" else [[p] for p in passes]
        for group in progress(groups, f"{self.name} [{self.backend}]"):
            # placed: edits see, and reads return, CPU float32 tensors (see placed_edits)
            outs = self._backend.forward_many([
                (p.tokens[p.rows], p.rows, p.bases, placed_edits(p.edits) if placed else p.edits)
                for p in group])
            for p, (lg, acts) in zip(group, outs, strict=True):
                self.forward_passes += 1
                self.intervention_passes += bool(p.edits)
                yield p, detach(lg), {b: detach(acts[b]) for b in p.bases}

    def forward_grad(self, tokens: torch.Tensor, bases: Sequence[Site], cotangent: torch.Tensor,
                     batch_size: int | None = None
                     ) -> tuple[torch.Tensor, dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
        """One forward and one backward pass per batch of ``tokens`` ``[batch, pos]``: logits,
        the whole-tensor activations at ``bases`` (layer sites) and the gradient of
        ``(logits * cotangent).sum()`` (``cotangent`` ``[batch, pos, d_vocab]``, e.g. a metric's
        derivative with respect to the logits) with respect to each. Open :meth:`intervene`
        contexts apply; never through the cache. Counted in :attr:`forward_passes` and
        :attr:`backward_passes`."""
        import torch

        bad = [str(b) for b in bases
               if b.kind in ("pattern", "result", "ln_final", "logits") or b != b.base]
        if bad:
            raise InterpClaimsError(
                f"forward_grad on {self.name}: {', '.join(bad)} is not a whole-tensor site the "
                "gradient can be read at (resid_pre, z, attn_out, resid_mid, mlp_post, mlp_out, "
                "resid_post); select heads or neurons from the result with site.select")
        edits = editable(compose(self._active))
        placed = not self.placement_spec.is_default
        if placed:  # as in _passes: edits see CPU float32, results come back as CPU float32
            edits = placed_edits(edits)
        size = prompts_per_pass(self.spec, tokens, bases, batch_size)
        parts: list[tuple[torch.Tensor, dict[Site, torch.Tensor], dict[Site, torch.Tensor]]] = []
        for start in range(0, tokens.shape[0], size):
            rows = slice(start, min(start + size, tokens.shape[0]))
            lg, acts, grads = self._backend.forward_grad(tokens[rows], rows, bases, edits,
                                                         cotangent[rows])
            if placed:
                lg, acts, grads = (to_cpu(lg), {b: to_cpu(v) for b, v in acts.items()},
                                   {b: to_cpu(v) for b, v in grads.items()})
            parts.append((lg, acts, grads))
            self.forward_passes += 1
            self.backward_passes += 1
        return (torch.cat([p[0] for p in parts]),
                {b: torch.cat([p[1][b] for p in parts]) for b in bases},
                {b: torch.cat([p[2][b] for p in parts]) for b in bases})


def _bases(read: Sequence[Site]) -> list[Site]:
    """The whole-tensor sites to read for ``read`` (``z`` for ``result``), in forward order."""
    return sorted({(Site("z", s.layer) if s.kind == "result" else s.base) for s in read},
                  key=lambda s: s.order)
