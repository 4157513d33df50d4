"""Ablation: what removing a component (or a direction, or a pair of components) does to a metric.

Every ablation runs through :func:`interpclaims.interventions.run_strict`: it is removed on exit
and must move the ablated activation, or :class:`InterventionDidNotFire` names the site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples, estimate_from_seeds
from interpclaims.analyses._metrics import EFFECT_METRICS, EffectMetric, MetricFn, resolve
from interpclaims.analyses._prepare import (
    Positions,
    as_vector,
    check_model,
    choice,
    parse_component,
    prepare,
)
from interpclaims.interventions import (
    ABLATIONS,
    FIXED_ABLATIONS,
    Ablation,
    FixedAblation,
    ablation_edit,
    run_strict,
)

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = ["PairMetric", "PairwiseAblation", "ablate", "ablate_pair", "run_ablation"]

# the metrics whose single effects add up to a joint effect when the components do not interact
PairMetric = Literal["logit_diff", "logit_diff_mean", "loss", "prob_drop"]
PAIR_METRICS: tuple[PairMetric, ...] = get_args(PairMetric)


def run_ablation(model: Model, site: Site, batch: Batch, how: Ablation,
                 reference: DataSpec | Dataset | None, direction: Any, label: str
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and ablated logits; raises when the ablation did not move the activation."""
    __tracebackhide__ = True
    import torch

    base = site.base
    clean_logits, clean = model.run(batch.tokens, read=[base])
    ref = load_data(reference) if reference is not None else None
    if ref is not None:
        _context.note_data(ref.name, ref.sha256)
    vec = torch.as_tensor(direction) if direction is not None else None
    edit = ablation_edit(model, site, how, clean[base], batch, ref, vec, label)
    ablated_logits = run_strict(
        model, batch.tokens, [(site, edit)], read=[base], baseline=clean, where=batch.mask,
        name=label, what=f"{how}-ablation",
        why="the component already holds the ablation value on every token (nothing to ablate)",
    )
    return clean_logits, ablated_logits


def ablate(
    model: Model,
    component: str | Site,
    data: DataSpec | Dataset,
    how: Ablation = "zero",
    metric: EffectMetric | MetricFn = "loss",
    *,
    reference: DataSpec | Dataset | None = None,
    direction: Any = None,
    seeds: int = 1,
    at: Positions | None = None,
) -> Estimate:
    """What ablating ``component`` does to ``metric``, per prompt (see :mod:`interpclaims.analyses._metrics`:
    ``logit_diff``/``loss``/``accuracy`` are ablated − clean; ``prob_drop`` is clean − ablated;
    ``kl`` and ``flip_rate`` compare the two runs; a callable ``metric(logits, rows)`` is ablated −
    clean). ``at=``: the decision position (default: each prompt's last real token).

    ``component``: a head (``"L1H2"``, at its output ``z``), an MLP neuron (``"L0N17"``), an
    attention or MLP layer (``"L1.attn_out"``, ``"L1.mlp_out"``) or any layer site.
    ``how``: ``"zero"``; ``"mean"`` (mean over all real tokens of ``reference``, default the data
    itself); ``"resample"`` (the activation of another prompt of ``reference`` at the same
    positions). ``direction=`` (a ``d_model`` vector) ablates only that direction of a residual
    site: zero sets its coefficient to 0, mean to its mean.

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
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1 or (
            seeds > 1 and how != "resample"):
        raise InterpClaimsError(
            f"ablate(seeds=): expected an int >= 1, and more than one only with how='resample' "
            f"(zero and mean ablation draw nothing at random); got seeds={seeds!r}, how={how!r}"
        )
    choice(how, ABLATIONS, "ablation", "ablate", "how")
    site = parse_component(model, component, "ablate")
    if direction is not None:
        direction = as_vector(direction, "direction", "ablate")
    ds, batch = prepare(model, data)
    m = resolve(metric, EFFECT_METRICS, "ablate", model, ds, batch, at=at)
    what = f"{site}" + (" (direction)" if direction is not None else "")
    label = f"ablate({what}, {how}, {m.name})"
    per_seed = []
    for seed in range(seeds):
        clean_logits, ablated_logits = run_ablation(
            model, site, batch, how, reference, direction,
            label if seed == 0 else f"{label}#seed{seed}")
        per_seed.append(m.effect(clean_logits, ablated_logits, "ablated").numpy())
    return estimate_from_seeds(
        per_seed, method=f"{how}-ablation of {what} on {ds.name}: effect on {m.name} per prompt",
        label=label, unit_ids=tuple(batch.ids), rate=m.effect_rate,
    )


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
    edits = {s: ablation_edit(model, s, how, clean[s.base], batch, None, None, f"ablate_pair({s})")
             for s in (sa, sb)}
    effects = {}
    for name, chosen in (("a", [sa]), ("b", [sb]), ("joint", [sa, sb])):
        logits = run_strict(
            model, batch.tokens, [(s, edits[s]) for s in chosen], read=bases, baseline=clean,
            where=batch.mask, name=f"ablate_pair {name}", what=f"{how}-ablation",
            why="nothing to ablate",
        )
        effects[name] = m.effect(clean_logits, logits, "ablated").numpy()
    inter = effects["joint"] - effects["a"] - effects["b"]
    method = f"{how}-ablation on {ds.name}, effect on {m.name} per prompt"
    ids = tuple(batch.ids)

    def est(values: Any, label: str) -> Estimate:
        return estimate_from_samples(values, method=method, label=label, unit_ids=ids)

    return PairwiseAblation(
        a=est(effects["a"], f"ablate({sa})"), b=est(effects["b"], f"ablate({sb})"),
        joint=est(effects["joint"], f"ablate({sa} + {sb})"),
        interaction=est(inter, f"interaction({sa}, {sb})"),
    )
