"""Circuit localization: rank every head and MLP by a cheap score, confirm the top by ablation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import estimate_from_samples
from interpclaims._estimate_sets import EstimateMatrix
from interpclaims._sites import Site
from interpclaims.analyses._ablation import run_ablation, scope_text
from interpclaims.analyses._metrics import EFFECT_METRICS, EffectMetric, Metric, MetricFn, Targets, resolve
from interpclaims.analyses._prepare import (
    Positions,
    check_model,
    choice,
    count,
    names,
    parse_component,
    prepare,
)
from interpclaims.interventions import FIXED_ABLATIONS, FixedAblation

if TYPE_CHECKING:
    from interpclaims.models import Batch, Model

__all__ = ["Localization", "localize"]


@dataclass(frozen=True, slots=True)
class Localization:
    """Components ranked by a cheap score, and the causal impact of the top ones.

    ``ranking``: ``(component, score)`` for every head and MLP, best first (score: mean |direct
    effect on the logit difference| of mean-ablating its output, estimated in one batched pass
    per component from the clean cache via the direct path — see :func:`localize`).
    ``impact``: a component × metric matrix of ablation estimates for the ``top_k``.
    """

    ranking: tuple[tuple[str, float], ...]
    impact: EstimateMatrix

    def top(self) -> list[str]:
        return list(self.impact.rows)


def _direct_scores(model: Model, batch: Batch, targets: Targets) -> dict[str, float]:
    """Mean |direct logit-difference attribution| of every head and MLP, from one clean run.

    Each component's output at the last token, minus its mean output, projected on the
    unembedding direction answer − wrong through the final norm's scale, frozen from the clean
    run (the final norm linearized there).
    """
    import torch

    spec = model.spec
    final_site = Site("resid_post", spec.n_layers - 1)
    sites = [Site("result", ly) for ly in range(spec.n_layers)]
    sites += [Site("mlp_out", ly) for ly in range(spec.n_layers)]
    sites += [final_site]
    logits, acts = model.run(batch.tokens, read=sites)
    w_u, gain, kind, eps = model.unembedding()
    last = targets.positions()
    idx = torch.arange(batch.tokens.shape[0])
    assert targets.answer is not None
    wrong = targets.competitor(targets.last(logits))  # the strongest wrong token, clean run
    direction = (w_u[:, targets.answer] - w_u[:, wrong]).T  # [batch, d_model]
    final = acts[final_site][idx, last]  # [batch, d_model]
    if kind == "ln":
        centered = final - final.mean(-1, keepdim=True)
        denom = (centered.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    else:
        denom = (final.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    scale = gain / denom  # [batch, d_model]: the final norm, linearized at the clean run

    def dla(x: torch.Tensor) -> torch.Tensor:  # x [batch, d_model] at the last token
        x = x - x.mean(0, keepdim=True)  # against mean-ablation
        if kind == "ln":
            x = x - x.mean(-1, keepdim=True)
        return (x * scale * direction).sum(-1)

    scores: dict[str, float] = {}
    for ly in range(spec.n_layers):
        res = acts[Site("result", ly)][idx, last]  # [batch, head, d_model]
        for h in range(spec.n_heads):
            scores[f"L{ly}H{h}"] = float(dla(res[:, h]).abs().mean())
        scores[f"L{ly}.mlp_out"] = float(dla(acts[Site("mlp_out", ly)][idx, last]).abs().mean())
    return scores


def _impact(model: Model, ds: Dataset, batch: Batch, top: list[str],
            metrics: Sequence[Metric], how: FixedAblation) -> EstimateMatrix:
    """Ablate each of ``top``: a component × metric matrix of effect estimates."""
    __tracebackhide__ = True
    scope = scope_text(model, batch, how, None, None, "localize")
    cells = []
    for name in top:
        s = parse_component(model, name, "localize")
        clean_logits, ablated_logits = run_ablation(model, [s], batch, how, None, None,
                                                    f"localize({name})")
        row = []
        for m in metrics:
            row.append(estimate_from_samples(
                m.effect(clean_logits, ablated_logits, "ablated").numpy(),
                method=(f"{how}-ablation{scope} of {name} on {ds.name}: effect on {m.name} "
                        "per prompt"),
                label=f"ablate({name}, {how}, {m.name})", unit_ids=tuple(batch.ids),
                rate=m.effect_rate,
            ))
        cells.append(tuple(row))
    return EstimateMatrix(title=f"localize({ds.name}, {how}-ablation)", rows=tuple(top),
                          cols=tuple(m.name for m in metrics), cells=tuple(cells))


def localize(
    model: Model,
    data: DataSpec | Dataset,
    metrics: Sequence[EffectMetric | MetricFn] = ("logit_diff", "kl"),
    top_k: int = 3,
    how: FixedAblation = "mean",
    *,
    at: Positions | None = None,
) -> Localization:
    """Circuit localization: rank every head and MLP by a cheap score, then confirm the ``top_k``
    by ablation, returning a causal impact matrix (component × metric) with intervals.

    The cheap score is the *direct* logit-difference attribution of each component: its output at
    the last token, minus its mean output, projected on the unembedding direction answer − wrong
    (through the final norm's scale, frozen from the clean run). It needs one clean forward pass.
    ``metrics`` may hold callables ``metric(logits, rows)``; ``at=``: the decision position
    (default: each prompt's last real token), for the ranking and every metric.
    """
    __tracebackhide__ = True
    model = check_model(model, "localize")
    listed = isinstance(metrics, (list, tuple))
    names([m for m in metrics if not callable(m)] if listed else metrics, EFFECT_METRICS,
          "metric", "metrics", "localize")
    choice(how, FIXED_ABLATIONS, "ablation", "localize", "how")
    count(top_k, "top_k", "localize")
    ds, batch = prepare(model, data)
    resolved = [resolve(m, EFFECT_METRICS, "localize", model, ds, batch, at=at, param="metrics")
                for m in metrics]
    columns = [m.name for m in resolved]
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if not resolved or twice:
        raise InterpClaimsError(
            "localize(metrics=): " + (f"two metrics are named {', '.join(map(repr, twice))} (the "
                                      "matrix's columns); give each callable its own name (a def, "
                                      "not lambdas)" if twice else "the list is empty; name at "
                                      "least one metric, e.g. ['logit_diff']"))
    targets = resolve("logit_diff", EFFECT_METRICS, "localize", model, ds, batch, at=at).targets
    scores = _direct_scores(model, batch, targets)
    ranking = tuple(sorted(scores.items(), key=lambda kv: -kv[1]))
    top = [name for name, _ in ranking[:top_k]]
    return Localization(ranking=ranking, impact=_impact(model, ds, batch, top, resolved, how))
