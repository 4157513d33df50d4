"""Representation collapse: does a feature stay decodable up the stack, and how alike are the
layers' representations?

* ``curve`` — the probe accuracy of ``task`` at each site of a residual-stream sweep (``embed``,
  then each layer's ``resid_post``; the probe's own seeds × prompts intervals);
* ``collapse_index`` — the early peak minus the final site: ``max(acc[:-1]) - acc[-1]``
  (positive: the feature was more decodable earlier than at the end); percentile-bootstrap
  interval over prompts (each prompt carries its held-out accuracy averaged over the seeds, and
  all sites are resampled together);
* ``cka`` — the site × site linear CKA matrix (Kornblith et al. 2019) of the activations of the
  same prompts at the read position, as an :class:`~interpclaims.EstimateMatrix` (the report draws
  it as a heatmap); each cell's interval is a basic (reverse-percentile) bootstrap over prompts
  (the same prompts resampled for both sites): resampling duplicates prompts, which raises CKA,
  and the basic interval corrects for that bias where the percentile one doubles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec
from interpclaims._estimate import Estimate
from interpclaims._estimate_sets import EstimateMatrix
from interpclaims.analyses._classifiers import CLASSIFIERS, Classifier
from interpclaims.analyses._decodability import (
    bootstrap_estimate,
    layer_sites,
    probe_curve,
    read_rows,
    resample,
    resampled_means,
)
from interpclaims.analyses._prepare import Positions, check_model, choice, count
from interpclaims.stats import linear_cka

if TYPE_CHECKING:
    from interpclaims.models import Model

__all__ = ["DEFAULT_CKA_RESAMPLES", "Collapse", "representation_collapse"]

# CKA is recomputed for every pair of sites per resample; 200 resamples put the 2.5% and 97.5%
# percentiles within ~0.01 of their limits on the zoo (CKA's bootstrap spread there is ~0.02)
DEFAULT_CKA_RESAMPLES = 200


@dataclass(frozen=True, slots=True)
class Collapse:
    """The decodability curve of one feature, its collapse index, and the layers' CKA."""

    task: str
    sites: tuple[str, ...]
    curve: tuple[Estimate, ...]
    collapse_index: Estimate
    cka: EstimateMatrix

    def decodability(self) -> EstimateMatrix:
        """The curve as a one-row matrix over the sites (a claim on a cell draws it)."""
        return EstimateMatrix(title=f"probe accuracy of {self.task} by site", rows=(self.task,),
                              cols=self.sites, cells=(self.curve,))


def collapse_index(curves: np.ndarray) -> np.ndarray:
    """``max(curve[:-1]) - curve[-1]`` of each curve (last axis: sites)."""
    return curves[..., :-1].max(-1) - curves[..., -1]


def _cka_estimate(value: float, reps: np.ndarray, n: int, label: str, what: str) -> Estimate:
    """CKA with the *basic* (reverse-percentile) bootstrap interval ``[2v − q_hi, 2v − q_lo]``
    (clipped to [0, 1], widened to contain ``v``). A resample duplicates prompts, which raises
    CKA, so the resampled values sit above the sample's as the sample's sit above the
    population's: the percentile interval inherits that bias twice. Measured on Gaussian data
    (n = 200, d = 16, 150 data sets per setting), the percentile interval covered the population
    CKA 0–27% of the time; the basic one 91–97% (``tests/test_research_actions.py``)."""
    ctx = _context.current()
    tail = (1 - ctx.ci_level) / 2
    q_lo, q_hi = np.quantile(reps, [tail, 1 - tail])
    low, high = max(0.0, 2 * value - float(q_hi)), min(1.0, 2 * value - float(q_lo))
    return Estimate(value=float(value), ci_low=min(low, float(value)),
                    ci_high=max(high, float(value)), n=n, label=label, ci_level=ctx.ci_level,
                    method=f"linear CKA, {what}; basic bootstrap over prompts ({reps.size} "
                           "resamples; corrects the upward bias of a resample's CKA)")


def _cka_matrix(acts: Sequence[np.ndarray], idx: np.ndarray, labels: tuple[str, ...],
                what: str) -> EstimateMatrix:
    """Site × site linear CKA with per-cell bootstrap intervals over prompts."""
    k, n = len(acts), acts[0].shape[0]
    cells: list[list[Estimate | None]] = [[None] * k for _ in range(k)]
    for i in range(k):
        for j in range(i, k):
            value = linear_cka(acts[i], acts[j])
            reps = np.array([linear_cka(acts[i][r], acts[j][r]) for r in idx])
            label = f"cka({labels[i]}, {labels[j]})"
            cells[i][j] = cells[j][i] = _cka_estimate(value, reps, n, label, what)
    return EstimateMatrix(title=f"linear CKA between sites, {what}", rows=labels, cols=labels,
                          cells=tuple(tuple(c for c in row if c is not None) for row in cells))


def representation_collapse(
    model: Model,
    task: str,
    data: DataSpec | Dataset = "agreement",
    *,
    position: Positions = -1,
    layers: Sequence[int] | None = None,
    seeds: int | Sequence[int] | None = None,
    classifier: Classifier = "ridge",
    cka_resamples: int = DEFAULT_CKA_RESAMPLES,
) -> Collapse:
    """The decodability curve of ``task`` across layers, its collapse index and the layer-to-layer
    CKA matrix (see the module docstring). ``position``, ``seeds``, ``classifier``: as for
    :func:`probe`; ``layers``: which layers after the embedding (all by default);
    ``cka_resamples``: bootstrap resamples per CKA cell."""
    __tracebackhide__ = True
    model = check_model(model, "representation_collapse")
    classifier = choice(classifier, CLASSIFIERS, "classifier",  # type: ignore[assignment]
                        "representation_collapse")
    cka_resamples = count(cka_resamples, "cka_resamples", "representation_collapse", low=10)
    labels, sites = layer_sites(model, layers, "representation_collapse")
    curve = probe_curve(model, sites, task, data, position, seeds, classifier)
    what = f"{model.name} at position {position}, sites {', '.join(labels)}"
    n = curve.table.shape[1]
    boot = resampled_means(curve.table, resample(n, "collapse_index", f"{task}, {what}"))
    index = bootstrap_estimate(
        float(collapse_index(curve.table.mean(-1))), collapse_index(boot), n,
        f"collapse_index({task})",
        f"early peak minus final-site probe accuracy of {task!r}, {what}")
    ds, acts = read_rows(model, sites, data, position, "representation_collapse")
    idx = resample(len(ds.rows), "cka", what, most=cka_resamples)
    return Collapse(task=task, sites=labels, curve=curve.estimates, collapse_index=index,
                    cka=_cka_matrix([acts[s] for s in sites], idx, labels, what))
