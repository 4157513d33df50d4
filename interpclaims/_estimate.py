"""Estimates: a value with a bootstrap interval over prompts, and the controls measured beside it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from interpclaims import _context
from interpclaims._errors import InterpClaimsError
from interpclaims._format import number
from interpclaims.stats import (
    DEFAULT_CI_LEVEL,
    bootstrap_multiseed,
    mean_interval,
    wilson_interval,
)

__all__ = ["Estimate", "EstimateMatrix", "estimate_from_samples", "estimate_from_seeds"]

@dataclass(frozen=True, slots=True)
class Estimate:
    """A quantity measured over ``n`` prompts: point value and ``ci_level`` interval.

    ``samples`` holds one value per prompt (in the order of ``unit_ids``) so that two estimates
    measured on the same prompts can be compared pairwise. ``controls`` maps a control's name to
    the same quantity measured under that control (see :meth:`control`).
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

    def __post_init__(self) -> None:
        if not (self.ci_low <= self.value <= self.ci_high) and not math.isnan(self.value):
            raise InterpClaimsError(
                f"estimate {self.label or self.method!r}: value {self.value} lies outside its "
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


def estimate_from_samples(
    samples: Any,
    *,
    method: str,
    label: str,
    unit_ids: tuple[str, ...] | None = None,
    controls: Mapping[str, Estimate] | None = None,
    rate: bool = False,
) -> Estimate:
    """An :class:`Estimate` of the mean of one value per prompt, seeded for the current claim.

    The interval: Wilson score when ``rate`` (0/1 values: accuracy, flip rate); otherwise Student t
    below :data:`~interpclaims.stats.SMALL_N` prompts and BCa bootstrap over prompts from there
    on (see :func:`~interpclaims.stats.choose_interval` for the measured reasons).
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
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


def estimate_from_seeds(
    samples_per_seed: list[Any],
    *,
    method: str,
    label: str,
    unit_ids: tuple[str, ...] | None = None,
    controls: Mapping[str, Estimate] | None = None,
    rate: bool = False,
) -> Estimate:
    """An :class:`Estimate` pooling several seeds (splits, random draws): seeds and prompts are
    resampled (a two-level bootstrap), so the interval carries seed-to-seed variance."""
    if len(samples_per_seed) == 1:
        return estimate_from_samples(samples_per_seed[0], method=method, label=label,
                                     unit_ids=unit_ids, controls=controls, rate=rate)
    ctx = _context.current()
    mean, lo, hi = bootstrap_multiseed(
        [np.asarray(s, dtype=np.float64) for s in samples_per_seed],
        _context.rng("estimate-seeds", label, method), level=ctx.ci_level,
        n_resamples=ctx.n_resamples,
    )
    pooled = np.concatenate([np.asarray(s, dtype=np.float64) for s in samples_per_seed])
    return Estimate(
        value=mean, ci_low=min(lo, mean), ci_high=max(hi, mean), n=int(pooled.size),
        method=f"{method}; {len(samples_per_seed)} seeds, seed-then-prompt bootstrap "
               f"({ctx.n_resamples} resamples)",
        label=label, ci_level=ctx.ci_level, samples=pooled, unit_ids=unit_ids,
        controls=dict(controls or {}),
    )


@dataclass(frozen=True, slots=True)
class EstimateMatrix:
    """A grid of estimates (e.g. layer × position of a patching sweep, or layer × head).

    ``matrix[row, col]`` is an :class:`Estimate` that carries the whole grid in its ``context``,
    so a claim on one cell brings the heatmap into the report.
    """

    title: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: tuple[tuple[Estimate, ...], ...]
    # cells whose intervention copied values already present (exactly zero effect)
    noop: tuple[tuple[str, str], ...] = ()

    def __getitem__(self, key: tuple[str | int, str | int]) -> Estimate:
        r, c = key
        i = r if isinstance(r, int) else self._index(self.rows, r, "row")
        j = c if isinstance(c, int) else self._index(self.cols, c, "column")
        return dataclasses.replace(
            self.cells[i][j],
            context={"matrix": self.to_json(), "cell": [self.rows[i], self.cols[j]]},
        )

    def _index(self, labels: tuple[str, ...], name: str, what: str) -> int:
        try:
            return labels.index(str(name))
        except ValueError:
            raise InterpClaimsError(
                f"{self.title}: no {what} {name!r}; {what}s are {', '.join(labels)}"
            ) from None

    def values(self) -> list[list[float]]:
        return [[e.value for e in row] for row in self.cells]

    def argmax(self) -> tuple[str, str]:
        """Labels of the cell with the largest value."""
        best = max(((i, j) for i in range(len(self.rows)) for j in range(len(self.cols))),
                   key=lambda ij: self.cells[ij[0]][ij[1]].value)
        return self.rows[best[0]], self.cols[best[1]]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title, "rows": list(self.rows), "cols": list(self.cols),
            "value": [[e.value for e in row] for row in self.cells],
            "ci_low": [[e.ci_low for e in row] for row in self.cells],
            "ci_high": [[e.ci_high for e in row] for row in self.cells],
            "noop": [list(c) for c in self.noop],
        }
