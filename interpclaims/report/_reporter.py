"""The one reporter (controller only): collects claim rows from test reports, applies the family
correction, writes ``claims.json`` and a self-contained ``claims.html``, and prints a verdict table.

It writes in ``pytest_sessionfinish``, which pytest also runs after an interruption or an
internal error, so a partial run still leaves a report of what finished.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from interpclaims._format import number
from interpclaims.report._document import RunSettings, atomic_write, build_report, now
from interpclaims.report._html import render_html
from interpclaims.verdicts import ClaimResult, Verdict, correct_families

__all__ = ["Reporter"]


class Reporter:
    """Collects results on the controller and writes the report files."""

    def __init__(self, config: pytest.Config, settings: RunSettings) -> None:
        self.config = config
        self.settings = settings
        self.started = now()
        self.results: list[ClaimResult] = []
        self.errors: list[dict[str, Any]] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.forward_passes: Counter[str] = Counter()
        self.analysis_seconds = 0.0  # call phases of claim tests (no start-up, no model loads)
        self.cache: Counter[str] = Counter()
        self.written: list[Path] = []
        self.downgraded: list[ClaimResult] = []

    # -- collection ----------------------------------------------------------------------------
    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        is_claim_test = getattr(report, "interpclaims_test", False)
        if report.when == "call" and is_claim_test:
            self.analysis_seconds += report.duration
        counters = getattr(report, "interpclaims_counters", None)
        if counters:
            self.forward_passes.update(counters.get("forward_passes", {}))
            self.cache.update(counters.get("cache", {}))
        rows = getattr(report, "interpclaims", [])
        self.results.extend(ClaimResult.from_json(row) for row in rows)
        info = getattr(report, "interpclaims_model", None)
        if info:
            m = self.models.setdefault(info["name"], {
                "weights_sha256": info["weights_sha256"], "spec": info["spec"], "backends": [],
            })
            if info["backend"] not in m["backends"]:
                m["backends"].append(info["backend"])
        if is_claim_test and report.failed and not rows and not hasattr(report, "wasxfail"):
            self.errors.append({
                "nodeid": report.nodeid, "when": report.when,
                "message": next(iter((report.longreprtext or "").strip().splitlines()[-1:]), ""),
            })

    # -- output ----------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.results = correct_families(self.results, self.settings.correction)
        self.downgraded = [r for r in self.results if r.verdict_before_correction is not None]
        if (not self.settings.allow_inconclusive
                and any(not r.xfail for r in self.downgraded)
                and session.exitstatus == pytest.ExitCode.OK):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            exitstatus = int(pytest.ExitCode.TESTS_FAILED)
        data = build_report(
            claims=[r.to_json() for r in self.results], errors=self.errors, models=self.models,
            settings=self.settings, started=self.started, exitstatus=int(exitstatus),
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
        atomic_write(json_path, json.dumps(data, indent=2, default=str, allow_nan=False))
        atomic_write(html_path, render_html(data))
        self.written = [json_path, html_path]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results and not self.errors:
            return
        tr = terminalreporter
        tr.section("interpclaims verdicts")
        width = max((len(r.nodeid) for r in self.results), default=10)
        for r in sorted(self.results, key=lambda r: r.nodeid):
            t, ref = r.tested, r.reference
            what = "x - ref" if r.comparator == "exceeds" else "x"
            line = (f"{r.verdict.value:<12} {r.nodeid:<{width}}  {number(r.estimate.value, signed=True)}"
                    f"  ({what} {number(t.value, signed=True)} [{number(t.ci_low, signed=True)}, "
                    f"{number(t.ci_high, signed=True)}]"
                    f" vs {ref['label']}{' by ' + format(ref['by'], 'g') if ref.get('by') else ''})"
                    f"{'  [xfail]' if r.xfail else ''}")
            markup = {Verdict.SUPPORTED: {"green": True}, Verdict.REFUTED: {"red": True}}.get(
                r.verdict, {"yellow": True})
            tr.write_line(line, **markup)
        counts = Counter(r.verdict for r in self.results)
        tr.write_line(", ".join(f"{counts.get(v, 0)} {v.value.lower()}" for v in Verdict))
        for r in self.downgraded:
            tr.write_line(f"INCONCLUSIVE after {self.settings.correction} correction within family "
                          f"{r.family!r} [{r.backend}]: {r.nodeid} (p = {r.p:.3g}, "
                          f"adjusted {r.p_adjusted:.3g} > {r.alpha / 2:g})", yellow=True)
        if self.forward_passes:
            tr.write_line("forward passes: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.forward_passes.items())))
        if self.cache:
            tr.write_line("activation store: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.cache.items())))
        for path in self.written:
            tr.write_line(f"interpclaims report: {path}")
