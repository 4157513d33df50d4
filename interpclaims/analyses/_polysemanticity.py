"""Polysemanticity: how a feature's probe direction sits on the neurons of an MLP layer, and which
neurons serve several features.

The site is the MLP's hidden activation (``mlp_post``: one coordinate per neuron), read at one
position. For each feature (a two-class dataset field) a ridge probe is fitted on all prompts (see
:mod:`._classifiers`) and its weight vector, in standardized neuron coordinates (each neuron
scaled to unit variance, so a near-silent neuron cannot dominate by its scale), is normalized to a
unit direction ``d_f``. Then:

* ``cosine(f, n)`` — ``d_f[n]``: the cosine of the probe direction with neuron ``n``'s basis
  vector;
* ``mass[f]`` — the projection mass on the top-``k`` neurons, ``Σ_{top k} d_f[n]²`` (1: the
  direction lives on ``k`` neurons; ``k / d_mlp``: spread evenly). Its control
  ``permutation_null`` holds the same mass for probes fitted to permuted labels (one ridge
  factorization fits them all), so ``claim.that(m).exceeds(m.control("permutation_null"))`` is a
  permutation test of "more neuron-aligned than a probe of no feature";
* ``loading(n)`` — the multi-feature loading index: each feature's ``|d_f[n]|`` relative to that
  feature's largest ``|d_f|``, and the neuron's *second-largest* of these (how strongly it serves
  a second feature; 1 when it is the top neuron of two features, 0 when it serves one only);
* ``shortlist`` — the polysemantic neurons: those in the top-``k`` of at least two features,
  by decreasing loading index.

Intervals: percentile bootstrap over prompts — the probes are refitted on each resample
(``resamples=``, 200 by default) and the statistic recomputed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate
from interpclaims._sites import Site
from interpclaims.analyses._classifiers import fit_weights
from interpclaims.analyses._decodability import bootstrap_estimate, read_rows, resample
from interpclaims.analyses._permutation_null import null_estimate
from interpclaims.analyses._prepare import Positions, check_model, class_labels, count

if TYPE_CHECKING:
    from interpclaims.models import Model

__all__ = ["Polysemanticity", "loadings", "polysemanticity", "top_k_mass"]

DEFAULT_POLY_RESAMPLES = 200
NULL_PERMUTATIONS = 999


def top_k_mass(directions: np.ndarray, k: int) -> np.ndarray:
    """``Σ`` of the ``k`` largest squared components of each unit direction (last axis)."""
    sq = np.sort(directions**2, axis=-1)
    return sq[..., -k:].sum(-1) / sq.sum(-1)


def loadings(directions: np.ndarray) -> np.ndarray:
    """Per neuron: the second-largest over features (axis -2) of ``|d_f[n]| / max |d_f|``."""
    rel = np.abs(directions) / np.abs(directions).max(-1, keepdims=True)
    return np.sort(rel, axis=-2)[..., -2, :]


def _directions(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit probe directions ``[m, d]`` (standardized coordinates) of ``labels [n, m]``."""
    _, _, w = fit_weights(x, labels, 2, "ridge")
    d = w[:-1, :, 0].T
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    return d / np.where(norm > 0, norm, 1.0)


@dataclass(frozen=True, slots=True)
class Polysemanticity:
    """Probe directions of several features on the neurons of one MLP site (see the module
    docstring); ``cosine`` and ``loading`` give estimates with bootstrap intervals."""

    site: Site
    features: tuple[str, ...]
    top_k: int
    mass: Mapping[str, Estimate]
    shortlist: tuple[int, ...]
    directions: np.ndarray = field(compare=False, repr=False)  # [features, neurons]
    replicates: np.ndarray = field(compare=False, repr=False)  # [resamples, features, neurons]
    n: int = 0

    def _feature(self, feature: str) -> int:
        __tracebackhide__ = True
        if feature not in self.features:
            raise InterpClaimsError(f"polysemanticity at {self.site}: no feature {feature!r}; "
                                    f"features: {', '.join(self.features)}")
        return self.features.index(feature)

    def _neuron(self, neuron: int) -> int:
        __tracebackhide__ = True
        width = self.directions.shape[1]
        if isinstance(neuron, bool) or not isinstance(neuron, int) or not 0 <= neuron < width:
            raise InterpClaimsError(f"polysemanticity at {self.site}: neuron {neuron!r} is not "
                                    f"an index from 0 to {width - 1}")
        return neuron

    def cosine(self, feature: str, neuron: int) -> Estimate:
        """Cosine of ``feature``'s probe direction with neuron ``neuron``'s basis vector."""
        f, j = self._feature(feature), self._neuron(neuron)
        return bootstrap_estimate(float(self.directions[f, j]), self.replicates[:, f, j], self.n,
                                  f"cosine({feature}, {self.site} neuron {j})",
                                  f"cosine of the ridge probe direction of {feature!r} with a "
                                  f"neuron (standardized coordinates) at {self.site}")

    def loading(self, neuron: int) -> Estimate:
        """The neuron's multi-feature loading index (its second-strongest relative loading)."""
        j = self._neuron(neuron)
        return bootstrap_estimate(float(loadings(self.directions)[j]), loadings(self.replicates)[:, j],
                                  self.n, f"loading({self.site} neuron {j})",
                                  f"second-largest relative loading over "
                                  f"{', '.join(self.features)} at {self.site}")


def polysemanticity(
    model: Model,
    layer: int,
    features: Sequence[str],
    data: DataSpec | Dataset = "agreement",
    *,
    position: Positions = -1,
    top_k: int = 8,
    resamples: int = DEFAULT_POLY_RESAMPLES,
) -> Polysemanticity:
    """Align the probe directions of ``features`` (two-class dataset fields, at least two) with
    the neurons of layer ``layer``'s MLP (``mlp_post``); see the module docstring."""
    __tracebackhide__ = True
    model = check_model(model, "polysemanticity")
    site = model.site(Site("mlp_post", count(layer, "layer", "polysemanticity", low=0)))
    names = tuple(str(f) for f in features)
    if isinstance(features, str) or len(set(names)) < 2:
        raise InterpClaimsError(f"polysemanticity(features=): give at least two different "
                                f"dataset fields, e.g. ('number', 'category'); got {features!r}")
    ds, acts = read_rows(model, [site], data, position, "polysemanticity")
    x = acts[site]
    top_k = count(top_k, "top_k", "polysemanticity")
    if top_k >= x.shape[1]:
        raise InterpClaimsError(f"polysemanticity(top_k={top_k}): {site} has {x.shape[1]} "
                                "neurons; top_k must be smaller")
    y = np.stack([_binary(ds, f) for f in names], axis=1)  # [n, features]
    directions = _directions(x, y)
    idx = resample(x.shape[0], "polysemanticity", str(site),
                   most=count(resamples, "resamples", "polysemanticity", low=10))
    replicates = np.stack([_directions(x[r], y[r]) for r in idx])
    rng = _context.rng("polysemanticity-null", str(site), *names)
    mass = {}
    for i, f in enumerate(names):
        perms = rng.permuted(np.broadcast_to(y[:, i], (NULL_PERMUTATIONS, y.shape[0])), axis=1)
        null = null_estimate(top_k_mass(_directions(x, perms.T), top_k), x.shape[0],
                             f"top{top_k}_mass({f}) under permutation_null",
                             f"top-{top_k} neuron mass of probes of permuted {f!r} at {site}")
        est = bootstrap_estimate(float(top_k_mass(directions[i], top_k)),
                                 top_k_mass(replicates[:, i], top_k), x.shape[0],
                                 f"top{top_k}_mass({f}, {site})",
                                 f"projection mass of the probe direction of {f!r} on its "
                                 f"top {top_k} neurons at {site}")
        mass[f] = dataclasses.replace(est, controls={"permutation_null": null})
    tops = np.argsort(-np.abs(directions), axis=1)[:, :top_k]
    counts = np.bincount(tops.reshape(-1), minlength=x.shape[1])
    poly = np.flatnonzero(counts >= 2)
    shortlist = tuple(int(j) for j in poly[np.argsort(-loadings(directions)[poly], kind="stable")])
    return Polysemanticity(site=site, features=names, top_k=top_k, mass=mass, shortlist=shortlist,
                           directions=directions, replicates=replicates, n=x.shape[0])


def _binary(ds: Dataset, feature: str) -> np.ndarray:
    __tracebackhide__ = True
    classes, raw = class_labels(ds, feature, "polysemanticity")
    if len(classes) != 2:
        raise InterpClaimsError(f"polysemanticity: feature {feature!r} has {len(classes)} "
                                f"classes ({', '.join(classes)}); each feature must have two")
    return np.array([classes.index(v) for v in raw])
