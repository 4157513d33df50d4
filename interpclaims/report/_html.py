"""The self-contained HTML page (jinja2, autoescaped; inline CSS, JS and SVG, no network): the run
banner, claims grouped into forest plots with one shared axis per unit, the backends side by side,
heatmaps of sweeps, and the manifest as tables."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from interpclaims._format import number
from interpclaims.report._forest import forest_groups, legend
from interpclaims.report._heatmap import heatmap
from interpclaims.report._manifest import manifest_tables
from interpclaims.report._view import banner, claim_rows

__all__ = ["render_html"]


def _backends(data: Mapping[str, Any]) -> list[str]:
    """The backends in the manifest's order, then any other a claim ran on."""
    listed = list(data.get("manifest", {}).get("backends") or [])
    seen = [c.get("backend") or "-" for c in data.get("claims", [])]
    used = [b for b in listed if b in seen]
    return used + [b for b in dict.fromkeys(seen) if b not in used]


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page of a ``claims.json`` document (schema 1 or 2)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("interpclaims.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = functools.partial(number, typeset=True)
    env.filters["lo"] = functools.partial(number, typeset=True, missing="−∞")
    env.filters["hi"] = functools.partial(number, typeset=True, missing="∞")
    backends = _backends(data)
    rows = claim_rows(data, backends)
    for row in rows:
        row["heatmap"] = heatmap(row["cells"])
    groups = forest_groups(rows, backends)
    has_baseline = any(c.get("baseline") for c in data.get("claims", []))
    statuses = sorted({s for row in rows for s in row["statuses"]}, key=_STATUS_ORDER.index)
    return env.get_template("report.html.j2").render(
        data=data, manifest=data.get("manifest", {}), groups=groups, backends=backends,
        banner=banner(data), legend=legend(backends, baseline=has_baseline),
        tables=manifest_tables(data), statuses=statuses, n_rows=len(rows),
        errors=data.get("errors", []),
    )


_STATUS_ORDER = ["failed", "regression", "supported", "expected", "allowed", "xpassed"]
