"""Anytime-valid confidence sequences of a mean, for claims decided on growing batches of prompts.

A confidence sequence ``(C_t)`` covers the mean at *every* ``t`` at once with probability
``>= 1 - α``, so a claim may look at it after each batch and stop as soon as it decides, without
inflating its error (a fixed-n interval looked at repeatedly does).

The one used here is the two-sided asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy & Ramdas (2021, "Time-uniform central limit theory and asymptotic confidence sequences",
Theorem 2.2, the Gaussian-mixture boundary of Robbins):

    C_t = mean_t ± sd_t · sqrt( 2 (t ρ² + 1) / (t² ρ²) · log( sqrt(t ρ² + 1) / α ) )

Its assumption: the per-prompt values are i.i.d. draws (prompts taken in a random order) with a
finite variance; the coverage is asymptotic (the values need not be bounded, which logit
differences and losses are not). ``ρ`` sets the time where the sequence is tightest
(:func:`mixture_rho`); every ``t`` keeps the guarantee. ``sd_t`` is the sample standard deviation
of the first ``t`` values; a rate (0/1 values) uses at least the variance of the Wilson-style
shrunk rate ``(s + 1) / (t + 2)``, so that a first batch of identical outcomes does not give a
zero-width sequence. The first look is at :data:`FIRST_LOOK` prompts, not fewer: the asymptotic
guarantee needs the variance estimate to have settled (see the coverage simulations in
``tests/test_stats_sequential.py`` and ``benchmarks/sequential.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FIRST_LOOK", "GROWTH", "ConfidenceSequence", "confidence_sequence", "look_sizes",
           "mixture_rho"]

# prompts at the first look (fewer: the first look is at every prompt), and the growth of the
# evaluated prompts from one look to the next
FIRST_LOOK = 40
GROWTH = 1.5


@dataclass(frozen=True, slots=True)
class ConfidenceSequence:
    """The confidence sequence of a mean at one time ``t`` (prompts seen)."""

    mean: float
    low: float
    high: float
    t: int
    alpha: float


def mixture_rho(alpha: float, t_opt: int) -> float:
    """The mixture parameter ``ρ`` that makes the sequence tightest at ``t_opt`` prompts
    (Waudby-Smith et al. 2021, Section B.2; Howard et al. 2021, Proposition 3)."""
    la = -2.0 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1.0)) / t_opt)


def confidence_sequence(x: np.ndarray, alpha: float, *, t_opt: int = FIRST_LOOK,
                        rate: bool = False) -> ConfidenceSequence:
    """The two-sided ``1 - alpha`` asymptotic confidence sequence of the mean of ``x`` (the
    first ``t = len(x)`` values of the stream), tightest at ``t_opt`` prompts."""
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    t = int(v.size)
    if t < 2:
        raise ValueError(f"a confidence sequence needs at least 2 values, got {t}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    mean = float(v.mean())
    var = float(v.var(ddof=1))
    if rate:
        shrunk = (float(v.sum()) + 1.0) / (t + 2.0)
        var = max(var, shrunk * (1.0 - shrunk))
    rho2 = mixture_rho(alpha, t_opt) ** 2
    radius = math.sqrt(var) * math.sqrt(
        2.0 * (t * rho2 + 1.0) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1.0) / alpha))
    return ConfidenceSequence(mean=mean, low=mean - radius, high=mean + radius, t=t, alpha=alpha)


def look_sizes(n: int, first: int = FIRST_LOOK, growth: float = GROWTH) -> list[int]:
    """Prompts evaluated at each look, for ``n`` prompts: ``first``, then ×``growth`` (rounded
    up), the last look at all ``n``."""
    if n < 1:
        raise ValueError(f"look_sizes needs at least one prompt, got {n}")
    sizes = [min(first, n)]
    while sizes[-1] < n:
        sizes.append(min(n, max(sizes[-1] + 1, math.ceil(sizes[-1] * growth))))
    return sizes
