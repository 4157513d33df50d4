"""Hand-drawn SVG for the HTML page, computed in Python: axis ticks, linear scales, forest-plot rows
that share one axis, and colour scales (with their legend) for heatmaps.

Every picture has a fixed ``viewBox`` width and is drawn at the width of its column with the
default aspect ratio (never ``preserveAspectRatio="none"``), so markers stay round and rows that
share a scale line up with their axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["BACKEND_MARKERS", "VERDICT_COLOURS", "WIDTH", "Interval", "Mark", "Scale", "axis_svg", "colour",
           "colour_legend_svg", "forest_row_svg", "key_svg", "marker_svg", "nice_ticks", "tick_label"]

WIDTH = 600  # viewBox width of every forest row and axis
PAD = 12  # horizontal margin inside the viewBox
LINE = 14  # vertical distance between two intervals of a row
BACKEND_MARKERS = ("circle", "square", "diamond", "triangle")
VERDICT_COLOURS = {"SUPPORTED": "#1f7a35", "REFUTED": "#b3261e", "INCONCLUSIVE": "#9a6a00",
                   "expected": "#7c8794", "control": "#5b6670"}


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """About ``target`` round ticks (steps of 1, 2, 2.5 or 5 × 10^k) whose first and last tick
    enclose ``[lo, hi]``. A zero-width range is widened by 10% of its magnitude (or by 1 at 0)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"nice_ticks: the range [{lo}, {hi}] is not finite")
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-12))
    # the ratios are scale-free, so a fixed relative slack absorbs the rounding of lo / step
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    digits = max(0, 2 - math.floor(math.log10(step)))
    return [round(k * step, digits) + 0.0 for k in range(first, last + 1)]


def tick_label(t: float, ticks: Sequence[float]) -> str:
    """``t`` written with as many decimals as the tick step needs (no float noise)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(t) or 1.0
    big = max(abs(x) for x in ticks) if ticks else abs(t)
    if step < 1e-3 or big >= 1e5:
        return f"{t:.3g}".replace("-", "−")
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{t:.{decimals}f}".replace("-", "−")


@dataclass(frozen=True, slots=True)
class Scale:
    """A linear map from the data interval ``[lo, hi]`` to the pixels ``[left, right]``."""

    lo: float
    hi: float
    left: float = PAD
    right: float = WIDTH - PAD

    def __call__(self, v: float) -> float:
        """The x of ``v``, clamped to the drawing area (an unbounded side ends at the edge)."""
        span = self.hi - self.lo or 1.0
        v = min(max(v, self.lo), self.hi)
        return round(self.left + (self.right - self.left) * (v - self.lo) / span, 2)

    @classmethod
    def enclosing(cls, values: Sequence[float], target: int = 5) -> tuple[Scale, list[float]]:
        """The scale whose ends are the outer ticks around ``values`` (finite ones), and
        those ticks."""
        finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
        ticks = nice_ticks(min(finite), max(finite), target)
        return cls(ticks[0], ticks[-1]), ticks


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval of a forest row: a point and its bounds (``None``: unbounded)."""

    value: float
    low: float | None
    high: float | None
    colour: str
    marker: str  # one of BACKEND_MARKERS
    title: str  # hover text
    hollow: bool = False  # controls are drawn hollow
    backend: str = ""  # the page's backend filter hides the intervals of the others


@dataclass(frozen=True, slots=True)
class Mark:
    """A reference drawn across a forest row: a line at ``low`` or a band ``[low, high]``."""

    low: float
    high: float | None = None
    title: str = ""


def marker_svg(shape: str, x: float, y: float, fill: str, *, hollow: bool = False,
               size: float = 4.5) -> str:
    """One marker (circle, square, diamond or triangle) centred at ``(x, y)``."""
    paint = (f'fill="#fff" stroke="{fill}" stroke-width="1.6"' if hollow
             else f'fill="{fill}" stroke="#fff" stroke-width="0.8"')
    s = size
    if shape == "square":
        return f'<rect x="{x - s:.2f}" y="{y - s:.2f}" width="{2 * s}" height="{2 * s}" {paint}/>'
    if shape == "diamond":
        d = s * 1.3
        pts = f"{x:.2f},{y - d:.2f} {x + d:.2f},{y:.2f} {x:.2f},{y + d:.2f} {x - d:.2f},{y:.2f}"
        return f'<polygon points="{pts}" {paint}/>'
    if shape == "triangle":
        d = s * 1.25
        pts = f"{x:.2f},{y - d:.2f} {x + d:.2f},{y + d * 0.8:.2f} {x - d:.2f},{y + d * 0.8:.2f}"
        return f'<polygon points="{pts}" {paint}/>'
    return f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{s}" {paint}/>'


def forest_row_svg(scale: Scale, ticks: Sequence[float], intervals: Sequence[Interval],
                   marks: Sequence[Mark], *, label: str) -> str:
    """One claim's intervals (one line each) over the gridlines of its group's shared axis,
    with its references: dashed lines, or shaded bands for a range or an equivalence margin."""
    height = LINE * len(intervals) + 8
    out = [f'<svg class="forest" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="{escape(label)}">']
    out += [f'<line class="grid" x1="{scale(t)}" x2="{scale(t)}" y1="0" y2="{height}"/>'
            for t in ticks]
    for m in marks:
        tip = f"<title>{escape(m.title)}</title>" if m.title else ""
        if m.high is not None:
            x0, x1 = scale(m.low), scale(m.high)
            out.append(f'<rect class="band" x="{x0}" y="0" width="{max(x1 - x0, 0.5):.2f}" '
                       f'height="{height}">{tip}</rect>')
        else:
            x = scale(m.low)
            out.append(f'<line class="ref" x1="{x}" x2="{x}" y1="0" y2="{height}">{tip}</line>')
    for i, iv in enumerate(intervals):
        y = 4 + LINE * i + LINE / 2
        lo = scale(scale.lo if iv.low is None else iv.low)
        hi = scale(scale.hi if iv.high is None else iv.high)
        width = 1.4 if iv.hollow else 2.2
        out.append(f'<g data-backend="{escape(iv.backend)}"><title>{escape(iv.title)}</title>'
                   f'<line x1="{lo}" x2="{hi}" y1="{y}" y2="{y}" stroke="{iv.colour}" '
                   f'stroke-width="{width}"/>')
        for end, bounded in ((lo, iv.low is not None), (hi, iv.high is not None)):
            if bounded:
                out.append(f'<line x1="{end}" x2="{end}" y1="{y - 3}" y2="{y + 3}" '
                           f'stroke="{iv.colour}" stroke-width="{width}"/>')
        out.append(marker_svg(iv.marker, scale(iv.value), y, iv.colour, hollow=iv.hollow))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _anchor(x: float, scale: Scale) -> str:
    """Labels at the ends of an axis are aligned inwards, so they are never cut off."""
    return "start" if x <= scale.left else "end" if x >= scale.right else "middle"


def axis_svg(scale: Scale, ticks: Sequence[float], *, unit: str) -> str:
    """The shared axis of a group: tick marks and labels above, the unit in the label."""
    out = [f'<svg class="axis" viewBox="0 0 {WIDTH} 24" role="img" '
           f'aria-label="axis: {escape(unit)}">',
           f'<line x1="{scale.left}" x2="{scale.right}" y1="20" y2="20" stroke="#5b6670"/>']
    out += _tick_marks(scale, ticks, line=(15, 20), text_y=11)
    out.append("</svg>")
    return "".join(out)


def _tick_marks(scale: Scale, ticks: Sequence[float], *, line: tuple[int, int], text_y: int
                ) -> list[str]:
    """A tick mark from ``line[0]`` to ``line[1]`` (y) and its label at ``text_y``, per tick."""
    return [f'<line x1="{scale(t)}" x2="{scale(t)}" y1="{line[0]}" y2="{line[1]}" '
            f'stroke="#5b6670"/><text x="{scale(t)}" y="{text_y}" '
            f'text-anchor="{_anchor(scale(t), scale)}">{escape(tick_label(t, ticks))}</text>'
            for t in ticks]


# a diverging blue–white–red ramp (ColorBrewer RdBu ends): red below zero, blue above
_NEG = (178, 24, 43)
_POS = (33, 102, 172)


def colour(t: float) -> str:
    """The colour of ``t`` in ``[-1, 1]`` (clamped): white at 0, blue at 1, red at −1."""
    t = min(1.0, max(-1.0, t))
    end = _POS if t >= 0 else _NEG
    a = abs(t)
    rgb = (round(255 + (c - 255) * a) for c in end)
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def colour_legend_svg(lo: float, hi: float, *, label: str, steps: int = 40) -> str:
    """The colour scale of a heatmap whose colours map ``[lo, hi]`` (``lo`` < 0: diverging
    around 0, symmetric; ``lo`` = 0: white to blue), with ticks."""
    scale = Scale(lo, hi, 8, 232)
    ticks = [t for t in nice_ticks(lo, hi, 4) if lo - 1e-9 * (hi - lo) <= t <= hi + 1e-9 * (hi - lo)]
    top = max(abs(lo), abs(hi)) or 1.0
    w = (scale.right - scale.left) / steps
    out = [f'<svg class="legend" viewBox="0 0 240 40" role="img" '
           f'aria-label="colour scale: {escape(label)}">']
    for k in range(steps):
        v = lo + (hi - lo) * (k + 0.5) / steps
        out.append(f'<rect x="{scale.left + k * w:.2f}" y="4" width="{w + 0.3:.2f}" height="12" '
                   f'fill="{colour(v / top)}"/>')
    out.append(f'<rect x="{scale.left}" y="4" width="{scale.right - scale.left}" height="12" '
               'fill="none" stroke="#9aa4ad" stroke-width="0.6"/>')
    out += _tick_marks(scale, ticks, line=(16, 21), text_y=32)
    out.append("</svg>")
    return "".join(out)


def key_svg(kind: str, colour_: str = "#1d232a", marker: str = "circle") -> str:
    """A small legend key: a marker with its interval (``kind`` "marker" or "hollow"), a
    dashed reference line ("ref") or a reference band ("band")."""
    body = {
        "marker": f'<line x1="3" x2="29" y1="8" y2="8" stroke="{colour_}" stroke-width="2.2"/>'
                  + marker_svg(marker, 16, 8, colour_),
        "hollow": f'<line x1="3" x2="29" y1="8" y2="8" stroke="{colour_}" stroke-width="1.4"/>'
                  + marker_svg(marker, 16, 8, colour_, hollow=True),
        "ref": '<line class="ref" x1="16" x2="16" y1="0" y2="16"/>',
        "band": '<rect class="band" x="6" y="0" width="20" height="16"/>',
    }[kind]
    return f'<svg class="key" viewBox="0 0 32 16" aria-hidden="true">{body}</svg>'
