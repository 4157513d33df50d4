"""The arithmetic of a comparison: the difference of two estimates (paired per prompt when they
share prompts), a p-value on per-prompt samples, sample-size warnings, and the verdict from the
two sides of an interval. Used by :mod:`interpclaims.verdicts._claim`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from interpclaims import _context
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses import cached
from interpclaims.stats import bootstrap_mean_diff, sample_size_warnings
from interpclaims.verdicts._result import Verdict

__all__ = ["decide", "difference", "p_value", "size_warnings"]


@cached  # answered from the result cache, like the analyses
def p_value(est: Estimate, test: Callable[[Any, Any], float]) -> float | None:
    """The p-value of ``test`` on the per-prompt samples of ``est`` (None without samples)."""
    if est.samples is None or est.samples.size < 2:
        return None
    return float(test(est.prompt_values(), _context.rng("p-value", est.label, est.method)))


def size_warnings(est: Estimate, reference: float, kind: str, verdict: Verdict) -> list[str]:
    """Sample-size warnings of a claim (no ``low_power`` one once its interval decided it)."""
    if not (math.isfinite(est.ci_low) and math.isfinite(est.ci_high)):
        if est.n >= 2:  # bounded by n, yet unbounded: a ratio whose denominator may be 0
            return [f"unbounded_interval: {est.n} prompts give an unbounded interval ({est.method})"]
        return [f"insufficient_n: {est.n} prompt(s) give an unbounded interval"]
    return sample_size_warnings(est.n, est.ci_low, est.ci_high, reference, value=est.value,
                                kind=kind, level=est.ci_level,  # type: ignore[arg-type]
                                decided=verdict is not Verdict.INCONCLUSIVE)


def decide(supported: bool, refuted: bool) -> Verdict:
    if supported:
        return Verdict.SUPPORTED
    if refuted:
        return Verdict.REFUTED
    return Verdict.INCONCLUSIVE


@cached
def difference(x: Estimate, other: Estimate) -> Estimate:
    """``x - other`` with a bootstrap interval; paired when both were measured on the same prompts."""
    if x.samples is None or other.samples is None:
        raise InterpClaimsError(
            f"cannot compare {x.label!r} with {other.label!r}: one of them carries no per-prompt "
            "samples (estimates read back from JSON cannot be re-bootstrapped). Compare estimates "
            "returned by analyses in this run, or compare against a number."
        )
    paired = (
        x.unit_ids is not None and x.unit_ids == other.unit_ids and x.samples.size == other.samples.size
    )
    label = f"{x.label} - {other.label}"
    if paired:  # the per-prompt differences are one sample: the same interval rules as any mean
        return estimate_from_samples(
            x.samples - other.samples, method="difference of means, paired per prompt",
            label=label, unit_ids=x.unit_ids, seeds=x.seeds,
        )
    ctx = _context.current()
    value, lo, hi = bootstrap_mean_diff(
        x.prompt_values(), other.prompt_values(), _context.rng("difference", x.label, other.label),
        paired=False, n_resamples=ctx.n_resamples, level=ctx.ci_level, method="bca",
    )
    return Estimate(
        value=value, ci_low=min(lo, value), ci_high=max(hi, value), n=min(x.n, other.n),
        method=f"difference of means (independent BCa bootstrap over prompts, "
               f"{ctx.n_resamples} resamples)",
        label=label, ci_level=ctx.ci_level,
    )
