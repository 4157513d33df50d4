"""The one reporter (controller only): collects claim rows from test reports, writes
``claims.json`` and a self-contained ``claims.html``, and prints a verdict table.

Verdicts arrive decided (each claim is decided, family correction included, while its test runs),
so the reporter never changes one: what pytest printed, junitxml, ``--lf``, the report and the exit
status agree. It writes in ``pytest_sessionfinish``, which pytest also runs after an interruption
or an internal error, so a partial run still leaves a report of what finished — marked partial.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from interpclaims._format import number
from interpclaims.report._document import RunSettings, atomic_write, build_report, json_safe, now
from interpclaims.report._html import render_html
from interpclaims.verdicts import ClaimResult, Verdict

__all__ = ["Reporter"]


class Reporter:
    """Collects results on the controller and writes the report files."""

    def __init__(self, config: pytest.Config, settings: RunSettings) -> None:
        self.config = config
        self.settings = settings
        self.started = now()
        self.results: list[ClaimResult] = []
        self.errors: list[dict[str, Any]] = []
        self.inconclusive: list[tuple[str, str]] = []  # (node id, message) of failing ones
        self.models: dict[str, dict[str, Any]] = {}
        self.forward_passes: Counter[str] = Counter()
        self.analysis_seconds = 0.0  # call phases of claim tests (no start-up, no model loads)
        self.cache: Counter[str] = Counter()
        self.written: list[Path] = []
        # claim tests collected before / after selection (-k, --lf, node ids), from this process
        # or, under xdist, from the workers
        self.selection: tuple[int, int] | None = None

    def note_selection(self, selected: int, declared: int) -> None:
        self.selection = (selected, declared)

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
        rows = [ClaimResult.from_json(row) for row in getattr(report, "interpclaims", [])]
        self.results.extend(rows)
        info = getattr(report, "interpclaims_model", None)
        if info:
            m = self.models.setdefault(info["name"], {
                "weights_sha256": info["weights_sha256"], "spec": info["spec"], "backends": [],
            })
            if info["backend"] not in m["backends"]:
                m["backends"].append(info["backend"])
        if not (is_claim_test and report.failed) or hasattr(report, "wasxfail"):
            return
        verdict = Verdict.of_test(r.verdict for r in rows)
        if verdict is Verdict.INCONCLUSIVE:  # pytest files it apart from its failures: say it here
            row = next(r for r in rows if r.verdict is Verdict.INCONCLUSIVE)
            self.inconclusive.append((report.nodeid, row.message))
        elif verdict is not Verdict.REFUTED:  # failed before deciding a claim, or after
            self.errors.append({"nodeid": report.nodeid, "when": report.when,
                                "message": _message(report)})

    # -- output ----------------------------------------------------------------------------------
    def _partial(self, session: pytest.Session, exitstatus: int) -> list[str]:
        reasons = []
        if exitstatus == int(pytest.ExitCode.INTERRUPTED):
            reasons.append("interrupted")
        elif session.shouldstop or session.shouldfail:
            reasons.append(f"stopped early: {session.shouldstop or session.shouldfail}")
        lf = self.config.pluginmanager.get_plugin("lfplugin")
        if self.config.getoption("lf", False) and getattr(lf, "lastfailed", None):
            reasons.append("--lf: only the tests that failed last time")
        elif self.selection and self.selection[0] < self.selection[1]:
            reasons.append(f"a selection: {self.selection[0]} of {self.selection[1]} claim tests "
                           "collected were selected (-k, -m, --lf or node ids)")
        ran: Counter[tuple[str, str]] = Counter()
        sizes: dict[tuple[str, str], int] = {}
        for r in {(r.nodeid, r.family, r.backend): r for r in self.results}.values():
            ran[r.family, r.backend] += 1
            sizes[r.family, r.backend] = r.family_size or 1
        short = sorted(f"{f} [{b}]: {ran[f, b]} of {n}" for (f, b), n in sizes.items()
                       if ran[f, b] < n)
        if short and not self.selection:
            reasons.append("families decided in part: " + "; ".join(short))
        return reasons

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        collected = self.selection[1] if self.selection else 0
        if not self.results and not self.errors and not collected:
            return  # nothing about claims in this run: do not touch the report folder
        data = build_report(
            claims=[r.to_json() for r in self.results], errors=self.errors, models=self.models,
            settings=self.settings, started=self.started, exitstatus=int(exitstatus),
            interrupted=int(exitstatus) == int(pytest.ExitCode.INTERRUPTED),
            argv=list(self.config.invocation_params.args),
            forward_passes=dict(sorted(self.forward_passes.items())),
            analysis_seconds=round(self.analysis_seconds, 4),
            cache={"mode": self.settings.cache_mode, "dir": str(self.settings.cache_dir),
                   **dict(self.cache)},
            partial=self._partial(session, int(exitstatus)),
        )
        data, replaced = json_safe(data)
        if replaced:
            data["manifest"]["non_finite_replaced"] = replaced
        out = self.settings.report_dir
        out.mkdir(parents=True, exist_ok=True)
        json_path, html_path = out / "claims.json", out / "claims.html"
        atomic_write(json_path, json.dumps(data, indent=2, default=str, allow_nan=False))
        self.written = [json_path]
        try:
            atomic_write(html_path, render_html(data))
            self.written.append(html_path)
        except Exception as e:  # the JSON is written: never lose it to the page
            html_path.unlink(missing_ok=True)
            warnings.warn(f"interpclaims: could not render {html_path}: {e!r}", stacklevel=1)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results and not self.errors and not self.written:
            return
        tr = terminalreporter
        if self.inconclusive:
            tr.section("INCONCLUSIVE claims", yellow=True)
            for nodeid, message in self.inconclusive:
                tr.write_line(f"{nodeid}: {message}", yellow=True)
        tr.section("interpclaims verdicts")
        width = max((len(r.nodeid) for r in self.results), default=10)
        for r in sorted(self.results, key=lambda r: (r.nodeid, r.index)):
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
        for r in self.results:
            if r.verdict_before_correction is not None:
                tr.write_line(f"INCONCLUSIVE after {r.correction} correction within family "
                              f"{r.family!r} of {r.family_size}: {r.nodeid} (p = "
                              f"{number(r.p)}, adjusted {number(r.p_adjusted)} > {r.alpha / 2:g})",
                              yellow=True)
        if self.forward_passes:
            tr.write_line("forward passes: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.forward_passes.items())))
        if self.cache:
            tr.write_line("activation store: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.cache.items()) if v))
        for path in self.written:
            tr.write_line(f"interpclaims report: {path}")


def _message(report: pytest.TestReport) -> str:
    """What went wrong, in the exception's own words, every line of it: the last block of ``E``
    lines of the traceback (not the ``file:line`` location that ends it), or the whole text of
    a failure reported without a traceback."""
    blocks: list[list[str]] = []
    previous = ""
    for line in (report.longreprtext or "").strip().splitlines():
        if line.startswith("E "):
            if not previous.startswith("E "):
                blocks.append([])
            blocks[-1].append(line[1:].strip())
        previous = line
    return "\n".join(blocks[-1]) if blocks else (report.longreprtext or "").strip()
