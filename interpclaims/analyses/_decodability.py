"""Shared by the layer-wise research actions (feature comparison, representation collapse,
polysemanticity): the sites of a layer sweep, the activations at one read position, per-prompt
probe accuracies per layer, and percentile-bootstrap estimates over prompts.

The layer sweep reads the residual stream: ``embed`` (the input of layer 0, ``resid_pre(0)``)
then ``L0`` … ``L{n-1}`` (``resid_post`` of each layer, before the final norm). Activations come
through the model's normal read path (``Model.run``), so the activation store caches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate
from interpclaims._sites import Site
from interpclaims.analyses._classifiers import Classifier
from interpclaims.analyses._prepare import Positions, positions_mask, prepare
from interpclaims.analyses._probe import probe

if TYPE_CHECKING:
    from interpclaims.models import Model

MAX_RESAMPLES = 2000

__all__ = ["Curve", "bootstrap_estimate", "layer_sites", "probe_curve", "read_rows", "resample",
           "resampled_means"]


def layer_sites(model: Model, layers: Sequence[int] | None, analysis: str
                ) -> tuple[tuple[str, ...], tuple[Site, ...]]:
    """Labels and sites of a residual-stream sweep: ``embed`` then each layer's ``resid_post``
    (``layers``: which layers after the embedding; all by default)."""
    __tracebackhide__ = True
    n = model.spec.n_layers
    chosen = list(range(n)) if layers is None else list(layers)
    bad = [x for x in chosen if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < n]
    if bad or not chosen:
        raise InterpClaimsError(f"{analysis}(layers=): {bad or chosen!r} is not a list of layer "
                                f"indices of {model.name} (0 to {n - 1})")
    labels = ("embed", *(f"L{x}" for x in sorted(set(chosen))))
    sites = (Site("resid_pre", 0), *(Site("resid_post", x) for x in sorted(set(chosen))))
    return labels, sites


def read_rows(model: Model, sites: Sequence[Site], data: DataSpec | Dataset, position: Positions,
              analysis: str) -> tuple[Dataset, dict[Site, np.ndarray]]:
    """``{site: [n_prompts, d] float64}``: each prompt's activation at the read position."""
    __tracebackhide__ = True
    ds, batch = prepare(model, data)
    where = positions_mask(batch, ds, position, analysis, "position")
    rows = model.run_at(batch.tokens, sites, where)  # chunk by chunk from the store
    return ds, {s: rows[s].reshape(int(where.sum()), -1).double().numpy() for s in sites}


class Curve:
    """A decodability curve: the probe's accuracy at each site of a sweep (``estimates``, with the
    probe's own intervals: seeds × prompts pooled) and the per-prompt accuracies behind them
    (``table [n_sites, n_prompts]``, each prompt's held-out accuracy averaged over the seeds)."""

    __slots__ = ("estimates", "table", "unit_ids")

    def __init__(self, estimates: tuple[Estimate, ...], table: np.ndarray,
                 unit_ids: tuple[str, ...]) -> None:
        self.estimates = estimates
        self.table = table
        self.unit_ids = unit_ids


def probe_curve(model: Model, sites: Sequence[Site], task: str, data: DataSpec | Dataset,
                position: Positions, seeds: int | Sequence[int] | None, classifier: Classifier
                ) -> Curve:
    """The probe of ``task`` at every site (no controls), cross-fitted as :func:`probe` is."""
    ests = tuple(probe(model, s, task, data, position=position, controls=(), seeds=seeds,
                       classifier=classifier).accuracy for s in sites)
    ids = ests[0].unit_ids or ()
    return Curve(ests, np.stack([e.prompt_values() for e in ests]), tuple(ids))


def resample(n: int, label: str, method: str, most: int = MAX_RESAMPLES) -> np.ndarray:
    """``[B, n]`` bootstrap indices over prompts, seeded by the claim and ``label``: ``B`` is the
    claim's ``n_resamples`` up to ``most`` (these statistics recompute whole curves per
    resample)."""
    rng = _context.rng("bootstrap", label, method)
    return rng.integers(0, n, size=(min(_context.current().n_resamples, most), n))


def bootstrap_estimate(value: float, replicates: np.ndarray, n: int, label: str, method: str
                       ) -> Estimate:
    """An estimate with the percentile-bootstrap interval of its ``replicates`` (widened to
    contain the full-data ``value`` where a discrete statistic's replicates miss it)."""
    ctx = _context.current()
    tail = (1 - ctx.ci_level) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return Estimate(value=float(value), ci_low=min(float(low), float(value)),
                    ci_high=max(float(high), float(value)), n=n,
                    method=f"{method}; percentile bootstrap over prompts "
                           f"({replicates.size} resamples)",
                    label=label, ci_level=ctx.ci_level)


def resampled_means(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The per-site mean of every resample: ``table [..., n]`` and ``idx [B, n]`` give
    ``[B, ...]``."""
    return np.moveaxis(table[..., idx].mean(-1), -1, 0)
