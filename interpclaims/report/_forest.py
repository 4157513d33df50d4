"""The forest plot of the page: claims grouped by the unit of their estimate, one shared ticked axis
per group, each claim's row drawing every backend's interval (a marker shape per backend, a colour
per status), its baseline when the run was compared with one (light, hollow; not for ``exceeds``,
whose baseline would be of the difference it decided on), its controls (hollow, with their
intervals) and its reference (dashed line, or a band for a range or an equivalence margin).

An ``exceeds`` claim is decided on the paired difference *estimate − reference*; its row draws the
estimate and the reference on the estimate's own axis, with the reference plus the margin dashed,
so it shares the axis of the other claims on that quantity. Other claims draw the tested quantity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from interpclaims._format import number
from interpclaims.report._svg import (
    BACKEND_MARKERS,
    VERDICT_COLOURS,
    Interval,
    Mark,
    Scale,
    axis_svg,
    forest_row_svg,
    key_svg,
)

__all__ = ["forest_groups", "legend", "status_colour"]

BASELINE_COLOUR = "#8fb3d9"


def status_colour(status: str, verdict: str) -> str:
    """Green supported, red refuted, amber inconclusive, grey for an expected refutation."""
    if status == "expected":
        return VERDICT_COLOURS["expected"]
    return VERDICT_COLOURS.get(verdict, VERDICT_COLOURS["control"])


def _fmt_interval(e: Mapping[str, Any]) -> str:
    lo, hi = e.get("ci_low"), e.get("ci_high")
    n = f", n={e['n']}" if e.get("n") is not None else ""
    return (f"{number(e.get('value'), typeset=True)} [{number(lo, typeset=True, missing='−∞')}, "
            f"{number(hi, typeset=True, missing='∞')}]{n}")


def _intervals(cell: Mapping[str, Any], marker: str, plot_estimate: bool) -> list[Interval]:
    """A backend's intervals in one row: the plotted quantity (or each estimate of a claim on
    several), then each control, hollow."""
    b = cell["backend"]
    main = cell["estimate"] if plot_estimate else cell["tested"]
    pieces = [(e, str(e.get("verdict") or cell["verdict"]), f"{b}: {e.get('label', '')}")
              for e in cell["estimates"]] or [(main, cell["verdict"], f"{b}: {main.get('label')}")]
    out = [Interval(float(e["value"]), e.get("ci_low"), e.get("ci_high"),
                    status_colour(cell["status"], verdict), marker,
                    f"{name} = {_fmt_interval(e)} ({verdict})", backend=b)
           for e, verdict, name in pieces]
    base = cell["baseline"] or {}
    if not plot_estimate and isinstance(base.get("value"), int | float):
        out.append(Interval(float(base["value"]), base.get("ci_low"), base.get("ci_high"),
                            BASELINE_COLOUR, marker, f"{b}: baseline = {_fmt_interval(base)}",
                            hollow=True, backend=b))
    if plot_estimate:
        out += [Interval(float(k["value"]), k.get("ci_low"), k.get("ci_high"),
                         VERDICT_COLOURS["control"], marker,
                         f"{b}: control {k['name']} = {_fmt_interval(k)}", hollow=True,
                         backend=b)
                for k in cell["controls"] if isinstance(k.get("value"), int | float)]
    return out


def _marks(first: Mapping[str, Any], cells: Sequence[Mapping[str, Any]]) -> list[Mark]:
    """The reference of a claim on its plotted axis."""
    ref = first.get("reference") or {}
    comparator = first.get("comparator", "")
    label = str(ref.get("label") or "reference")
    if comparator == "exceeds":
        by = float(ref.get("by") or 0.0)
        if ref.get("kind") == "estimate":
            if not by:
                return []  # the reference is the hollow control interval itself
            out = []
            for c in cells:
                r = next((k for k in c["controls"] if k.get("label") == ref.get("label")), None)
                if r is not None and isinstance(r.get("value"), int | float):
                    out.append(Mark(float(r["value"]) + by,
                                    title=f"{c['backend']}: {label} + {number(by)}"))
            return out
        return [Mark(float(ref.get("value", 0.0)) + by, title=f"{label} + {number(by)}")]
    if comparator == "is_negligible" and "within" in ref:
        v, w = float(ref.get("value", 0.0)), float(ref["within"])
        return [Mark(v - w, v + w, title=label), Mark(v, title="centre of the margin")]
    if "low" in ref and "high" in ref:
        return [Mark(float(ref["low"]), float(ref["high"]), title=label)]
    if isinstance(ref.get("value"), int | float):
        return [Mark(float(ref["value"]), title=label)]
    return []


def _extent(intervals: Sequence[Interval], marks: Sequence[Mark]) -> list[float]:
    vals: list[float] = []
    for iv in intervals:
        vals += [v for v in (iv.value, iv.low, iv.high) if v is not None]
    for m in marks:
        vals += [v for v in (m.low, m.high) if v is not None]
    return [v for v in vals if math.isfinite(v)]


def forest_groups(rows: list[dict[str, Any]], backends: list[str]) -> list[dict[str, Any]]:
    """The rows grouped by unit (groups sorted by name, rows in document order), each row with
    its SVG drawn on its group's shared scale, and each group with its axis."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["unit"], []).append(row)
    out = []
    for unit in sorted(groups):
        members = groups[unit]
        drawn = []
        for row in members:
            plot_estimate = row["first"].get("comparator") == "exceeds"
            ivs = [iv for c in row["cells"]
                   for iv in _intervals(c, _marker(c["backend"], backends), plot_estimate)]
            drawn.append((row, ivs, _marks(row["first"], row["cells"])))
        values = [v for _, ivs, marks in drawn for v in _extent(ivs, marks)]
        scale, ticks = Scale.enclosing(values)
        for row, ivs, marks in drawn:
            row["svg"] = forest_row_svg(scale, ticks, ivs, marks, label=row["key"])
        out.append({"unit": unit, "rows": members, "axis": axis_svg(scale, ticks, unit=unit)})
    return out


def _marker(backend: str, backends: list[str]) -> str:
    i = backends.index(backend) if backend in backends else len(backends)
    return BACKEND_MARKERS[i % len(BACKEND_MARKERS)]


def legend(backends: list[str], *, baseline: bool = False) -> list[tuple[str, str]]:
    """The keys of the forest plot: ``(svg, text)`` for each backend's marker, each status'
    colour, controls, the baseline (when there is one) and references."""
    ink = VERDICT_COLOURS["control"]
    out = [(key_svg("marker", ink, _marker(b, backends)), b) for b in backends]
    out += [(key_svg("marker", VERDICT_COLOURS[v]), text) for v, text in (
        ("SUPPORTED", "supported"), ("REFUTED", "refuted"), ("INCONCLUSIVE", "inconclusive"),
        ("expected", "expected refutation (xfail)"))]
    out += [(key_svg("hollow", ink), "control (hollow)")]
    out += [(key_svg("hollow", BASELINE_COLOUR), "baseline (light, hollow)")] * baseline
    out += [(key_svg("ref"), "reference"),
            (key_svg("band"), "reference range / margin")]
    return out
