"""Feature comparison: two features' decodability across layers — "does syntax emerge before
semantics?".

Both features are probed (the :func:`~interpclaims.probe` of each, cross-fitted over its seeds,
no controls) at every site of a residual-stream sweep (``embed``, then each layer's
``resid_post``) on the same prompts. The sites are indexed ``0`` (embed) … ``n`` (after layer
``n - 1``). From the two curves:

* ``first_above[f]`` — the first site index whose accuracy reaches ``threshold`` (``n + 1`` when
  none does: "never");
* ``peak[f]`` — the site index of the highest accuracy (the first, on a tie);
* ``onset_difference`` — ``first_above[a] - first_above[b]`` (negative: ``a`` emerges first);
* ``area_difference`` — the area between the curves, ``Σ (acc_a - acc_b)`` by the trapezoid rule
  over unit-spaced sites (positive: ``a`` is more decodable across the stack).

Intervals: the per-site curves keep the probe's own (seeds × prompts) intervals. The derived
statistics are percentile-bootstrap intervals over prompts: the prompts are resampled together
for both features and every site (paired), each prompt carrying its held-out accuracy averaged
over the probe's seeds, and the statistic is recomputed on the resampled curves. The area is
linear in the per-prompt accuracies, so its estimate is an ordinary per-prompt mean with the
harness's interval rules (and per-prompt samples for a p-value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims._estimate_sets import EstimateMatrix
from interpclaims.analyses._classifiers import CLASSIFIERS, Classifier
from interpclaims.analyses._decodability import (
    bootstrap_estimate,
    layer_sites,
    probe_curve,
    resample,
    resampled_means,
)
from interpclaims.analyses._prepare import Positions, check_model, choice, fraction

if TYPE_CHECKING:
    from interpclaims.models import Model

__all__ = ["FeatureComparison", "compare_features", "first_above", "peak_index"]


def first_above(curves: np.ndarray, threshold: float) -> np.ndarray:
    """The first site index of each curve (last axis: sites) whose value reaches ``threshold``;
    the number of sites when none does."""
    hit = curves >= threshold
    return np.where(hit.any(-1), hit.argmax(-1), curves.shape[-1])


def peak_index(curves: np.ndarray) -> np.ndarray:
    """The site index of each curve's maximum (the first, on a tie)."""
    return curves.argmax(-1)


def area(curves: np.ndarray) -> np.ndarray:
    """Trapezoid area of each curve over unit-spaced sites."""
    return curves.sum(-1) - (curves[..., 0] + curves[..., -1]) / 2


@dataclass(frozen=True, slots=True)
class FeatureComparison:
    """Two features' decodability curves and what separates them (see the module docstring)."""

    features: tuple[str, str]
    sites: tuple[str, ...]
    threshold: float
    curves: Mapping[str, tuple[Estimate, ...]]
    first_above: Mapping[str, Estimate]
    peak: Mapping[str, Estimate]
    onset_difference: Estimate
    area_difference: Estimate

    def curve(self) -> EstimateMatrix:
        """Features × sites accuracies (a claim on a cell draws the curves as a heatmap)."""
        return EstimateMatrix(title=f"probe accuracy of {' vs '.join(self.features)} by site",
                              rows=self.features, cols=self.sites,
                              cells=tuple(self.curves[f] for f in self.features))


def compare_features(
    model: Model,
    features: Sequence[str],
    data: DataSpec | Dataset = "agreement",
    *,
    threshold: float = 0.75,
    position: Positions = -1,
    layers: Sequence[int] | None = None,
    seeds: int | Sequence[int] | None = None,
    classifier: Classifier = "ridge",
) -> FeatureComparison:
    """Compare the decodability of two features (dataset fields) across layers.

    ``features``: two field names, e.g. ``("number", "category")``; ``threshold``: the accuracy
    that counts as "decodable" for ``first_above``; ``layers``: which layers after the embedding
    (all by default); ``position``, ``seeds``, ``classifier``: as for :func:`probe`.
    """
    __tracebackhide__ = True
    model = check_model(model, "compare_features")
    if isinstance(features, str) or len(features) != 2 or len(set(features)) != 2:
        raise InterpClaimsError(f"compare_features(features=): give two different dataset fields, "
                                f"e.g. ('number', 'category'); got {features!r}")
    a, b = (str(f) for f in features)
    fraction(threshold, "threshold", "compare_features", 0.0, 1.0)
    classifier = choice(classifier, CLASSIFIERS, "classifier",  # type: ignore[assignment]
                        "compare_features")
    labels, sites = layer_sites(model, layers, "compare_features")
    curves = {f: probe_curve(model, sites, f, data, position, seeds, classifier) for f in (a, b)}
    table = np.stack([curves[a].table, curves[b].table])  # [2, sites, prompts]
    n = table.shape[-1]
    what = f"{a} vs {b} on {model.name}, sites {', '.join(labels)}"
    idx = resample(n, "compare_features", what)
    boot = resampled_means(table, idx)  # [B, 2, sites]
    full = table.mean(-1)  # [2, sites]

    def est(value: float, reps: np.ndarray, label: str, how: str) -> Estimate:
        return bootstrap_estimate(value, reps, n, label, f"{how}, {what}")

    onset = first_above(full, threshold)
    onset_b = first_above(boot, threshold)
    peaks, peaks_b = peak_index(full), peak_index(boot)
    rule = f"first site index with probe accuracy >= {threshold:g} ({len(labels)} = never)"
    per_prompt_area = area(table[0].T) - area(table[1].T)
    return FeatureComparison(
        features=(a, b), sites=labels, threshold=float(threshold),
        curves={f: curves[f].estimates for f in (a, b)},
        first_above={f: est(onset[i], onset_b[:, i], f"first_above({f}, {threshold:g})", rule)
                     for i, f in enumerate((a, b))},
        peak={f: est(peaks[i], peaks_b[:, i], f"peak_site({f})", "site index of the highest "
                     "probe accuracy") for i, f in enumerate((a, b))},
        onset_difference=est(onset[0] - onset[1], onset_b[:, 0] - onset_b[:, 1],
                             f"onset_difference({a} - {b})", f"difference of the {rule}"),
        area_difference=estimate_from_samples(
            per_prompt_area, label=f"area_difference({a} - {b})", unit_ids=curves[a].unit_ids,
            method=f"area between the probe-accuracy curves (trapezoid over unit-spaced sites) "
                   f"per prompt, {what}"),
    )
