"""The whole nnsight side of the shipped zoo suite (``claims/``), run through nnsight's local
simulation of NDIF (``--claims-remote=local``), gives the numbers of local nnsight: every claim
row equal field for field, except what says how a sweep was ranked (remote traces return no
gradients, so an attribution-patching sweep is ranked by patching every cell)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _run(report: Path, remote: str) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    # the attribution-graph tests are skipped remotely (circuit-tracer runs locally): not run here
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "claims/", "--ignore=claims/test_graphs.py",
         "-p", "no:xdist", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
         "--claims-backends=nnsight", f"--claims-remote={remote}", "--claims-cache=off",
         "--claims-resamples=1000", f"--claims-report-dir={report}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((report / "claims.json").read_text())  # type: ignore[no-any-return]


def _ranking(row: dict[str, Any]) -> dict[str, Any]:
    """The row without what describes how a sweep was ranked: its heatmap's title, scores,
    method and the cells patched for real (every cell, remotely)."""
    out = json.loads(json.dumps(row))
    for part in ("estimate", "tested"):
        matrix = ((out.get(part) or {}).get("context") or {}).get("matrix")
        if matrix and matrix.get("method") in ("atp", "exact"):
            for k in ("title", "value", "method", "confirmed"):
                matrix.pop(k)
    return out


def test_the_nnsight_side_of_claims_is_identical_remotely(tmp_path: Path) -> None:
    local, remote = _run(tmp_path / "local", "off"), _run(tmp_path / "remote", "local")
    key = lambda r: (r["nodeid"], r["index"])  # noqa: E731
    here = {key(r): r for r in local["claims"]}
    there = {key(r): r for r in remote["claims"]}
    assert len(here) >= 80 and here.keys() == there.keys()
    ranked = 0
    for k, row in here.items():
        if row != there[k]:  # only a sweep's ranking may differ
            assert _ranking(row) == _ranking(there[k]), k
            ranked += 1
    assert ranked == 3  # the zoo suite's three attribution-patching sweeps
    sent = remote["manifest"]["remote"]
    assert sent["mode"] == "local" and sent.get("retries", 0) == 0
    assert sent["traces"] == sum(remote["manifest"]["forward_passes"].values())
    assert sent["requests"] < sent["traces"] / 4  # the sessions
