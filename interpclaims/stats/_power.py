"""Sample-size diagnostics: too few prompts, and intervals too wide to decide a claim."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

from interpclaims.stats._defaults import DEFAULT_CI_LEVEL
from interpclaims.stats._validation import _check_finite, _check_level

__all__ = ["MIN_PROMPTS", "sample_size_warnings"]

# Below this many prompts a claim gets an ``insufficient_n`` warning (see sample_size_warnings).
MIN_PROMPTS = 20


def _sample_size_warnings_iv(
    n: int, margin_or_threshold: float, level: float, power: float
) -> tuple[int, float, float]:
    level = _check_level(level)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie strictly between 0 and 1, got {power}")
    return int(n), _check_finite(margin_or_threshold, "margin_or_threshold"), level


def sample_size_warnings(
    n: int,
    ci_low: float,
    ci_high: float,
    margin_or_threshold: float,
    *,
    value: float | None = None,
    kind: Literal["threshold", "equivalence"] = "threshold",
    level: float = DEFAULT_CI_LEVEL,
    power: float = 0.8,
    decided: bool = False,
) -> list[str]:
    """Warnings about the sample size of a claim decided on ``[ci_low, ci_high]``.

    * ``insufficient_n``: fewer than :data:`MIN_PROMPTS` prompts. Intervals from so few prompts
      are unreliable whatever their width (the bootstrap undercovers, outlier prompts dominate).
    * ``low_power``: the interval is too wide to decide the claim reliably. For a threshold
      (``is_at_least``, ``is_at_most``, ``exceeds(by=)``; ``margin_or_threshold`` is the reference
      ``r``) with distance ``δ = |value - r|`` (``value`` defaults to the interval's midpoint):
      a decisive verdict needs the interval to exclude ``r``, i.e. ``width < 2δ``; to do so in
      ``power`` (80%) of replications at this ``n`` if the true value were the observed one needs
      ``width <= 2δ · z₁ / (z₁ + z_power)`` with ``z₁ = Φ⁻¹((1 + level) / 2)`` (1.96) and
      ``z_power = Φ⁻¹(power)`` (0.84): ``width <= 1.40 δ`` at the defaults. Wider intervals warn,
      unless ``decided``: a claim whose interval already decided it (SUPPORTED or REFUTED) gets no
      ``low_power`` warning — its width did not stop it from being decided.
      For an equivalence claim (``kind="equivalence"``, ``margin_or_threshold`` is ``d`` of
      ``is_negligible(within=d)``): the same rule with ``δ = |d - |value||``, the distance to the
      nearer margin, and always when ``width >= 2d`` (then no estimate can be SUPPORTED).

    The message gives the approximate number of prompts that would meet the rule (``n`` scaled
    by ``(width / width_needed)²``, since interval widths shrink as ``1 / sqrt(n)``). This is a
    planning aid: "power" at the observed effect is a restatement of the observed distance, not
    evidence about the true effect.
    """
    n, ref, level = _sample_size_warnings_iv(n, margin_or_threshold, level, power)
    out: list[str] = []
    if n < MIN_PROMPTS:
        out.append(
            f"insufficient_n: only {n} prompt(s), fewer than MIN_PROMPTS={MIN_PROMPTS}; "
            "intervals from so few prompts are unreliable — add prompts"
        )
    if decided:
        return out
    width = float(ci_high) - float(ci_low)
    if math.isfinite(ci_low) and math.isfinite(ci_high):
        center = 0.5 * (float(ci_low) + float(ci_high)) if value is None else float(value)
    else:
        center = float("nan") if value is None else float(value)
    z1 = NormalDist().inv_cdf(0.5 + level / 2.0)
    zp = NormalDist().inv_cdf(power)
    if kind == "equivalence":
        if ref <= 0:
            raise ValueError(f"equivalence margin must be > 0, got {ref}")
        delta = abs(ref - abs(center))
        if width >= 2.0 * ref:
            out.append(
                f"low_power: the interval is {width:.4g} wide, at least the width 2*{ref:.4g} of "
                f"the equivalence region, so no estimate could be SUPPORTED at n={n}"
                + _needed(n, width, 2.0 * ref * z1 / (z1 + zp))
            )
            return out
    elif kind == "threshold":
        delta = abs(center - ref)
    else:
        raise ValueError(f"kind must be 'threshold' or 'equivalence', got {kind!r}")
    needed_width = 2.0 * delta * z1 / (z1 + zp)
    if not width <= needed_width:  # also when width or delta is not finite
        out.append(
            f"low_power: low power — the interval is {width:.4g} wide but deciding a distance "
            f"of {delta:.4g} from the reference with {power:.0%} power needs a width of at most "
            f"{needed_width:.4g}" + _needed(n, width, needed_width)
        )
    return out


def _needed(n: int, width: float, needed_width: float) -> str:
    if not (math.isfinite(width) and needed_width > 0 and n >= 2):
        return ""
    return f" (about {math.ceil(n * (width / needed_width) ** 2)} prompts would)"
