"""The one reporter (controller only): collects claim results from test reports, writes
``claims.json`` and a self-contained ``claims.html``, and prints a verdict table.

It writes in ``pytest_sessionfinish``, which pytest also runs after an interruption or an
internal error, so a partial run still leaves a report of what finished.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from interpclaims.verdicts import Verdict

if TYPE_CHECKING:
    from interpclaims.plugin._stash import Settings

__all__ = ["Reporter", "build_report", "render_html"]

PACKAGES = ("interpclaims", "torch", "transformers", "transformer-lens", "nnsight", "numpy",
            "scipy", "pytest", "pytest-xdist", "circuit-tracer", "sae-lens")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def group_key(nodeid: str, backend: str) -> str:
    """The claim a node id belongs to across backends: the id with the backend removed."""
    if "[" not in nodeid or not backend:
        return nodeid
    base, _, params = nodeid.partition("[")
    parts = params.removesuffix("]").split("-")
    if backend in parts:
        parts.remove(backend)
    return f"{base}[{'-'.join(parts)}]" if parts else base


class Reporter:
    """Collects results on the controller and writes the report files."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.started = _now()
        self.claims: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.forward_passes: Counter[str] = Counter()
        self.analysis_seconds = 0.0  # call phases of claim tests (no start-up, no model loads)
        self.cache: Counter[str] = Counter()
        self.written: list[Path] = []
        self.downgraded: list[dict[str, Any]] = []

    # -- collection ----------------------------------------------------------------------------
    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and getattr(report, "interpclaims_test", False):
            self.analysis_seconds += report.duration
        counters = getattr(report, "interpclaims_counters", None)
        if counters:
            self.forward_passes.update(counters.get("forward_passes", {}))
            self.cache.update(counters.get("cache", {}))
        for entry in getattr(report, "interpclaims", []):
            self.claims.append(entry)
        info = getattr(report, "interpclaims_model", None)
        if info:
            m = self.models.setdefault(info["name"], {
                "weights_sha256": info["weights_sha256"], "spec": info["spec"], "backends": [],
            })
            if info["backend"] not in m["backends"]:
                m["backends"].append(info["backend"])
        has_claims = bool(getattr(report, "interpclaims", []))
        is_claim_test = getattr(report, "interpclaims_test", False)
        if is_claim_test and report.failed and not has_claims and not hasattr(report, "wasxfail"):
            self.errors.append({
                "nodeid": report.nodeid, "when": report.when,
                "message": next(iter((report.longreprtext or "").strip().splitlines()[-1:]), ""),
            })

    # -- output ----------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.downgraded = correct_families(self.claims, self.settings.correction)
        if (not self.settings.allow_inconclusive
                and any(not c.get("xfail") for c in self.downgraded)
                and session.exitstatus == pytest.ExitCode.OK):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            exitstatus = int(pytest.ExitCode.TESTS_FAILED)
        data = build_report(
            claims=self.claims, errors=self.errors, models=self.models, settings=self.settings,
            started=self.started, exitstatus=int(exitstatus),
            interrupted=bool(session.shouldstop) or int(exitstatus) == int(pytest.ExitCode.INTERRUPTED),
            argv=list(self.config.invocation_params.args),
            forward_passes=dict(sorted(self.forward_passes.items())),
            analysis_seconds=round(self.analysis_seconds, 4),
            cache={"mode": self.settings.cache_mode, "dir": str(self.settings.cache_dir),
                   **dict(self.cache)},
        )
        if not data["claims"] and not data["errors"]:
            return  # nothing about claims in this run: do not touch the report folder
        out = self.settings.report_dir
        out.mkdir(parents=True, exist_ok=True)
        json_path = out / "claims.json"
        html_path = out / "claims.html"
        _atomic_write(json_path, json.dumps(data, indent=2, default=str, allow_nan=False))
        _atomic_write(html_path, render_html(data))
        self.written = [json_path, html_path]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.claims and not self.errors:
            return
        tr = terminalreporter
        tr.section("interpclaims verdicts")
        width = max((len(c["nodeid"]) for c in self.claims), default=10)
        for c in sorted(self.claims, key=lambda c: c["nodeid"]):
            t = c["tested"]
            ref = c["reference"]
            what = "x - ref" if c["comparator"] == "exceeds" else "x"
            line = (f"{c['verdict']:<12} {c['nodeid']:<{width}}  {c['estimate']['value']:+.4g}"
                    f"  ({what} {t['value']:+.4g} [{_bound(t['ci_low'], -1)}, {_bound(t['ci_high'], 1)}]"
                    f" vs {ref['label']}{' by ' + format(ref['by'], 'g') if ref.get('by') else ''})"
                    f"{'  [xfail]' if c.get('xfail') else ''}")
            markup = {"SUPPORTED": {"green": True}, "REFUTED": {"red": True}}.get(
                c["verdict"], {"yellow": True})
            tr.write_line(line, **markup)
        counts = Counter(c["verdict"] for c in self.claims)
        tr.write_line(", ".join(f"{counts.get(v.value, 0)} {v.value.lower()}" for v in Verdict))
        for c in self.downgraded:
            tr.write_line(f"INCONCLUSIVE after {self.settings.correction} correction within family "
                          f"{c['family']!r} [{c['backend']}]: {c['nodeid']} (p = {c['p']:.3g}, "
                          f"adjusted {c['p_adjusted']:.3g} > {c['alpha'] / 2:g})", yellow=True)
        if self.forward_passes:
            tr.write_line("forward passes: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.forward_passes.items())))
        if self.cache:
            tr.write_line("activation store: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.cache.items())))
        for path in self.written:
            tr.write_line(f"interpclaims report: {path}")


def correct_families(claims: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    """Adjust p-values within each (family, backend) and downgrade SUPPORTED claims whose
    adjusted p-value exceeds α/2 (the one-sided level of a 95% interval) to INCONCLUSIVE.

    Families are complete only at the end of the session, on the controller, so this runs there.
    Returns the downgraded claims (modified in place).
    """
    from interpclaims.stats import adjust_pvalues

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in claims:
        groups.setdefault((c.get("family") or c["nodeid"], c["backend"]), []).append(c)
    downgraded = []
    for members in groups.values():
        tested = [c for c in members if c.get("p") is not None]
        for c in members:
            c["family_size"] = len(members)
            c["correction"] = method
            c.setdefault("p_adjusted", None)
        if not tested:
            continue
        adjusted = adjust_pvalues([c["p"] for c in tested], method=method)  # type: ignore[arg-type]
        for c, q in zip(tested, adjusted, strict=True):
            c["p_adjusted"] = float(q)
            if c["verdict"] == "SUPPORTED" and q > c["alpha"] / 2:
                c["verdict"] = "INCONCLUSIVE"
                c["verdict_before_correction"] = "SUPPORTED"
                c["warnings"] = [*c.get("warnings", []), (
                    f"not significant after {method} correction within family {c['family']!r} "
                    f"of {len(members)} claims: adjusted p = {q:.3g} > {c['alpha'] / 2:g}")]
                downgraded.append(c)
    return downgraded


def _bound(x: float | None, side: int) -> str:
    """An interval bound for the terminal; ``None`` is an unbounded side."""
    if x is None:
        return "-inf" if side < 0 else "+inf"
    return f"{x:+.4g}"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_report(
    *, claims: list[dict[str, Any]], errors: list[dict[str, Any]], models: dict[str, Any],
    settings: Settings, started: str, exitstatus: int, interrupted: bool, argv: list[str],
    forward_passes: dict[str, int] | None = None, cache: dict[str, Any] | None = None,
    analysis_seconds: float = 0.0,
) -> dict[str, Any]:
    """The ``claims.json`` document."""
    claims = sorted(claims, key=lambda c: (c["nodeid"], c.get("index", 0), c["backend"]))
    data_hashes: dict[str, str] = {}
    for c in claims:
        data_hashes.update(c.get("data", {}))
    summary: dict[str, int] = {v.value: 0 for v in Verdict}
    for c in claims:
        summary[c["verdict"]] += 1
    summary["total"] = len(claims)
    summary["errors"] = len(errors)
    by_backend: dict[str, dict[str, int]] = {}
    for c in claims:
        b = by_backend.setdefault(c["backend"] or "-", {v.value: 0 for v in Verdict})
        b[c["verdict"]] += 1
    summary_out: dict[str, Any] = {**summary, "by_backend": by_backend}
    manifest = {
        "tool": "interpclaims",
        "versions": _versions(),
        "seed": settings.seed,
        "backends": list(settings.backends),
        "ci_level": 0.95,
        "bootstrap_resamples": settings.n_resamples,
        "alpha": 0.05,
        "correction": settings.correction,
        "inconclusive_policy": "pass" if settings.allow_inconclusive else "fail",
        "models": models,
        "data": dict(sorted(data_hashes.items())),
        "started": started,
        "finished": _now(),
        "exitstatus": exitstatus,
        "interrupted": interrupted,
        "argv": argv,
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "device": "cpu",
        "forward_passes": forward_passes or {},
        "analysis_seconds": analysis_seconds,
        "cache": cache or {},
    }
    return {"manifest": manifest, "summary": summary_out, "claims": claims, "errors": errors}


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page (no network): jinja2 with autoescape."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("interpclaims.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _num
    groups: dict[str, dict[str, Any]] = {}
    backends: list[str] = []
    for c in data["claims"]:
        key = group_key(c["nodeid"], c["backend"])
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


def _num(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if x != x:
            return "nan"
        if x in (float("inf"), float("-inf")):
            return "∞" if x > 0 else "−∞"
        return f"{x:.4g}"
    return str(x)


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
