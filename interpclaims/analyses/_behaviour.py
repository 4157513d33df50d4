"""Behaviour of the unmodified model: a metric per prompt, with a bootstrap interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpclaims._data import Dataset, DataSpec
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses._metrics import STATE_METRICS, StateMetric, Targets, state
from interpclaims.analyses._prepare import check_model, choice, prepare

if TYPE_CHECKING:
    from interpclaims.models import Model

__all__ = ["measure"]


def measure(model: Model, data: DataSpec | Dataset, metric: StateMetric = "logit_diff"
            ) -> Estimate:
    """A behaviour metric of the unmodified model, per prompt (see :mod:`interpclaims.analyses._metrics`).

    ``logit_diff``: logit of ``answer`` minus logit of ``wrong`` after the prompt; ``accuracy``:
    whether ``answer`` is preferred; ``prob``: probability of ``answer``; ``loss``: mean
    next-token cross-entropy over the prompt.
    """
    __tracebackhide__ = True
    model = check_model(model, "measure")
    choice(metric, STATE_METRICS, "metric", "measure")
    ds, batch = prepare(model, data)
    logits, _ = model.run(batch.tokens)
    values = state(Targets.of(model, ds, batch, metric), logits, metric)
    return estimate_from_samples(
        values.numpy(), method=f"{metric} per prompt on {ds.name}",
        label=f"{metric}({ds.name})", unit_ids=tuple(batch.ids), rate=metric == "accuracy",
    )
