"""Ablation: what removing a component (or a direction, or a pair of components) does to a metric.

Every ablation runs through :func:`interpclaims.interventions.run_strict`: it is removed on exit
and must move the ablated activation, or :class:`InterventionDidNotFire` names the site.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples, estimate_from_seeds
from interpclaims._estimate_sets import Estimates
from interpclaims.analyses._metrics import EFFECT_METRICS, EffectMetric, Metric, MetricFn, resolve
from interpclaims.analyses._prepare import (
    Positions,
    as_vector,
    check_model,
    choice,
    names,
    parse_component,
    prepare,
)
from interpclaims.analyses._sequential import in_batches, sequential_on
from interpclaims.interventions import (
    ABLATIONS,
    FIXED_ABLATIONS,
    MEAN_OVER,
    Ablation,
    FixedAblation,
    MeanOver,
    ablation_edit,
    resolve_mean_over,
    run_strict_many,
)

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = [
    "PairMetric",
    "PairwiseAblation",
    "ablate",
    "ablate_pair",
    "run_ablation",
    "scope_text",
]

# the metrics whose single effects add up to a joint effect when the components do not interact
PairMetric = Literal["logit_diff", "logit_diff_mean", "loss", "prob_drop"]
PAIR_METRICS: tuple[PairMetric, ...] = get_args(PairMetric)


def run_ablation(model: Model, sites: Sequence[Site], batch: Batch, how: Ablation,
                 reference: Dataset | None, direction: Any, label: str,
                 mean_over: MeanOver | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean logits, and the logits with every site of ``sites`` ablated together in one run;
    raises when an ablation did not move its activation. The sites of a resample ablation take
    their values from the same donor prompt (one draw, seeded by ``label``)."""
    __tracebackhide__ = True
    clean_logits, ablated = run_ablations(model, sites, batch, reference, direction,
                                          [(how, label)], mean_over)
    return clean_logits, next(ablated)


def run_ablations(model: Model, sites: Sequence[Site], batch: Batch, reference: Dataset | None,
                  direction: Any, runs: Sequence[tuple[Ablation, str]],
                  mean_over: MeanOver | None = None
                  ) -> tuple[torch.Tensor, Iterator[torch.Tensor]]:
    """Clean logits, and for each ``(how, label)`` of ``runs``, yielded in turn, the logits with
    every site of ``sites`` ablated that way (see :func:`run_ablation`): one
    :meth:`Model.run_many` call."""
    __tracebackhide__ = True
    import torch

    bases = sorted({s.base for s in sites}, key=lambda b: b.order)
    clean_logits, clean = model.run(batch.tokens, read=bases)
    if reference is not None:
        _context.note_data(reference.name, reference.sha256)
    vec = torch.as_tensor(direction) if direction is not None else None
    planned = []
    for how, label in runs:
        scope: MeanOver = "all"
        if how == "mean":
            scope = resolve_mean_over(model, batch, reference, mean_over, label)
        edits = [(s, ablation_edit(model, s, how, clean[s.base], batch, reference, vec, label,
                                   scope)) for s in sites]
        planned.append((batch.tokens, edits, batch.mask, bases))
    return clean_logits, run_strict_many(
        model, planned, baseline=clean, what=[f"{how}-ablation" for how, _ in runs],
        why="the component already holds the ablation value on every token (nothing to ablate)")


def _components(model: Model, component: Any, analysis: str) -> list[Site]:
    """One component or a non-empty list of distinct ones, as sites."""
    __tracebackhide__ = True
    if isinstance(component, (list, tuple)):
        if not component:
            raise InterpClaimsError(f"{analysis}(component=): the list is empty; name at least "
                                    "one component, e.g. ['L0H1', 'L1.mlp_out']")
        sites = [parse_component(model, c, analysis) for c in component]
        twice = sorted({str(s) for s in sites if sites.count(s) > 1})
        if twice:
            raise InterpClaimsError(f"{analysis}(component=) names {', '.join(twice)} more than "
                                    "once; list each component once")
        return sites
    return [parse_component(model, component, analysis)]


def _kinds(how: Any, seeds: int, mean_over: Any) -> list[Ablation]:
    """``how=`` as a list of distinct ablation kinds, checked with ``seeds=`` and ``mean_over=``."""
    __tracebackhide__ = True
    hows = (list(names(how, ABLATIONS, "ablation", "how", "ablate"))
            if isinstance(how, (list, tuple)) else [choice(how, ABLATIONS, "ablation", "ablate",
                                                           "how")])
    if not hows:
        raise InterpClaimsError("ablate(how=): the list is empty; write e.g. "
                                "how=['zero', 'mean', 'resample']")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1 or (
            seeds > 1 and "resample" not in hows):
        raise InterpClaimsError(
            f"ablate(seeds=): expected an int >= 1, and more than one only with how='resample' "
            f"(zero and mean ablation draw nothing at random); got seeds={seeds!r}, how={how!r}"
        )
    check_mean_over(mean_over, hows, how, "ablate")
    return [cast("Ablation", h) for h in hows]


def check_mean_over(mean_over: Any, hows: Sequence[str], how: Any, analysis: str) -> None:
    """``mean_over=`` names a scope and comes with a mean ablation among ``hows``."""
    __tracebackhide__ = True
    if mean_over is not None:
        choice(mean_over, MEAN_OVER, "mean scope", analysis, "mean_over")
        if "mean" not in hows:
            raise InterpClaimsError(
                f"{analysis}(mean_over={mean_over!r}) applies to a mean ablation only "
                f"(how='mean' only), and how={how!r} has none; drop mean_over= or use "
                "how='mean'")


def scope_text(model: Model, batch: Batch, how: Ablation, ref: Dataset | None,
                mean_over: MeanOver | None, label: str) -> str:
    """How the Estimate's method names a mean ablation's mean (empty for other kinds)."""
    if how != "mean":
        return ""
    scope = resolve_mean_over(model, batch, ref, mean_over, label)
    over = f"reference {ref.name}" if ref is not None else "the data"
    return (f" (mean at each position over {over})" if scope == "position"
            else f" (mean over all real tokens of {over}, pooled)")


def ablate(
    model: Model,
    component: str | Site | Sequence[str | Site],
    data: DataSpec | Dataset,
    how: Ablation | Sequence[Ablation] = "zero",
    metric: EffectMetric | MetricFn = "loss",
    *,
    reference: DataSpec | Dataset | None = None,
    direction: Any = None,
    seeds: int = 1,
    mean_over: MeanOver | None = None,
    at: Positions | None = None,
) -> Estimate | Estimates:
    """What ablating ``component`` does to ``metric``, per prompt (see :mod:`interpclaims.analyses._metrics`:
    ``logit_diff``/``loss``/``accuracy`` are ablated − clean; ``prob_drop`` is clean − ablated;
    ``kl`` and ``flip_rate`` compare the two runs; a callable ``metric(logits, rows)`` is ablated −
    clean). ``at=``: the decision position (default: each prompt's last real token).

    ``component``: a head (``"L1H2"``, at its output ``z``), an MLP neuron (``"L0N17"``), an
    attention or MLP layer (``"L1.attn_out"``, ``"L1.mlp_out"``) or any layer site — or a list of
    them, ablated together in one run against one clean baseline (their joint effect; a resample
    ablation takes every component's value from the same donor prompt).
    ``how``: ``"zero"``; ``"mean"`` (the mean of ``reference``, default the data itself: at each
    position when every prompt has one token length, bos included, else over all real tokens —
    ``mean_over="position" | "all"`` chooses, and the Estimate's method says which);
    ``"resample"`` (the activation of another prompt of ``reference`` at the same positions).
    A list of kinds (``how=["zero", "mean", "resample"]``) returns an :class:`Estimates`, one
    estimate per kind: a claim on it holds only if it holds under each kind.
    ``direction=`` (a ``d_model`` vector) ablates only that direction of a residual site: zero
    sets its coefficient to 0, mean to its mean.

    The donors of a resample ablation are the one random draw here. Each prompt draws its own
    donor, independently of the others, so the per-prompt effects are independent draws of
    (prompt, donor) and the interval over prompts already carries the donor variance: with the
    default ``seeds=1`` it covers the all-donors value 95–96% of the time on the zoo
    (``benchmarks/draw_coverage.py``). ``seeds=k`` repeats the ablation with ``k`` donor draws
    and pools them as a seeds × prompts table (:func:`interpclaims.stats.table_interval`): a
    narrower interval, and a value that moves less with the seed.
    """
    __tracebackhide__ = True
    model = check_model(model, "ablate")
    hows = _kinds(how, seeds, mean_over)
    sites = _components(model, component, "ablate")
    if direction is not None:
        if len(sites) > 1:
            raise InterpClaimsError("ablate(direction=) ablates a direction of one residual site; "
                                    f"got {len(sites)} components")
        direction = as_vector(direction, "direction", "ablate")
    ds = load_data(data)
    ref = load_data(reference) if reference is not None else None
    what = (f"[{', '.join(map(str, sites))}]" if isinstance(component, (list, tuple))
            else str(sites[0])) + (" (direction)" if direction is not None else "")
    args = _AblationArgs(sites, metric, at, direction, what, seeds, mean_over)
    if sequential_on() and not isinstance(how, (list, tuple)) and hows[0] in ("zero", "mean"):
        # a mean ablation's mean is fixed before the first batch: over the whole dataset
        fixed = ref if ref is not None or hows[0] == "zero" else ds
        metrics: list[Metric] = []

        def run(rows: Dataset) -> Estimate:
            est, m = _ablate_on(model, rows, hows, fixed, args)
            metrics.append(m)
            return est[hows[0]]

        return in_batches(model, ds, run, analysis="ablate", rate=lambda: metrics[0].effect_rate)
    out, m = _ablate_on(model, ds, hows, ref, args)
    if isinstance(how, (list, tuple)):
        return Estimates(out, title=f"ablate({what}, {m.name}) by ablation kind")
    return out[hows[0]]


@dataclass(frozen=True, slots=True)
class _AblationArgs:
    """What :func:`ablate` ablates and measures, whatever the prompts."""

    sites: list[Site]
    metric: EffectMetric | MetricFn
    at: Positions | None
    direction: Any
    what: str
    seeds: int
    mean_over: MeanOver | None


def _ablate_on(model: Model, ds: Dataset, hows: list[Ablation], ref: Dataset | None,
               a: _AblationArgs) -> tuple[dict[str, Estimate], Metric]:
    """The estimate of each ablation kind on the prompts of ``ds``, and the metric."""
    __tracebackhide__ = True
    ds, batch = prepare(model, ds)
    m = resolve(a.metric, EFFECT_METRICS, "ablate", model, ds, batch, at=a.at)
    out: dict[str, Estimate] = {}
    labels = {kind: f"ablate({a.what}, {kind}, {m.name})" for kind in hows}
    runs = [(kind, labels[kind] if seed == 0 else f"{labels[kind]}#seed{seed}")
            for kind in hows for seed in range(a.seeds if kind == "resample" else 1)]
    clean_logits, ablated = run_ablations(model, a.sites, batch, ref, a.direction, runs,
                                          a.mean_over)
    effects = [(how, m.effect(clean_logits, logits, "ablated").numpy())
               for (how, _), logits in zip(runs, ablated, strict=True)]
    for kind in hows:
        label = labels[kind]
        scope = scope_text(model, batch, kind, ref, a.mean_over, label)
        per_seed = [effect for how, effect in effects if how == kind]
        out[kind] = estimate_from_seeds(
            per_seed, label=label, unit_ids=tuple(batch.ids), rate=m.effect_rate,
            method=f"{kind}-ablation{scope} of {a.what} on {ds.name}: effect on {m.name} per "
                   "prompt",
        )
    return out, m


@dataclass(frozen=True, slots=True)
class PairwiseAblation:
    """Single and joint ablation of two components, and their interaction
    ``joint − (single_a + single_b)`` per prompt. A positive interaction of a loss (or a negative
    one of a logit difference) marks backup behaviour: together they matter more than apart."""

    a: Estimate
    b: Estimate
    joint: Estimate
    interaction: Estimate


def ablate_pair(
    model: Model, a: str | Site, b: str | Site, data: DataSpec | Dataset,
    how: FixedAblation = "mean", metric: PairMetric | MetricFn = "logit_diff", *,
    at: Positions | None = None,
) -> PairwiseAblation:
    """Ablate ``a``, ``b``, and both; estimate each effect and the interaction."""
    __tracebackhide__ = True
    model = check_model(model, "ablate_pair")
    choice(how, FIXED_ABLATIONS, "ablation", "ablate_pair", "how")
    sa, sb = parse_component(model, a, "ablate_pair"), parse_component(model, b, "ablate_pair")
    if sa == sb:
        raise InterpClaimsError(f"ablate_pair(): both components are {sa}; name two different ones")
    ds, batch = prepare(model, data)
    m = resolve(metric, PAIR_METRICS, "ablate_pair", model, ds, batch, at=at)
    bases = sorted({sa.base, sb.base}, key=lambda s: s.order)
    clean_logits, clean = model.run(batch.tokens, read=bases)
    scope: MeanOver = "all"
    if how == "mean":
        scope = resolve_mean_over(model, batch, None, None, "ablate_pair")
    edits = {s: ablation_edit(model, s, how, clean[s.base], batch, None, None,
                              f"ablate_pair({s})", scope) for s in (sa, sb)}
    chosen = {"a": [sa], "b": [sb], "joint": [sa, sb]}
    runs = [(batch.tokens, [(s, edits[s]) for s in sites], batch.mask, bases)
            for sites in chosen.values()]
    effects = {name: m.effect(clean_logits, logits, "ablated").numpy()
               for name, logits in zip(chosen, run_strict_many(
                   model, runs, baseline=clean, what=f"{how}-ablation", why="nothing to ablate"),
                   strict=True)}
    inter = effects["joint"] - effects["a"] - effects["b"]
    method = (f"{how}-ablation{scope_text(model, batch, how, None, None, 'ablate_pair')} on "
              f"{ds.name}, effect on {m.name} per prompt")
    ids = tuple(batch.ids)

    def est(values: Any, label: str) -> Estimate:
        return estimate_from_samples(values, method=method, label=label, unit_ids=ids)

    return PairwiseAblation(
        a=est(effects["a"], f"ablate({sa})"), b=est(effects["b"], f"ablate({sb})"),
        joint=est(effects["joint"], f"ablate({sa} + {sb})"),
        interaction=est(inter, f"interaction({sa}, {sb})"),
    )
