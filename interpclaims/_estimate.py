"""Estimates: a value with a bootstrap interval over prompts, and the controls measured beside it."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from interpclaims import _context
from interpclaims._errors import InterpClaimsError
from interpclaims._format import number
from interpclaims.stats import (
    DEFAULT_CI_LEVEL,
    bootstrap_ratio,
    mean_interval,
    table_interval,
    wilson_interval,
)

__all__ = [
    "Estimate",
    "PromptStream",
    "estimate",
    "estimate_from_samples",
    "estimate_from_seeds",
    "estimate_ratio",
]

@dataclass(frozen=True, slots=True)
class Estimate:
    """A quantity measured over ``n`` prompts: point value and ``ci_level`` interval.

    ``samples`` holds one value per prompt (in the order of ``unit_ids``) so that two estimates
    measured on the same prompts can be compared pairwise. When ``seeds > 1`` the estimate pools
    several random draws (probe splits, donor draws): ``samples`` is then a seeds × prompts table
    flattened seed by seed (``samples.reshape(seeds, -1)``), and a paired comparison keeps that
    structure, so its interval carries the draws' variance too. ``controls`` maps a control's
    name to the same quantity measured under that control (see :meth:`control`).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    method: str
    label: str = ""
    ci_level: float = DEFAULT_CI_LEVEL
    samples: np.ndarray | None = field(default=None, compare=False, repr=False)
    unit_ids: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    controls: Mapping[str, Estimate] = field(default_factory=dict, compare=False, repr=False)
    # JSON-safe extras for the report (e.g. the matrix a sweep cell belongs to)
    context: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # how many random draws ``samples`` pools (rows of its seeds × prompts table)
    seeds: int = field(default=1, compare=False, repr=False)
    # a permutation null: the statistic recomputed under k label permutations (a probe's
    # ``permutation_null``). Its presence flags the comparison: ``x.exceeds(this)`` is decided by
    # the permutation p-value of ``x.value`` among these replicates, not by an interval
    null: np.ndarray | None = field(default=None, compare=False, repr=False)
    # ``--claims-sequential``: the prompts not evaluated yet; this estimate then holds only the
    # first batch, and a claim extends it batch by batch (see :class:`PromptStream`)
    stream: PromptStream | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        name = self.label or self.method
        if not math.isfinite(self.value):
            raise InterpClaimsError(
                f"estimate {name!r}: its value is {self.value}, not a finite number — a claim "
                "cannot be decided on it. Check the per-prompt values the analysis (or the "
                "callable metric) produced for NaN or infinity."
            )
        if math.isnan(self.ci_low) or math.isnan(self.ci_high):
            raise InterpClaimsError(
                f"estimate {name!r}: its interval [{self.ci_low}, {self.ci_high}] has a NaN bound "
                "(an unbounded side is written -inf / inf)"
            )
        if not self.ci_low <= self.value <= self.ci_high:
            raise InterpClaimsError(
                f"estimate {name!r}: value {self.value} lies outside its "
                f"interval [{self.ci_low}, {self.ci_high}]"
            )
        if isinstance(self.controls, dict):
            object.__setattr__(self, "controls", MappingProxyType(dict(self.controls)))

    def control(self, name: str) -> Estimate:
        """The same quantity measured under the control ``name`` (e.g. ``"random_heads"``)."""
        __tracebackhide__ = True
        try:
            return self.controls[name]
        except KeyError:
            have = ", ".join(sorted(self.controls)) or "none"
            raise InterpClaimsError(
                f"estimate {self.label or self.method!r} has no control {name!r}; "
                f"controls measured with it: {have}. Ask the analysis for it with "
                f"controls=[{name!r}, ...]."
            ) from None

    def prompt_values(self) -> np.ndarray:
        """One value per measured prompt: ``samples``, or for an estimate pooling several seeds
        each prompt's mean over the seeds (what a per-prompt test uses)."""
        if self.samples is None:
            raise InterpClaimsError(f"estimate {self.label or self.method!r} carries no "
                                    "per-prompt samples")
        if self.seeds == 1:
            return self.samples
        return self.samples.reshape(self.seeds, -1).mean(axis=0)

    def __str__(self) -> str:
        pct = round(self.ci_level * 100)
        return (f"{number(self.value)} [{pct}% CI {number(self.ci_low)}, {number(self.ci_high)}]"
                f" (n={self.n})")

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary (per-prompt samples are not included)."""
        out: dict[str, Any] = {
            "value": self.value,
            # an unbounded side is written as null (JSON has no infinity)
            "ci_low": self.ci_low if math.isfinite(self.ci_low) else None,
            "ci_high": self.ci_high if math.isfinite(self.ci_high) else None,
            "n": self.n,
            "method": self.method,
            "label": self.label,
            "ci_level": self.ci_level,
        }
        if self.controls:
            out["controls"] = {k: v.to_json() for k, v in self.controls.items()}
        if self.context:
            out["context"] = dict(self.context)
        if self.null is not None:
            out["permutations"] = int(self.null.size)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Estimate:
        controls = {k: cls.from_json(v) for k, v in data.get("controls", {}).items()}
        return cls(
            value=data["value"],
            ci_low=-math.inf if data["ci_low"] is None else data["ci_low"],
            ci_high=math.inf if data["ci_high"] is None else data["ci_high"], n=data["n"],
            method=data["method"], label=data.get("label", ""),
            ci_level=data.get("ci_level", DEFAULT_CI_LEVEL), controls=controls,
            context=dict(data.get("context", {})),
        )


class PromptStream:
    """The prompts of a sequential estimate (``--claims-sequential``), evaluated in growing batches.

    ``evaluate(rows)`` runs the analysis on the dataset rows ``rows`` (indices into ``ids``, the
    dataset's order) and returns one value per row and the forward passes it took. Rows are
    evaluated in ``order``, a seeded random permutation, so that each batch is a random sample of
    the prompts. Not a value object: it accumulates what has been evaluated.
    """

    def __init__(self, *, ids: tuple[str, ...], order: np.ndarray, method: str, label: str,
                 rate: bool, evaluate: Callable[[list[int]], tuple[np.ndarray, int]]) -> None:
        self.ids, self.order, self.method, self.label, self.rate = ids, order, method, label, rate
        self._evaluate = evaluate
        self.values = np.zeros(0)
        self.forward_passes = 0

    @property
    def total(self) -> int:
        return len(self.ids)

    @property
    def evaluated(self) -> int:
        return int(self.values.size)

    def extend_to(self, k: int) -> np.ndarray:
        """Evaluate prompts until the first ``k`` of ``order`` are; their values, in that order."""
        k = min(k, self.total)
        if k > self.evaluated:
            rows = [int(i) for i in self.order[self.evaluated:k]]
            values, passes = self._evaluate(rows)
            self.values = np.concatenate([self.values, np.asarray(values, np.float64).reshape(-1)])
            self.forward_passes += passes
        return self.values[:k]

    def complete(self) -> Estimate:
        """Every prompt evaluated, as the fixed-n estimate the analysis gives without the flag
        (values in the dataset's order): what a claim the sequential rule does not cover uses."""
        values = self.extend_to(self.total)
        in_order = np.empty_like(values)
        in_order[self.order] = values
        return estimate_from_samples(in_order, method=self.method, label=self.label,
                                     unit_ids=self.ids, rate=self.rate)


def estimate_from_samples(
    samples: Any,
    *,
    method: str,
    label: str,
    unit_ids: tuple[str, ...] | None = None,
    controls: Mapping[str, Estimate] | None = None,
    rate: bool = False,
    seeds: int = 1,
) -> Estimate:
    """An :class:`Estimate` of the mean of one value per prompt, seeded for the current claim.

    The interval: Wilson score when ``rate`` (0/1 values: accuracy, flip rate); otherwise Student t
    below :data:`~interpclaims.stats.SMALL_N` prompts and BCa bootstrap over prompts from there
    on (see :func:`~interpclaims.stats.choose_interval` for the measured reasons). ``seeds > 1``:
    ``samples`` is a flattened seeds × prompts table (see :class:`Estimate`), pooled as in
    :func:`estimate_from_seeds`.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if seeds > 1:
        return _pooled(x.reshape(seeds, -1), method=method, label=label, unit_ids=unit_ids,
                       controls=controls, rate=rate)
    ctx = _context.current()
    if rate and x.size > 1:
        mean, lo, hi = wilson_interval(x, level=ctx.ci_level)
        how = "Wilson score interval of a rate"
    else:
        r = mean_interval(x, _context.rng("estimate", label, method), n_resamples=ctx.n_resamples,
                          level=ctx.ci_level)
        mean, lo, hi = r.mean, r.low, r.high
        how = {"t": "Student-t interval (few prompts)",
               "bca": f"BCa bootstrap over prompts ({ctx.n_resamples} resamples)",
               "percentile": f"percentile bootstrap over prompts ({ctx.n_resamples} resamples)",
               }[r.method]
    return Estimate(
        value=mean, ci_low=lo, ci_high=hi, n=int(x.size), method=f"{method}; {how}",
        label=label, ci_level=ctx.ci_level, samples=x, unit_ids=unit_ids,
        controls=dict(controls or {}),
    )


def estimate(values: Any, *, label: str, ids: Any = None) -> Estimate:
    """Per-prompt ``values`` (a list, a numpy array or a torch tensor, one number per prompt)
    as an :class:`Estimate` of their mean, with the harness's interval rules (Student t below
    :data:`~interpclaims.stats.SMALL_N` prompts, BCa bootstrap over prompts from there on) and the
    current claim's seed — a hand-written analysis claimed like a built-in one. For a paired
    comparison pass the per-prompt differences. ``ids``: one prompt id per value (the data rows'
    ``id``), default ``"0"``, ``"1"``, ...
    """
    __tracebackhide__ = True
    if not isinstance(label, str) or not label.strip():
        raise InterpClaimsError(f"estimate(label=): give the estimate a name (a non-empty string), "
                                f"got {label!r}")
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().cpu().double().numpy()
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InterpClaimsError(f"estimate {label!r}: values must be numbers, one per prompt, "
                                f"got {type(values).__name__} {reprlib.repr(values)}") from e
    if x.ndim != 1 or x.size == 0:
        raise InterpClaimsError(f"estimate {label!r}: values must be a non-empty 1-D sequence, "
                                f"one number per prompt; got shape {list(x.shape)}")
    bad = np.flatnonzero(~np.isfinite(x))
    unit_ids = tuple(str(i) for i in (range(x.size) if ids is None else ids))
    if len(unit_ids) != x.size or len(set(unit_ids)) != x.size:
        raise InterpClaimsError(f"estimate {label!r}: ids= must name each of the {x.size} values "
                                f"once, got {len(unit_ids)} ids ({len(set(unit_ids))} distinct)")
    if bad.size:
        raise InterpClaimsError(f"estimate {label!r}: value {x[bad[0]]} of prompt "
                                f"{unit_ids[bad[0]]!r} is not finite ({bad.size} such); drop or "
                                "fix those prompts")
    return estimate_from_samples(x, method=f"{label}: user values per prompt (ic.estimate)",
                                 label=label, unit_ids=unit_ids)


def estimate_ratio(num: Any, den: Any, *, method: str, label: str,
                   unit_ids: tuple[str, ...] | None = None) -> Estimate:
    """An :class:`Estimate` of ``mean(num) / mean(den)`` over the same prompts: the paired BCa
    bootstrap applied to the ratio (:func:`~interpclaims.stats.bootstrap_ratio`); an unbounded
    interval where the denominator's own interval reaches zero. It carries no per-prompt samples
    (a ratio of means is not a mean of per-prompt values): ``context["ratio_of_means"]`` holds
    ``num`` and ``den`` per prompt, to recompute it."""
    ctx = _context.current()
    x = np.asarray(num, dtype=np.float64).reshape(-1)
    y = np.asarray(den, dtype=np.float64).reshape(-1)
    r = bootstrap_ratio(x, y, _context.rng("ratio", label, method), n_resamples=ctx.n_resamples,
                        level=ctx.ci_level)
    how = (f"ratio of means, paired BCa bootstrap over prompts resampled jointly "
           f"({ctx.n_resamples} resamples)")
    if not r.bounded:
        how += "; unbounded: the denominator's interval reaches 0"
    parts = {"ids": list(unit_ids) if unit_ids is not None else None,
             "numerator": x.tolist(), "denominator": y.tolist()}
    return Estimate(value=r.value, ci_low=r.low, ci_high=r.high, n=int(x.size),
                    method=f"{method}; {how}", label=label, ci_level=ctx.ci_level,
                    unit_ids=unit_ids, context={"ratio_of_means": parts})


def estimate_from_seeds(
    samples_per_seed: list[Any],
    *,
    method: str,
    label: str,
    unit_ids: tuple[str, ...] | None = None,
    controls: Mapping[str, Estimate] | None = None,
    rate: bool = False,
) -> Estimate:
    """An :class:`Estimate` pooling several seeds (splits, random draws) of the same prompts.

    ``samples_per_seed[s][i]`` is prompt ``i`` (``unit_ids[i]``) measured with seed ``s`` (a
    crossed design: every seed measures every prompt). The value is the mean over seeds and
    prompts; the interval is the two-way random-effects interval of
    :func:`~interpclaims.stats.table_interval`, so it carries the seed-to-seed variance — a draw
    shared by all prompts of a seed — as well as the prompt-to-prompt variance. One seed is an
    ordinary per-prompt estimate (its draw is then not in the interval).
    """
    rows = [np.asarray(s, dtype=np.float64).reshape(-1) for s in samples_per_seed]
    if len({r.size for r in rows}) != 1:
        raise InterpClaimsError(
            f"estimate {label!r}: every seed must measure the same prompts, got "
            f"{[r.size for r in rows]} values per seed"
        )
    if len(rows) == 1:
        return estimate_from_samples(rows[0], method=method, label=label, unit_ids=unit_ids,
                                     controls=controls, rate=rate)
    return _pooled(np.stack(rows), method=method, label=label, unit_ids=unit_ids,
                   controls=controls, rate=rate)


def _pooled(table: np.ndarray, *, method: str, label: str, unit_ids: tuple[str, ...] | None,
            controls: Mapping[str, Estimate] | None, rate: bool) -> Estimate:
    """The estimate of a seeds × prompts table."""
    ctx = _context.current()
    mean, lo, hi, df = table_interval(table, level=ctx.ci_level, rate=rate)
    how = "Wilson interval with the effective number of cells" if rate else "Student-t interval"
    return Estimate(
        value=mean, ci_low=lo, ci_high=hi, n=table.shape[1],
        method=f"{method}; {table.shape[0]} seeds × {table.shape[1]} prompts, two-way "
               f"random-effects variance (seeds and prompts), {how} ({df:.0f} df)",
        label=label, ci_level=ctx.ci_level, samples=table.reshape(-1), unit_ids=unit_ids,
        controls=dict(controls or {}), seeds=table.shape[0],
    )
