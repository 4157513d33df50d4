"""Steering: add a vector to a site and measure the target effect and the side effect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses._metrics import EFFECT_METRICS, EffectMetric, Metric, MetricFn, resolve
from interpclaims.analyses._prepare import (
    Positions,
    as_vector,
    check_model,
    parse_component,
    positions_mask,
    prepare,
    reals,
)
from interpclaims.interventions import check_vector, feature_shape, run_strict, steering_edit

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = ["SteeringResult", "mean_difference", "steer"]


def mean_difference(model: Model, site: str | Site, data: DataSpec | Dataset, field: str,
                    a: Any, b: Any, position: Positions = -1) -> torch.Tensor:
    """Difference of mean activations at ``site`` (a residual-width site) between rows whose
    ``field`` equals ``a`` and rows where it equals ``b``, at ``position`` (default: last token).
    A steering vector ``[d_model]``."""
    __tracebackhide__ = True
    import torch

    model = check_model(model, "mean_difference")
    s = parse_component(model, site, "mean_difference")
    ds, batch = prepare(model, data)
    labels = ds.field(field, analysis="mean_difference")
    where = positions_mask(batch, ds, position, "mean_difference", "position")
    x = model.run_at(batch.tokens, [s], where)[s]  # [batch, ...], chunk by chunk from the store
    ga = torch.tensor([v == a for v in labels])
    gb = torch.tensor([v == b for v in labels])
    if not bool(ga.any()) or not bool(gb.any()):
        raise DataError(f"mean_difference: no rows with {field}={a!r} or none with {field}={b!r} "
                        f"in {ds.name}")
    return x[ga].mean(0) - x[gb].mean(0)


@dataclass(frozen=True, slots=True)
class SteeringResult:
    """Target effect and side effect of adding ``strength × vector`` at a site, per strength."""

    strengths: tuple[float, ...]
    target: tuple[Estimate, ...]
    side: tuple[Estimate, ...]

    def effect(self, strength: float) -> Estimate:
        return self.target[self._index(strength)]

    def side_effect(self, strength: float) -> Estimate:
        return self.side[self._index(strength)]

    def _index(self, strength: float) -> int:
        try:
            return self.strengths.index(float(strength))
        except ValueError:
            raise InterpClaimsError(f"steer: strength {strength} was not swept; swept "
                                    f"{list(self.strengths)}") from None


@dataclass(frozen=True, slots=True)
class _CleanRun:
    """One dataset of a steering analysis, unsteered: what each steered run is compared with."""

    batch: Batch
    metric: Metric
    where: torch.Tensor  # [batch, pos] bool: the steered positions
    logits: torch.Tensor  # [batch, pos, d_vocab]
    acts: dict[Site, torch.Tensor]  # the whole-tensor activation at the steered site's base


def _clean_run(model: Model, s: Site, ds: Dataset, batch: Batch, metric: Metric,
               positions: Positions, param: str) -> _CleanRun:
    __tracebackhide__ = True
    where = positions_mask(batch, ds, positions, "steer", param)
    logits, acts = model.run(batch.tokens, read=[s.base])
    return _CleanRun(batch, metric, where, logits, acts)


def _steered(model: Model, s: Site, vec: torch.Tensor, k: float, run: _CleanRun) -> Estimate:
    """The effect on ``run.metric`` of adding ``k × vec`` at ``s``, per prompt."""
    __tracebackhide__ = True
    logits = run_strict(
        model, run.batch.tokens, [(s, steering_edit(s, vec, k, run.where))], read=[s.base],
        baseline=run.acts, where=run.where, what="steering",
        why="adding the vector changed nothing",
    )
    m = run.metric
    values = m.effect(run.logits, logits, "steered").numpy()
    return estimate_from_samples(
        values, method=f"steer {s} by {k:g} x vector; {m.name} per prompt",
        label=f"steer({s}, {k:g}, {m.name})", unit_ids=tuple(run.batch.ids),
        rate=m.effect_rate,
    )


def steer(
    model: Model,
    site: str | Site,
    vector: Any,
    data: DataSpec | Dataset,
    strengths: Sequence[float] = (1.0,),
    metric: EffectMetric | MetricFn = "logit_diff",
    *,
    positions: Positions = "all",
    side_data: DataSpec | Dataset | None = None,
    side_metric: EffectMetric | MetricFn = "kl",
    side_positions: Positions = "all",
    at: Positions | None = None,
) -> SteeringResult:
    """Add ``strength × vector`` to ``site`` at ``positions``: for each strength, the effect on
    ``metric`` over ``data`` and the side effect (``side_metric``, default KL from the clean
    next-token distribution) over unrelated ``side_data`` (default: the shipped random_tokens),
    steered at ``side_positions``. Either metric may be a callable ``metric(logits, rows)``;
    ``at=`` is the decision position of ``metric`` on ``data`` (default: the last real token)."""
    __tracebackhide__ = True
    model = check_model(model, "steer")
    s = parse_component(model, site, "steer")
    vec = as_vector(vector, "vector", "steer")
    check_vector(vec, feature_shape(model, s), "steer: vector", f" for {s}")
    strengths_t = reals(strengths, "strengths", "steer")
    if 0.0 in strengths_t or len(set(strengths_t)) < len(strengths_t):
        raise InterpClaimsError(f"steer(strengths=): give distinct non-zero strengths (0 is the "
                                f"baseline), got {list(strengths_t)}")
    ds, batch = prepare(model, data)
    side_ds, side_batch = prepare(model, side_data if side_data is not None else "random_tokens")
    m = resolve(metric, EFFECT_METRICS, "steer", model, ds, batch, at=at)
    side_m = resolve(side_metric, EFFECT_METRICS, "steer", model, side_ds, side_batch,
                     param="side_metric")
    target_run = _clean_run(model, s, ds, batch, m, positions, "positions")
    side_run = _clean_run(model, s, side_ds, side_batch, side_m, side_positions, "side_positions")
    target_est: list[Estimate] = []
    side_est: list[Estimate] = []
    for k in strengths_t:
        target_est.append(_steered(model, s, vec, k, target_run))
        side_est.append(_steered(model, s, vec, k, side_run))
    return SteeringResult(strengths_t, tuple(target_est), tuple(side_est))
