"""The anytime-valid confidence sequence of ``stats/_sequential.py``: known answers, the batch
schedule, and a simulation of its time-uniform coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interpclaims.stats import confidence_sequence, look_sizes, t_interval
from interpclaims.stats._sequential import FIRST_LOOK, mixture_rho


def _unit_sample(t: int) -> np.ndarray:
    """``t`` values of mean exactly 0 and sample standard deviation exactly 1."""
    x = np.random.default_rng(0).normal(size=t)
    x = x - x.mean()
    return x / x.std(ddof=1)


def test_radius_known_answer() -> None:
    # by hand: ρ² = (−2 ln .05 + ln(1 − 2 ln .05)) / 20 = (5.99146 + 1.94470) / 20 = 0.396808;
    # tρ² = 7.93616; radius = sqrt(2 · 8.93616 / (400 · 0.396808) · ln(sqrt(8.93616) / .05))
    # = sqrt(0.112603 · 4.09077) = 0.678695
    cs = confidence_sequence(_unit_sample(20), 0.05, t_opt=20)
    assert cs.mean == pytest.approx(0.0, abs=1e-12)
    assert cs.high == pytest.approx(0.678695, rel=1e-5)
    assert cs.low == pytest.approx(-cs.high, rel=1e-12)
    assert mixture_rho(0.05, 20) ** 2 == pytest.approx(0.396808, rel=1e-5)


def test_scales_with_the_standard_deviation_and_shifts_with_the_mean() -> None:
    base = confidence_sequence(_unit_sample(50), 0.05)
    moved = confidence_sequence(3.0 * _unit_sample(50) + 7.0, 0.05)
    assert moved.mean == pytest.approx(7.0)
    assert moved.high - moved.mean == pytest.approx(3.0 * (base.high - base.mean), rel=1e-12)


def test_wider_than_the_fixed_n_interval_and_narrowing_with_t() -> None:
    widths = []
    for t in (20, 40, 80, 160, 320):
        x = _unit_sample(t)
        cs = confidence_sequence(x, 0.05)
        _, lo, hi = t_interval(x, level=0.95)
        assert cs.high - cs.low > hi - lo  # the price of peeking
        widths.append(cs.high - cs.low)
    assert widths == sorted(widths, reverse=True)
    # it shrinks more slowly than 1/sqrt(t): the log factor grows
    assert widths[-1] * math.sqrt(320) > widths[0] * math.sqrt(20)


def test_a_rate_of_identical_outcomes_is_not_zero_width() -> None:
    cs = confidence_sequence(np.ones(40), 0.05, rate=True)
    assert cs.low < 1.0 < cs.high
    assert cs.high - cs.low > 0.05
    plain = confidence_sequence(np.ones(40), 0.05)
    assert plain.low == plain.high == 1.0


def test_look_sizes() -> None:
    assert look_sizes(200) == [40, 60, 90, 135, 200]
    assert look_sizes(10) == [10]
    assert look_sizes(41) == [40, 41]
    assert look_sizes(5, first=2, growth=1.1) == [2, 3, 4, 5]
    with pytest.raises(ValueError):
        look_sizes(0)
    with pytest.raises(ValueError):
        confidence_sequence(np.ones(1), 0.05)


@pytest.mark.parametrize("name", ["normal", "rate 0.2"])
def test_time_uniform_coverage(name: str) -> None:
    """The sequence covers the mean at every look of a stream at once: the fraction of 400
    streams of 300 values where it misses at *any* of 53 looks (every 5 prompts from the
    first look on) stays within α + 3 SE, where a fixed-n interval looked at as often misses
    far more often."""
    rng = np.random.default_rng(11)
    sims, alpha, mean = 400, 0.05, 2.0 if name == "normal" else 0.2
    missed = peeked_fixed = 0
    for _ in range(sims):
        x = rng.normal(2.0, 3.0, 300) if name == "normal" else (rng.random(300) < 0.2) * 1.0
        miss = fixed_miss = False
        for t in range(FIRST_LOOK, 301, 5):
            cs = confidence_sequence(x[:t], alpha, rate=name != "normal")
            miss |= not cs.low <= mean <= cs.high
            half = 1.96 * x[:t].std(ddof=1) / math.sqrt(t)
            fixed_miss |= abs(x[:t].mean() - mean) > half
        missed += miss
        peeked_fixed += fixed_miss
    se = math.sqrt(alpha * (1 - alpha) / sims)
    assert missed / sims <= alpha + 3 * se, (name, missed / sims)
    assert peeked_fixed / sims > 2 * alpha  # why the fixed-n interval cannot be peeked at


def test_skewed_values_one_sided_error_at_the_claims_looks() -> None:
    """Exponential values (skewness 2) at the looks a claim takes (:func:`look_sizes`): the
    sequence is asymptotic, so skew shows on one side — it falls wholly below the mean more
    often than α/2 would say at few prompts — but each side stays within α/2 + 3 SE of 400
    streams. (Lognormal values, skewness 6, do not: ~6% on the low side; see the README.)"""
    rng = np.random.default_rng(5)
    sims, alpha = 400, 0.05
    below = above = 0
    for _ in range(sims):
        x = rng.exponential(1.0, 200)
        sides = [confidence_sequence(x[:t], alpha) for t in look_sizes(200)]
        below += any(cs.high < 1.0 for cs in sides)
        above += any(cs.low > 1.0 for cs in sides)
    bound = alpha / 2 + 3 * math.sqrt(alpha / 2 * (1 - alpha / 2) / sims)
    assert below / sims <= bound and above / sims <= bound, (below / sims, above / sims)
