"""The self-contained HTML page (jinja2, autoescaped; no network): verdict table, forest plots of
the decided quantities, heatmaps of sweeps."""

from __future__ import annotations

import functools
from typing import Any

from interpclaims._format import number

__all__ = ["render_html"]


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page (no network): jinja2 with autoescape."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("interpclaims.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = functools.partial(number, typeset=True)
    groups: dict[str, dict[str, Any]] = {}
    backends: list[str] = []
    for c in data["claims"]:
        key = c["claim_key"] or c["nodeid"]
        if c.get("index"):
            key += f" (claim {c['index'] + 1})"
        g = groups.setdefault(key, {"key": key, "by_backend": {}, "xfail": c.get("xfail", False)})
        g["by_backend"][c["backend"]] = c
        if c["backend"] not in backends:
            backends.append(c["backend"])
    ordered_backends = [b for b in data["manifest"]["backends"] if b in backends] + [
        b for b in backends if b not in data["manifest"]["backends"]]
    rows = list(groups.values())
    for g in rows:
        g["plot"] = _forest([g["by_backend"][b] for b in ordered_backends if b in g["by_backend"]])
        verdicts = {c["verdict"] for c in g["by_backend"].values()}
        g["agree"] = len(verdicts) <= 1
        first = next(iter(g["by_backend"].values()))
        matrix = first["estimate"].get("context", {}).get("matrix")
        g["heatmap"] = _heatmap(matrix, first["estimate"]["context"].get("cell")) if matrix else None
    return env.get_template("report.html.j2").render(
        data=data, rows=rows, backends=ordered_backends, summary=data["summary"],
        manifest=data["manifest"],
    )


def _heatmap(matrix: dict[str, Any], cell: list[str] | None) -> dict[str, Any]:
    """Colors of a sweep matrix (diverging around 0, scaled by the largest |value|)."""
    values = matrix["value"]
    top = max((abs(v) for row in values for v in row), default=1.0) or 1.0
    rows = []
    for r, row in zip(matrix["rows"], values, strict=True):
        cells = []
        for c, v in zip(matrix["cols"], row, strict=True):
            t = max(-1.0, min(1.0, v / top))
            shade = round(255 * (1 - abs(t)))
            color = f"rgb(255,{shade},{shade})" if t < 0 else f"rgb({shade},{shade},255)"
            cells.append({"value": v, "color": color, "dark": abs(t) > 0.6,
                          "picked": cell == [r, c]})
        rows.append({"label": r, "cells": cells})
    return {"title": matrix["title"], "cols": matrix["cols"], "rows": rows}


def _forest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of a small forest plot: each backend's interval of the decided quantity and
    the reference line, scaled into [0, 100]."""
    pts: list[float] = []
    refs: list[float] = []
    for c in entries:
        t = c["tested"]
        pts += [v for v in (t["ci_low"], t["ci_high"], t["value"]) if v is not None]
        ref = c["reference"]
        if c["comparator"] == "exceeds":
            refs.append(float(ref.get("by", 0.0)))
        elif c["comparator"] == "is_negligible":
            refs += [-float(ref["within"]), float(ref["within"])]
        elif c["comparator"] == "is_between":
            refs += [float(ref["low"]), float(ref["high"])]
        else:
            refs.append(float(ref["value"]))
    allv = pts + refs or [0.0, 1.0]
    lo, hi = min(allv), max(allv)
    pad = (hi - lo) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return round(100 * (v - lo) / (hi - lo), 2)

    bars = []
    for i, c in enumerate(entries):
        t = c["tested"]
        low = lo if t["ci_low"] is None else t["ci_low"]
        high = hi if t["ci_high"] is None else t["ci_high"]
        bars.append({"backend": c["backend"], "lo": x(low), "hi": x(high),
                     "mid": x(t["value"]), "y": 8 + 12 * i, "verdict": c["verdict"]})
    return {"bars": bars, "refs": [x(r) for r in refs], "height": 12 * len(entries) + 8,
            "lo": lo, "hi": hi}
