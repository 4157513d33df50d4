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

from interpclaims._errors import InterpClaimsError
from interpclaims.report._baseline import Comparison, compare, load_baseline
from interpclaims.report._document import (
    RunSettings,
    atomic_write,
    build_report,
    git_state,
    json_safe,
    now,
)
from interpclaims.report._html import render_html
from interpclaims.report._table import write_csv
from interpclaims.report._terminal import write_baseline, write_verdicts
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
        self.remote: Counter[str] = Counter()  # remote requests, bytes sent and returned
        self.result_cache: Counter[str] = Counter()  # hits, misses, uncacheable, ...
        self.written: list[Path] = []
        # claim tests collected before / after selection (-k, --lf, node ids), from this process
        # or, under xdist, from the workers
        self.selection: tuple[int, int] | None = None
        self.comparison: Comparison | None = None
        self.baseline: list[dict[str, Any]] = []
        if settings.baseline is not None:
            try:
                self.baseline = load_baseline(settings.baseline)
            except InterpClaimsError as e:
                raise pytest.UsageError(f"--claims-baseline: {e}") from None

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
            self.remote.update(counters.get("remote", {}))
            self.result_cache.update(counters.get("results", {}))
        rows = [ClaimResult.from_json(row) for row in getattr(report, "interpclaims", [])]
        self.results.extend(rows)
        info = getattr(report, "interpclaims_model", None)
        if info:
            placement = info.get("placement")  # device_map= / dtype= of ic.model, when given
            key = info["name"] + (f" [{placement}]" if placement else "")
            m = self.models.setdefault(key, {
                "weights_sha256": info["weights_sha256"], "spec": info["spec"], "backends": [],
                **({"placement": placement} if placement else {}),
            })
            if info["backend"] not in m["backends"]:
                m["backends"].append(info["backend"])
            for k in ("devices", "dtypes"):
                m[k] = sorted(set(m.get(k, [])) | set(info.get(k, [])))
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
        if self.settings.baseline is not None:
            self.comparison = compare(self.results, self.baseline, self.settings.fail_on)
            self.results = list(self.comparison.results)
            if self.comparison.regressions and session.exitstatus == 0:
                session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
        data = build_report(
            claims=[r.to_json() for r in self.results], errors=self.errors, models=self.models,
            settings=self.settings, started=self.started, exitstatus=int(exitstatus),
            interrupted=int(exitstatus) == int(pytest.ExitCode.INTERRUPTED),
            argv=list(self.config.invocation_params.args),
            forward_passes=dict(sorted(self.forward_passes.items())),
            analysis_seconds=round(self.analysis_seconds, 4),
            cache={"mode": self.settings.cache_mode, "dir": str(self.settings.cache_dir),
                   **dict(self.cache),
                   **({"results": dict(self.result_cache)} if self.result_cache else {})},
            partial=self._partial(session, int(exitstatus)),
            remote={"mode": getattr(self.settings, "remote", "off"), **dict(self.remote)},
            git=git_state(self.config.rootpath),
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
        self._extra_files(data)

    def _extra_files(self, data: dict[str, Any]) -> None:
        """``--claims-csv`` and ``--claims-save``: the table, and this run as a named baseline."""
        for path, write in ((self.settings.csv, write_csv), (self.settings.save, None)):
            if path is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if write is None:
                atomic_write(path, json.dumps(data, indent=2, default=str, allow_nan=False))
            else:
                write(data, path)
            self.written.append(path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results and not self.errors and not self.written:
            return
        tr = terminalreporter
        if self.inconclusive:
            tr.section("INCONCLUSIVE claims", yellow=True)
            for nodeid, message in self.inconclusive:
                tr.write_line(f"{nodeid}: {message}", yellow=True)
        width = self.config.get_terminal_writer().fullwidth
        write_verdicts(tr, self.results, self.config.get_verbosity() > 0, width)
        if self.forward_passes:
            tr.write_line("forward passes: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.forward_passes.items())))
        mode = getattr(self.settings, "remote", "off")
        if self.remote or mode != "off":  # also when the caches left nothing to send
            r = self.remote
            tr.write_line(f"remote ({mode}): {r.get('requests', 0)} requests "
                          f"({r.get('traces', 0)} traces), {r.get('bytes_sent', 0)} bytes sent, "
                          f"{r.get('bytes_returned', 0)} bytes returned, "
                          f"{r.get('retries', 0)} retries")
        if self.cache:
            tr.write_line("activation store: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.cache.items()) if v))
        if self.result_cache:
            tr.write_line("result cache: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.result_cache.items()) if v))
        if self.comparison is not None and self.settings.baseline is not None:
            write_baseline(tr, self.comparison, self.settings.baseline, width)
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
