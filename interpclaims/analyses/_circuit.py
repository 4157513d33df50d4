"""Circuits: how much of the model's behaviour a set of components carries, with intervals.

A circuit ``C`` is a subset of the *candidate* components (default: every head and every MLP of
the model). ``m(X)`` is the mean of a metric over the prompts when every candidate outside ``X``
is ablated (``M`` = all candidates kept = the unmodified model, ``∅`` = every candidate ablated).

* faithfulness (MIB): ``F(C) = (m(C) − m(∅)) / (m(M) − m(∅))`` — 1 for ``C = M``, 0 for ``C = ∅``;
* gap (Wang et al. 2023): ``m(M) − m(C)``, per prompt;
* completeness (Wang et al.): ``max_K |F(C∖K) − F(M∖K)|`` over the tested subsets ``K ⊆ C``
  (random ones and a greedy search), where ``M∖K`` is the model with only ``K`` ablated — near 0
  when nothing outside ``C`` does what ``C`` does;
* minimality per node ``v`` of ``C``: ``F(C) − F(C∖{v})`` (Wang et al.'s score with ``K = ∅``);
* a faithfulness curve over circuit sizes from a ranking (the top-k components kept), its area
  CPR and its distance from 1, CMD (MIB), over the normalized size ``k / len(ranking)``.

Every ratio is a ratio of means with a paired bootstrap over prompts: one resample of prompts
recomputes every mean it is built from (:func:`interpclaims.stats.bootstrap_means_function`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses._ablation import check_mean_over, scope_text
from interpclaims.analyses._metrics import STATE_METRICS, Metric, MetricFn, StateMetric, resolve
from interpclaims.analyses._prepare import check_model, choice, count, parse_component, prepare
from interpclaims.interventions import (
    ABLATIONS,
    Ablation,
    MeanOver,
    ablation_edit,
    resolve_mean_over,
    run_strict_many,
)
from interpclaims.stats import bootstrap_means_function

if TYPE_CHECKING:
    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = ["Circuit", "circuit", "faithfulness_of"]

Subset = frozenset[str]  # the candidates *ablated* in one run


@dataclass(frozen=True, slots=True)
class Circuit:
    """What :func:`circuit` measured (module doc): every quantity an :class:`Estimate`."""

    components: tuple[str, ...]
    candidates: tuple[str, ...]
    how: str
    metric: str
    faithfulness: Estimate
    gap: Estimate
    completeness: Estimate
    minimality: Mapping[str, Estimate]
    # (size, F(top-size of the ranking)) for size 0..len(ranking); empty without a ranking
    curve: tuple[tuple[int, Estimate], ...] = ()
    cpr: Estimate | None = None
    cmd: Estimate | None = None


def _name(site: Site) -> str:
    return f"L{site.layer}H{site.head}" if site.head is not None else str(site)


def _candidates(model: Model, candidates: Sequence[str | Site] | None) -> dict[str, Site]:
    """Candidate name → site; default every head and every MLP of the model."""
    __tracebackhide__ = True
    s = model.spec
    if candidates is None:
        candidates = [f"L{ly}H{h}" for ly in range(s.n_layers) for h in range(s.n_heads)]
        candidates += [f"L{ly}.mlp_out" for ly in range(s.n_layers)]
    if isinstance(candidates, str) or not isinstance(candidates, (list, tuple)) or not candidates:
        raise InterpClaimsError(f"circuit(candidates=): expected a non-empty list of components, "
                                f"got {candidates!r}; write e.g. candidates=['L0H1', 'L1H3']")
    out: dict[str, Site] = {}
    for c in candidates:
        site = parse_component(model, c, "circuit")
        if _name(site) in out:
            raise InterpClaimsError(f"circuit(candidates=) names {_name(site)} more than once")
        out[_name(site)] = site
    return out


def _members(model: Model, names: Any, pool: Mapping[str, Site], param: str) -> tuple[str, ...]:
    """``names`` (components of a circuit or of a ranking) as candidate names, each once."""
    __tracebackhide__ = True
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise InterpClaimsError(f"circuit({param}=): expected a list of components, got "
                                f"{names!r}; write e.g. {param}=['L1H3', 'L1.mlp_out']")
    out: list[str] = []
    for c in names:
        n = _name(parse_component(model, c, "circuit"))
        if n not in pool:
            near = difflib.get_close_matches(n, list(pool), n=3)
            raise InterpClaimsError(
                f"circuit({param}=): {c!r} is not a candidate component"
                + (f" (nearest: {', '.join(near)})" if near else "")
                + f"; candidates are {', '.join(pool)} — add it to candidates= or drop it")
        if n in out:
            raise InterpClaimsError(f"circuit({param}=) names {n} more than once")
        out.append(n)
    return tuple(out)


class _Runs:
    """Per-prompt metric values of runs with a subset of the candidates ablated (memoized)."""

    def __init__(self, model: Model, batch: Batch, pool: Mapping[str, Site], how: Ablation,
                 ref: Dataset | None, mean_over: MeanOver | None, metric: Metric,
                 label: str) -> None:
        self.model, self.batch, self.pool, self.metric = model, batch, pool, metric
        self.label = label
        self.bases = sorted({s.base for s in pool.values()}, key=lambda b: b.order)
        clean_logits, self.clean = model.run(batch.tokens, read=self.bases)
        scope: MeanOver = "all"
        if how == "mean":
            scope = resolve_mean_over(model, batch, ref, mean_over, label)
        self.scope = scope
        # one label for every component: a resample ablation takes all from the same donor
        self.edits = {n: ablation_edit(model, s, how, self.clean[s.base], batch, ref, None,
                                       label, scope) for n, s in pool.items()}
        self.how = how
        self.values: dict[Subset, np.ndarray] = {
            frozenset(): metric.state(clean_logits, "clean").numpy()}

    def __call__(self, ablated: Subset) -> np.ndarray:
        self.prefetch([ablated])
        return self.values[ablated]

    def prefetch(self, subsets: Iterable[Subset]) -> None:
        """Run the ablations of ``subsets`` not run yet, as one :meth:`Model.run_many` call (a
        remote model sends them together)."""
        todo = list(dict.fromkeys(a for a in subsets if a not in self.values))
        runs = [(self.batch.tokens, [(self.pool[n], self.edits[n]) for n in sorted(a)],
                 self.batch.mask, self.bases) for a in todo]
        for a, logits in zip(todo, run_strict_many(
                self.model, runs, baseline=self.clean, what=f"{self.how}-ablation",
                why="nothing to ablate"), strict=True):
            self.values[a] = self.metric.state(logits, "ablated").numpy()


def _check_denominator(m_full: np.ndarray, m_empty: np.ndarray, what: str) -> None:
    """Raise when ``m(M) = m(∅)``: equal, or closer than 1e-6 of the metric's scale — ten times
    the float32 resolution of the logits the metric is computed from."""
    __tracebackhide__ = True
    full, empty = float(np.mean(m_full)), float(np.mean(m_empty))
    scale = max(float(np.mean(np.abs(m_full))), float(np.mean(np.abs(m_empty))))
    if abs(full - empty) <= 1e-6 * scale or full == empty:
        raise InterpClaimsError(
            f"{what}: the unmodified model and the model with every candidate ablated give the "
            f"same mean metric (m(M) = {full:.6g}, m(∅) = {empty:.6g}), so faithfulness "
            "(m(C) − m(∅)) / (m(M) − m(∅)) is undefined: ablating the candidates does not move "
            "the metric. Choose a metric the candidates affect, other candidates= or another how="
        )


def faithfulness_of(columns: Sequence[np.ndarray], reduce: Any, *, label: str, method: str
                    ) -> Estimate:
    """An :class:`Estimate` of ``reduce(F)``, ``F[:, j] = (m_j − m_∅) / (m_M − m_∅)``, from
    per-prompt metric values ``columns = [m_M, m_∅, m_1, m_2, ...]`` (one array per run, prompts
    aligned), with a paired bootstrap over prompts. ``reduce`` maps ``F`` ``[resamples, j]`` to
    ``[resamples]``. Raises when ``m_M = m_∅``.
    """
    __tracebackhide__ = True
    table = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)
    _check_denominator(table[:, 0], table[:, 1], label)

    def fn(means: np.ndarray) -> np.ndarray:
        den = means[:, [0]] - means[:, [1]]  # kept away from 0 by denominator= below
        den = np.where(den == 0, np.nan, den)
        return np.asarray(reduce((means[:, 2:] - means[:, [1]]) / den), dtype=np.float64)

    ctx = _context.current()
    value, lo, hi = bootstrap_means_function(
        table, fn, _context.rng("circuit", label, method), n_resamples=ctx.n_resamples,
        level=ctx.ci_level, denominator=lambda means: means[:, 0] - means[:, 1])
    return Estimate(
        value=value, ci_low=lo, ci_high=hi, n=table.shape[0], label=label, ci_level=ctx.ci_level,
        method=f"{method}; ratio of means, percentile bootstrap over prompts resampled jointly "
               f"for numerator and denominator ({ctx.n_resamples} resamples)",
    )


def _area(f: np.ndarray) -> np.ndarray:
    """Trapezoid area of ``f`` ``[resamples, k + 1]`` over sizes ``0..k`` normalized to [0, 1]."""
    k = f.shape[1] - 1
    return (f.sum(axis=1) - (f[:, 0] + f[:, -1]) / 2) / k


class _Measures:
    """The circuit's estimates, from runs with subsets of the candidates ablated."""

    def __init__(self, runs: _Runs, components: tuple[str, ...], what: str) -> None:
        self.runs, self.what = runs, what
        self.all: Subset = frozenset(runs.pool)
        self.circuit = frozenset(components)
        self.full, self.empty = runs(frozenset()), runs(self.all)
        _check_denominator(self.full, self.empty,
                           f"circuit({what}) on {runs.model.name} [{runs.model.backend}]")

    def m(self, kept: Subset) -> np.ndarray:
        return self.runs(self.all - kept)

    def prefetch(self, kept: Iterable[Subset]) -> None:
        """Run the circuits ``kept`` (the other candidates ablated) together, ahead of use."""
        self.runs.prefetch(self.all - k for k in kept)

    def point(self, kept: Subset) -> float:
        den = float(self.full.mean() - self.empty.mean())
        return float(self.m(kept).mean() - self.empty.mean()) / den

    def estimate(self, kept: Sequence[Subset], reduce: Any, label: str, method: str) -> Estimate:
        cols = [self.full, self.empty, *(self.m(k) for k in kept)]
        return faithfulness_of(cols, reduce, label=f"{label} of circuit({self.what})",
                               method=method)

    def completeness(self, draws: int, greedy_steps: int) -> Estimate:
        """max |F(C∖K) − F(M∖K)| over random subsets K of C and a greedy search."""
        comp = sorted(self.circuit)
        rng = _context.rng("circuit completeness", self.what)
        tested: list[Subset] = []
        for _ in range(draws if comp else 0):
            k = frozenset(c for c in comp if rng.random() < 0.5) or frozenset([comp[0]])
            if k not in tested:
                tested.append(k)

        def gap(k: Subset) -> float:
            return abs(self.point(self.circuit - k) - self.point(self.all - k))

        self.prefetch(x for k in tested for x in (self.circuit - k, self.all - k))

        k = frozenset[str]()
        if min(greedy_steps, len(comp)) > 1:  # which subsets step 2 on tries depends on step 1
            _context.note_value_dependent(f"circuit completeness: greedy search of {self.what}")
        for _ in range(min(greedy_steps, len(comp))):
            steps = [k | {c} for c in comp if c not in k]
            self.prefetch(x for step in steps for x in (self.circuit - step, self.all - step))
            k = max(steps, key=gap)
            if k not in tested:
                tested.append(k)
        what = (f"max over {len(tested)} tested subsets K of the circuit ({draws} random, "
                f"greedy up to {greedy_steps}) of |F(C∖K) − F(M∖K)|")
        if not tested:  # no draw, no greedy step, or the empty circuit: K = ∅ alone
            tested, what = [frozenset()], "|F(C) − F(M)| (K = ∅ only: no subset drawn)"
        kept = [x for k in tested for x in (self.circuit - k, self.all - k)]
        return self.estimate(
            kept, lambda f: np.abs(f[:, 0::2] - f[:, 1::2]).max(axis=1), "completeness", what)

    def curve(self, ranking: tuple[str, ...]) -> tuple[tuple[tuple[int, Estimate], ...],
                                                       Estimate, Estimate]:
        """F of the top-k of ``ranking`` for k = 0..len, its area (CPR) and |1 − F| area (CMD)."""
        kept = [frozenset(ranking[:k]) for k in range(len(ranking) + 1)]
        how = f"kept: the top-k of a ranking of {len(ranking)} components"
        points = tuple(
            (k, self.estimate([kept[k]], lambda f: f[:, 0], f"faithfulness of the top {k}", how))
            for k in range(len(kept)))
        cpr = self.estimate(kept, _area, "CPR (area under the faithfulness curve)",
                            f"trapezoid over sizes k/{len(ranking)}, {how}")
        cmd = self.estimate(kept, lambda f: _area(np.abs(1 - f)),
                            "CMD (area between the faithfulness curve and 1)",
                            f"trapezoid over sizes k/{len(ranking)}, {how}")
        return points, cpr, cmd


def circuit(
    model: Model,
    components: Sequence[str | Site],
    data: DataSpec | Dataset,
    how: Ablation = "mean",
    metric: StateMetric | MetricFn = "logit_diff",
    *,
    candidates: Sequence[str | Site] | None = None,
    ranking: Sequence[str | Site] | Any = None,
    reference: DataSpec | Dataset | None = None,
    mean_over: MeanOver | None = None,
    draws: int = 5,
    greedy_steps: int = 3,
) -> Circuit:
    """How faithful, complete and minimal the circuit ``components`` is (module doc).

    ``candidates``: the components a circuit is drawn from, default every head (``"L1H3"``) and
    every MLP (``"L1.mlp_out"``) of the model; ``∅`` ablates them all. ``how``/``reference``/
    ``mean_over`` as in :func:`interpclaims.ablate` (every ablated candidate of one run takes its
    value the same way; a resample ablation takes all of them from one donor prompt).
    ``metric``: a metric of one run, per prompt (``logit_diff``, ``loss``, ``accuracy``,
    ``prob``), or a callable ``metric(logits, rows)`` (see :func:`interpclaims.ablate`).
    ``ranking``: a list of candidates, best first, or an ``ic.localize`` result (its ranking,
    restricted to the candidates), for the faithfulness curve, CPR and CMD. ``draws``
    random subsets and ``greedy_steps`` greedy steps are tested for completeness.

    The unmodified model and the fully ablated one must differ in mean metric (else faithfulness
    is undefined: an error says so).
    """
    __tracebackhide__ = True
    model = check_model(model, "circuit")
    choice(how, ABLATIONS, "ablation", "circuit", "how")
    count(draws, "draws", "circuit", low=0)
    count(greedy_steps, "greedy_steps", "circuit", low=0)
    check_mean_over(mean_over, [how], how, "circuit")
    pool = _candidates(model, candidates)
    comps = _members(model, components, pool, "components")
    if ranking is not None and hasattr(ranking, "ranking"):  # an ic.localize result
        ranking = [name for name, _ in ranking.ranking if name in pool]
    ranked = _members(model, ranking, pool, "ranking") if ranking is not None else ()
    if ranking is not None and not ranked:
        raise InterpClaimsError("circuit(ranking=): the ranking names no candidate component; "
                                "give a list of candidates, best first, or an ic.localize result")
    ds, batch = prepare(model, data)
    ref = load_data(reference) if reference is not None else None
    if ref is not None:
        _context.note_data(ref.name, ref.sha256)
    m = resolve(metric, STATE_METRICS, "circuit", model, ds, batch)
    what = f"[{', '.join(comps)}], {how}, {m.name}"
    runs = _Runs(model, batch, pool, how, ref, mean_over, m, f"circuit({what})")
    ms = _Measures(runs, comps, what)
    c = ms.circuit
    ms.prefetch([c, *(c - {v} for v in comps),
                 *(frozenset(ranked[:k]) for k in range(len(ranked) + 1))])
    ablated = f"{how}-ablated{scope_text(model, batch, how, ref, mean_over, 'circuit')}"
    gap = estimate_from_samples(
        ms.full - ms.m(c), label=f"gap of circuit({what})", unit_ids=tuple(batch.ids),
        method=f"m(M) − m(C) per prompt on {ds.name} ({m.name}, other candidates {ablated})")
    faith = ms.estimate([c], lambda f: f[:, 0], "faithfulness",
                        f"(m(C) − m(∅)) / (m(M) − m(∅)) on {ds.name}, {len(pool)} candidates "
                        f"{ablated}")
    minimality = {v: ms.estimate([c, c - {v}], lambda f: f[:, 0] - f[:, 1],
                                 f"minimality of {v}", f"F(C) − F(C∖{{{v}}}) on {ds.name}")
                  for v in comps}
    points, cpr, cmd = ms.curve(ranked) if ranked else ((), None, None)
    return Circuit(
        components=comps, candidates=tuple(pool), how=how, metric=m.name, faithfulness=faith,
        gap=gap, completeness=ms.completeness(draws, greedy_steps), minimality=minimality,
        curve=points, cpr=cpr, cmd=cmd,
    )
