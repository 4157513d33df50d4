"""The one number formatter of messages, the terminal and the report."""

from __future__ import annotations

import math

__all__ = ["number"]


def number(x: float | int | None, *, signed: bool = False, missing: str = "–",
           typeset: bool = False) -> str:
    """``x`` with 4 significant digits (``+`` shown when ``signed``); integers as they are;
    infinities as ``inf`` / ``-inf`` (``∞`` / ``−∞`` when ``typeset``, for the HTML page);
    ``None`` (an unbounded or absent value) as ``missing``."""
    if x is None:
        return missing
    if isinstance(x, bool) or not isinstance(x, float):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x) and typeset:
        return "∞" if x > 0 else "−∞"
    if math.isinf(x):
        return ("+inf" if signed else "inf") if x > 0 else "-inf"
    return f"{x:+.4g}" if signed else f"{x:.4g}"
