"""Behaviour of the unmodified model: a metric per prompt, with a bootstrap interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses._metrics import STATE_METRICS, Metric, MetricFn, StateMetric, resolve
from interpclaims.analyses._prepare import Positions, check_model, prepare
from interpclaims.analyses._sequential import in_batches

if TYPE_CHECKING:
    from interpclaims.models import Model

__all__ = ["measure"]


def measure(model: Model, data: DataSpec | Dataset, metric: StateMetric | MetricFn = "logit_diff",
            *, at: Positions | None = None) -> Estimate:
    """A behaviour metric of the unmodified model, per prompt (see :mod:`interpclaims.analyses._metrics`).

    ``logit_diff``: logit of ``answer`` minus logit of ``wrong`` after the prompt; ``accuracy``:
    whether ``answer`` is preferred; ``prob``: probability of ``answer``; ``loss``: mean
    next-token cross-entropy over the prompt; or a callable ``metric(logits, rows)``. ``at=``:
    the decision position (default: each prompt's last real token).
    """
    __tracebackhide__ = True
    model = check_model(model, "measure")
    full = load_data(data)
    metrics: list[Metric] = []

    def run(ds: Dataset) -> Estimate:
        ds, batch = prepare(model, ds)
        m = resolve(metric, STATE_METRICS, "measure", model, ds, batch, at=at)
        metrics.append(m)
        logits, _ = model.run(batch.tokens)
        return estimate_from_samples(
            m.state(logits).numpy(), method=f"{m.name} per prompt on {ds.name}",
            label=f"{m.name}({ds.name})", unit_ids=tuple(batch.ids), rate=m.rate,
        )

    return in_batches(model, full, run, analysis="measure", rate=lambda: metrics[0].rate)
