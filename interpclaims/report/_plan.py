"""The plan of a run (``pytest --claims-plan``): what the selected claims would cost, per model
and backend, printed instead of a report.

Each claim test ran against planning models (no weights, placeholder numbers) and its teardown
report carries ``interpclaims_plan``: the forward passes the harness counted (all, and those with
edits), the activation-store traffic (hits, misses, the bytes a real run would write) and notes
on what makes a test's count an estimate. :class:`PlanReporter` (controller only) sums them,
prints the plan in the terminal summary and writes it to ``plan.json`` in the report folder.

Remote requests: a model run here sends none (``remote: off``). A planned remote model
(``--claims-remote`` or ``ic.model(remote=)``) groups its passes into sessions as the real one
does (:func:`interpclaims.models._sessions.sessions`), and each session is one request: its
count is the model's ``remote_requests``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from interpclaims._format import number

__all__ = ["PlanReporter", "plan_document"]


def plan_document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan of the test rows ``{"nodeid", "counters", "notes"}``: per ``"model [backend]"``
    the forward passes (``clean``, ``intervention``, and ``gradient``: forward + backward passes
    of attribution patching), the store's writes, bytes and hits, the
    remote requests; the totals per backend; the passes of each test; and the tests whose counts
    are estimates."""
    passes: Counter[str] = Counter()
    edited: Counter[str] = Counter()
    gradient: Counter[str] = Counter()
    store: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    modes: dict[str, str] = {}
    for row in rows:
        counters = row.get("counters") or {}
        passes.update(counters.get("forward_passes", {}))
        edited.update(counters.get("intervention_passes", {}))
        gradient.update(counters.get("backward_passes", {}))
        store.update(counters.get("cache", {}))
        for key, sent in counters.get("remote_requests", {}).items():
            requests[key] += sent["requests"]
            modes[key] = sent["mode"]
    models = {key: {"forward_passes": passes[key],
                    "clean": passes[key] - edited[key] - gradient[key],
                    "intervention": edited[key], "gradient": gradient[key],
                    "remote": modes.get(key, "off"), "remote_requests": requests[key]}
              for key in sorted(passes)}
    backends: Counter[str] = Counter()
    for key, n in passes.items():
        backends[key.rsplit("[", 1)[-1].rstrip("]")] += n
    estimates = {row["nodeid"]: row["notes"] for row in rows if row.get("notes")}
    per_test = {row["nodeid"]: sum((row.get("counters") or {}).get("forward_passes", {}).values())
                for row in rows}
    return {"forward_passes": dict(sorted(passes.items())), "models": models,
            "by_backend": dict(sorted(backends.items())),
            "store": {k: store[k] for k in ("hits", "misses", "writes", "bytes_written")},
            "tests": len(rows), "per_test": per_test, "estimates": estimates,
            "exact": not estimates}


class PlanReporter:
    """Collects the plan rows (controller only), prints the plan, writes ``plan.json``."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self.rows: list[dict[str, Any]] = []
        self.written: Path | None = None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "interpclaims_plan", None)
        if row is not None:
            self.rows.append(row)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / "plan.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(plan_document(self.rows), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        self.written = path

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        doc = plan_document(self.rows)
        tr = terminalreporter
        tr.section("interpclaims plan (no model was run, no claim was decided)")
        for key, m in doc["models"].items():
            tr.write_line(f"{key}: {m['forward_passes']} forward passes ({m['clean']} clean, "
                          f"{m['intervention']} intervention, {m['gradient']} with a gradient); "
                          f"remote: {m['remote']}, "
                          f"{m['remote_requests']} requests")
        if not doc["models"]:
            tr.write_line("no forward pass: the selected tests run no model")
        tr.write_line("per backend: " + (", ".join(f"{b} {n}" for b, n in
                                                  doc["by_backend"].items()) or "none"))
        s = doc["store"]
        tr.write_line(f"activation store: {s['writes']} new entries, "
                      f"{number(s['bytes_written'] / 2**20)} MiB written; {s['hits']} reads "
                      f"served from the store")
        if doc["estimates"]:
            tr.write_line(f"estimates ({len(doc['estimates'])} tests: their counts depend on "
                          "the numbers computed, or the plan could not follow them to the end):")
            for nodeid, notes in doc["estimates"].items():
                tr.write_line(f"  {nodeid}: {'; '.join(notes)}")
        else:
            tr.write_line(f"every count is exact ({doc['tests']} claim tests planned)")
        tr.write_line("the result cache is not consulted: an analysis it already holds costs a "
                      "real run nothing (with --claims-cache=activations a run does what is "
                      "planned)")
        if self.written is not None:
            tr.write_line(f"plan: {self.written}")
