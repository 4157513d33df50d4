"""Estimates: a value with a bootstrap interval over prompts, and the controls measured beside it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from interpclaims import _context
from interpclaims._errors import InterpClaimsError
from interpclaims._stats import DEFAULT_CI_LEVEL, bootstrap_mean

__all__ = ["Estimate", "estimate_from_samples"]

def _fmt(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:.4g}"


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
        return (f"{_fmt(self.value)} [{pct}% CI {_fmt(self.ci_low)}, {_fmt(self.ci_high)}]"
                f" (n={self.n})")

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary (per-prompt samples are not included)."""
        out: dict[str, Any] = {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "method": self.method,
            "label": self.label,
            "ci_level": self.ci_level,
        }
        if self.controls:
            out["controls"] = {k: v.to_json() for k, v in self.controls.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Estimate:
        controls = {k: cls.from_json(v) for k, v in data.get("controls", {}).items()}
        return cls(
            value=data["value"], ci_low=data["ci_low"], ci_high=data["ci_high"], n=data["n"],
            method=data["method"], label=data.get("label", ""),
            ci_level=data.get("ci_level", DEFAULT_CI_LEVEL), controls=controls,
        )


def estimate_from_samples(
    samples: Any,
    *,
    method: str,
    label: str,
    unit_ids: tuple[str, ...] | None = None,
    controls: Mapping[str, Estimate] | None = None,
) -> Estimate:
    """Bootstrap an :class:`Estimate` from one value per prompt, seeded for the current claim."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    ctx = _context.current()
    mean, lo, hi = bootstrap_mean(
        x, _context.rng("estimate", label, method), n_resamples=ctx.n_resamples,
        level=ctx.ci_level,
    )
    return Estimate(
        value=mean, ci_low=lo, ci_high=hi, n=int(x.size),
        method=f"{method}; percentile bootstrap over prompts ({ctx.n_resamples} resamples)",
        label=label, ci_level=ctx.ci_level, samples=x, unit_ids=unit_ids,
        controls=dict(controls or {}),
    )
