"""SAE features as claims: activation, selectivity, ablation and steering of one feature.

A feature is named by its site, ``L0.resid_post/sae:249`` (feature 249 of the SAE at layer 0's
residual output). ``sae=None`` takes the SAE shipped with the model (zoo/agreement's companion);
``sae="path"`` a SAELens folder; ``sae=ic.load_sae(path)`` a loaded one. Features are computed
from the base site's activation, read through the backend like any site, so TransformerLens and
NNsight give the same values.

Positions: ``"all"`` means every real token **except** ``<bos>`` (SAEs are trained on real
tokens; the shipped one never saw ``<bos>``); an int or a dataset field names one position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses._metrics import EFFECT_METRICS, EffectMetric, MetricFn, resolve
from interpclaims.analyses._prepare import Positions, check_model, choice, positions_mask, prepare
from interpclaims.interventions import FeatureEditMode, run_lenient, run_strict, sae_feature_edit
from interpclaims.models import SparseAutoencoder, sae_for
from interpclaims.stats import auroc_interval, bootstrap_mean_diff

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = ["FeatureEdit", "Selectivity", "feature_site", "sae_ablate", "sae_activation",
           "sae_positions", "sae_selectivity", "sae_steer"]

def feature_site(model: Model, site: str | Site, sae: Any, analysis: str
                 ) -> tuple[Site, SparseAutoencoder]:
    """The feature site and its SAE; errors name the analysis and what is valid."""
    __tracebackhide__ = True
    s = model.site(site, default_kind="resid_post")
    if s.feature is None:
        raise InterpClaimsError(f"{analysis}(): {s} is not an SAE feature; write the site with "
                                f"/sae:<feature>, e.g. '{s.base}/sae:0'")
    return s, sae_for(model, s, sae, analysis)


def sae_positions(batch: Batch, ds: Dataset, positions: Positions, analysis: str,
                  param: str = "positions") -> torch.Tensor:
    """``[batch, pos]`` mask: ``"all"`` is every real token but ``<bos>``."""
    __tracebackhide__ = True
    mask = positions_mask(batch, ds, positions, analysis, param)
    if positions == "all":
        mask = mask.clone()
        mask[:, 0] = False
    empty = [batch.ids[i] for i in (~mask.any(1)).nonzero().flatten().tolist()]
    if empty:  # a mean over no token would read as an activation of 0
        raise DataError(
            f"{analysis}({param}={positions!r}): {len(empty)} prompt(s) have no token there "
            f"(first {empty[0]!r}; 'all' skips <bos>); drop those prompts or choose positions "
            "every prompt has")
    return mask


def _activations(model: Model, s: Site, sae: SparseAutoencoder, batch: Batch
                 ) -> torch.Tensor:
    """Feature ``s.feature``'s activation at every token, ``[batch, pos]``."""
    _, acts = model.run(batch.tokens, read=[s.base])
    return sae.encode(acts[s.base])[..., s.feature]


def _per_prompt(values: torch.Tensor, where: torch.Tensor) -> np.ndarray:
    """Mean of ``values`` over each prompt's ``where`` positions."""
    v = (values * where).sum(1) / where.sum(1).clamp(min=1)
    return v.double().numpy()


def sae_activation(model: Model, site: str | Site, data: DataSpec | Dataset,
                   positions: Positions = "all", *, sae: Any = None) -> Estimate:
    """Mean activation of an SAE feature per prompt (over ``positions``), with its interval."""
    __tracebackhide__ = True
    model = check_model(model, "sae_activation")
    s, enc = feature_site(model, site, sae, "sae_activation")
    ds, batch = prepare(model, data)
    where = sae_positions(batch, ds, positions, "sae_activation")
    values = _per_prompt(_activations(model, s, enc, batch), where)
    return estimate_from_samples(values, method=f"sae feature activation of {s}",
                                 label=f"sae_activation({s})", unit_ids=tuple(batch.ids))


@dataclass(frozen=True, slots=True)
class Selectivity:
    """How an SAE feature separates two groups of prompts: the mean activation in each group,
    their difference (``a - b``, unpaired bootstrap) and the AUROC (DeLong)."""

    a: Estimate
    b: Estimate
    difference: Estimate
    auroc: Estimate


def sae_selectivity(model: Model, site: str | Site, data: DataSpec | Dataset, field: str,
                    a: Any, b: Any, positions: Positions = "all", *, sae: Any = None
                    ) -> Selectivity:
    """Does an SAE feature fire more on prompts whose ``field`` equals ``a`` than on those where
    it equals ``b``? Per prompt: the feature's mean activation over ``positions``."""
    __tracebackhide__ = True
    model = check_model(model, "sae_selectivity")
    s, enc = feature_site(model, site, sae, "sae_selectivity")
    ds, batch = prepare(model, data)
    labels = ds.field(field, analysis="sae_selectivity")
    where = sae_positions(batch, ds, positions, "sae_selectivity")
    values = _per_prompt(_activations(model, s, enc, batch), where)
    ga = np.array([v == a for v in labels])
    gb = np.array([v == b for v in labels])
    if ga.sum() < 2 or gb.sum() < 2:
        raise DataError(f"sae_selectivity: {ds.name} has {int(ga.sum())} rows with {field}={a!r} "
                        f"and {int(gb.sum())} with {field}={b!r}; each group needs two or more")
    ids = np.array(batch.ids)
    name = f"sae feature selectivity of {s} ({field}: {a!r} vs {b!r})"
    est_a = estimate_from_samples(values[ga], method=f"{name}; group {a!r}",
                                  label=f"sae_selectivity({s}, {field}={a!r})",
                                  unit_ids=tuple(ids[ga]))
    est_b = estimate_from_samples(values[gb], method=f"{name}; group {b!r}",
                                  label=f"sae_selectivity({s}, {field}={b!r})",
                                  unit_ids=tuple(ids[gb]))
    ctx = _context.current()
    diff, lo, hi = bootstrap_mean_diff(values[ga], values[gb],
                                       _context.rng("sae_selectivity", name), paired=False,
                                       n_resamples=ctx.n_resamples, level=ctx.ci_level)
    difference = Estimate(value=diff, ci_low=min(lo, diff), ci_high=max(hi, diff),
                          n=int(ga.sum() + gb.sum()), ci_level=ctx.ci_level,
                          method=f"{name}; difference of means, unpaired percentile bootstrap",
                          label=f"sae_selectivity({s}).difference")
    auc, alo, ahi = auroc_interval(values[ga], values[gb], level=ctx.ci_level)
    auroc = Estimate(value=auc, ci_low=min(alo, auc), ci_high=max(ahi, auc),
                     n=int(ga.sum() + gb.sum()), ci_level=ctx.ci_level,
                     method=f"{name}; AUROC, DeLong interval", label=f"sae_selectivity({s}).auroc")
    return Selectivity(est_a, est_b, difference, auroc)


@dataclass(frozen=True, slots=True)
class FeatureEdit:
    """What editing an SAE feature did: the effect on the metric over the data, and the side
    effect (default: KL of the next-token distribution) over unrelated prompts."""

    effect: Estimate
    side_effect: Estimate


def _edited(model: Model, s: Site, enc: SparseAutoencoder, data: DataSpec | Dataset,
            metric: EffectMetric | MetricFn, positions: Positions, mode: FeatureEditMode, value: float,
            analysis: str, side: bool) -> Estimate:
    """The per-prompt effect on ``metric`` of one feature edit over ``data`` (``side``: the
    side-effect data, edited at every position)."""
    __tracebackhide__ = True
    ds, batch = prepare(model, data)
    m = resolve(metric, EFFECT_METRICS, analysis, model, ds, batch,
                param="side_metric" if side else "metric")
    where = sae_positions(batch, ds, positions, analysis,
                          "side_positions" if side else "positions")
    clean_logits, clean = model.run(batch.tokens, read=[s.base])
    assert s.feature is not None
    edit = sae_feature_edit(enc, [s.feature], mode, value, where)
    what = "sae feature ablation" if analysis == "sae_ablate" else "sae feature steering"
    if side:  # a feature silent on the side data has no side effect there: not an error
        logits, _ = run_lenient(model, batch.tokens, [(s.base, edit)], read=[s.base],
                                baseline=clean, where=where)
    else:
        logits = run_strict(
            model, batch.tokens, [(s.base, edit)], read=[s.base], baseline=clean, where=where,
            what=f"{what} of {s}",
            why=("the feature is already at the ablation value on every targeted token"
                 if mode == "set" else "the steering shift is zero"))
    values = m.effect(clean_logits, logits, "edited").numpy()
    how = f"set to {value:g}" if mode == "set" else f"shifted by {value:+g}"
    return estimate_from_samples(
        values, method=f"{what} of {s} ({how}, error term kept) on {ds.name}; {m.name} per prompt",
        label=f"{analysis}({s}, {value:g}, {m.name}, {ds.name})", unit_ids=tuple(batch.ids),
        rate=m.effect_rate)


def _feature_edit(model: Model, site: str | Site, data: DataSpec | Dataset, metric: EffectMetric | MetricFn,
                  positions: Positions, side: tuple[DataSpec | Dataset | None, EffectMetric | MetricFn,
                                                    Positions],
                  mode: FeatureEditMode, value: float, sae: Any, analysis: str) -> FeatureEdit:
    __tracebackhide__ = True
    model = check_model(model, analysis)
    side_data, side_metric, side_positions = side
    for given, param in ((metric, "metric"), (side_metric, "side_metric")):
        if not callable(given):  # a callable is checked on its first batch
            choice(given, EFFECT_METRICS, param, analysis)
    if not np.isfinite(value):
        raise InterpClaimsError(f"{analysis}(): the value must be a finite number, got {value!r}")
    s, enc = feature_site(model, site, sae, analysis)
    target = _edited(model, s, enc, data, metric, positions, mode, value, analysis, False)
    off = _edited(model, s, enc, side_data if side_data is not None else "random_tokens",
                  side_metric, side_positions, mode, value, analysis, True)
    return FeatureEdit(target, off)


def sae_ablate(model: Model, site: str | Site, data: DataSpec | Dataset,
               metric: EffectMetric | MetricFn = "logit_diff", *, positions: Positions = "all",
               value: float = 0.0, side_data: DataSpec | Dataset | None = None,
               side_metric: EffectMetric | MetricFn = "kl", side_positions: Positions = "all",
               sae: Any = None) -> FeatureEdit:
    """Set an SAE feature to ``value`` (default 0: ablation) at ``positions``, keeping the SAE's
    error term; the effect on ``metric`` over ``data`` (edited − clean; see
    :mod:`interpclaims.analyses._metrics`) and the side effect on ``side_data`` (default the
    shipped random_tokens), edited at ``side_positions``."""
    __tracebackhide__ = True
    return _feature_edit(model, site, data, metric, positions,
                         (side_data, side_metric, side_positions), "set", float(value), sae,
                         "sae_ablate")


def sae_steer(model: Model, site: str | Site, data: DataSpec | Dataset, strength: float,
              metric: EffectMetric | MetricFn = "logit_diff", *, positions: Positions = "all",
              side_data: DataSpec | Dataset | None = None, side_metric: EffectMetric | MetricFn = "kl",
              side_positions: Positions = "all", sae: Any = None) -> FeatureEdit:
    """Add ``strength`` to an SAE feature's activation at ``positions`` (the residual moves by
    ``strength × W_dec[feature]``); the effect on ``metric`` and the side effect, as
    :func:`sae_ablate`."""
    __tracebackhide__ = True
    if float(strength) == 0.0:
        raise InterpClaimsError("sae_steer(strength=0) changes nothing; give a non-zero strength")
    return _feature_edit(model, site, data, metric, positions,
                         (side_data, side_metric, side_positions), "add", float(strength), sae,
                         "sae_steer")
