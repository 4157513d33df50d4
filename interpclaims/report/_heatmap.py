"""Heatmaps of the matrices claims were taken from (patch sweeps, head sweeps, layer × layer
similarity): every backend side by side on one colour scale, columns labelled with their tokens
when the matrix carries them, each cell's interval on hover, the claimed cell outlined."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from interpclaims._format import number
from interpclaims.report._svg import colour, colour_legend_svg, nice_ticks

__all__ = ["cell_text", "heatmap"]


def _domain(matrices: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """The colour domain shared by the backends: ``[0, T]`` when no value is negative, else
    ``[−T, T]``, with ``T`` the round tick at or above the largest magnitude."""
    values = [float(v) for m in matrices for row in m["value"] for v in row
              if isinstance(v, int | float) and math.isfinite(v)]
    top = max((abs(v) for v in values), default=0.0) or 1.0
    t = nice_ticks(0.0, top, 4)[-1]
    return (0.0 if min(values, default=0.0) >= 0 else -t), t


def _columns(m: Mapping[str, Any]) -> list[dict[str, str]]:
    tokens = list(m.get("col_tokens") or [])
    cols = []
    for j, c in enumerate(m["cols"]):
        tok = tokens[j] if j < len(tokens) else ""
        cols.append({"label": tok or c, "title": f"{c}: {tok}" if tok else str(c)})
    return cols


def _at(m: Mapping[str, Any], name: str, i: int, j: int) -> float | None:
    grid = m.get(name) or []
    try:
        v = grid[i][j]
    except (IndexError, TypeError):
        return None
    return float(v) if isinstance(v, int | float) else None


def cell_text(v: float | None, top: float) -> str:
    """A cell's value to a hundredth of its colour scale's end ``top`` (the colours resolve no
    finer; the exact value and its interval are in the cell's hover text)."""
    if v is None:
        return "–"
    if v == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(top)))
    text = f"{v:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def _grid(m: Mapping[str, Any], cell: Sequence[str] | None, top: float, backend: str,
          cols: list[dict[str, str]]) -> list[dict[str, Any]]:
    noop = {tuple(x) for x in m.get("noop") or []}
    rows = []
    for i, r in enumerate(m["rows"]):
        cells = []
        for j, c in enumerate(m["cols"]):
            v = _at(m, "value", i, j)
            lo, hi = _at(m, "ci_low", i, j), _at(m, "ci_high", i, j)
            t = 0.0 if v is None else v / top
            title = (f"{backend} {r}, {cols[j]['title']}: {number(v, typeset=True)} "
                     f"[{number(lo, typeset=True, missing='−∞')}, "
                     f"{number(hi, typeset=True, missing='∞')}]")
            if m.get("method") == "atp":  # AtP scores rank; the cells claimed are patched
                title = (f"{backend} {r}, {cols[j]['title']}: AtP {number(v, typeset=True)}"
                         + "".join(f", patched {number(x, typeset=True)}"
                                   for cr, cc, x in m.get("confirmed") or [] if [cr, cc] == [r, c]))
            elif m.get("method") == "exact":  # a sweep ranked by patching every cell (remote)
                title = f"{backend} {r}, {cols[j]['title']}: patched {number(v, typeset=True)}"
            if (r, c) in noop:
                title += " (the patch copied identical values: exactly 0)"
            cells.append({"text": cell_text(v, top), "colour": colour(t),
                          "dark": abs(t) > 0.55, "title": title,
                          "picked": list(cell or []) == [r, c], "noop": (r, c) in noop})
        rows.append({"label": r, "cells": cells})
    return rows


def heatmap(cells: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The heatmap of a claim from its backends' cells (``None`` when no estimate carries a
    matrix in its ``context``)."""
    found = []
    for c in cells:
        ctx = c["estimate"].get("context") or {}
        if isinstance(ctx.get("matrix"), Mapping):
            found.append((c["backend"], ctx["matrix"], ctx.get("cell")))
    if not found:
        return None
    lo, hi = _domain([m for _, m, _ in found])
    top = max(abs(lo), abs(hi))
    panels = []
    for backend, m, cell in found:
        cols = _columns(m)
        panels.append({"backend": backend, "cols": cols,
                       "rows": _grid(m, cell, top, backend, cols)})
    title = str(found[0][1].get("title", ""))
    return {"title": title, "panels": panels,
            "legend": colour_legend_svg(lo, hi, label=title),
            "cell": " × ".join(str(x) for x in (found[0][2] or [])),
            "tokens": any(m.get("col_tokens") for _, m, _ in found)}
