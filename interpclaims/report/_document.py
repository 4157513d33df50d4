"""The ``claims.json`` document: the claim rows, a summary and the run's manifest."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from interpclaims.report._baseline import SCHEMA_VERSION, FailOn
from interpclaims.verdicts import Verdict

__all__ = ["RunSettings", "atomic_write", "build_report", "git_state",
           "json_safe", "now"]



class RunSettings(Protocol):
    """What the report needs of the plugin's settings (read only)."""

    @property
    def backends(self) -> tuple[str, ...]: ...
    @property
    def seed(self) -> int: ...
    @property
    def allow_inconclusive(self) -> bool: ...
    @property
    def n_resamples(self) -> int: ...
    @property
    def report_dir(self) -> Path: ...
    @property
    def cache_mode(self) -> str: ...
    @property
    def cache_dir(self) -> Path: ...
    @property
    def correction(self) -> str: ...
    @property
    def baseline(self) -> Path | None: ...
    @property
    def fail_on(self) -> FailOn: ...
    @property
    def save(self) -> Path | None: ...
    @property
    def csv(self) -> Path | None: ...


PACKAGES = ("interpclaims", "torch", "transformers", "transformer-lens", "nnsight", "numpy",
            "scipy", "pytest", "pytest-xdist", "circuit-tracer", "sae-lens")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(folder: Path) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``folder``; None outside one (or
    without git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_report(
    *, claims: list[dict[str, Any]], errors: list[dict[str, Any]], models: dict[str, Any],
    settings: RunSettings, started: str, exitstatus: int, interrupted: bool, argv: list[str],
    forward_passes: dict[str, int] | None = None, cache: dict[str, Any] | None = None,
    analysis_seconds: float = 0.0, partial: list[str] | None = None,
    git: dict[str, Any] | None = None, remote: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``claims.json`` document. ``partial``: why the run did not decide every claim it
    collected (a selection, a stop, an interruption); empty for a complete run."""
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
        "data": [{"name": k, "sha256": v} for k, v in sorted(data_hashes.items())],
        "git": git,
        "started": started,
        "finished": now(),
        "exitstatus": exitstatus,
        "interrupted": interrupted,
        "partial": bool(partial),
        "partial_reasons": list(partial or []),
        "argv": argv,
        "platform": platform.platform(),
        "python_executable": sys.executable,
        # where the loaded models' parameters are, and in which dtypes
        "devices": sorted({d for m in models.values() for d in m.get("devices", ())}),
        "dtypes": sorted({d for m in models.values() for d in m.get("dtypes", ())}),
        "forward_passes": forward_passes or {},
        "analysis_seconds": analysis_seconds,
        "cache": cache or {},
        # where nnsight traces ran (off: here) and what remote runs cost; never the host or key
        "remote": remote or {"mode": "off"},
    }
    return {"schema_version": SCHEMA_VERSION, "manifest": manifest, "summary": summary_out,
            "claims": claims, "errors": errors}


def json_safe(obj: Any, path: str = "") -> tuple[Any, list[str]]:
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON has no NaN or
    infinity), and the paths of what was replaced — so one bad number never loses a report."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None, [path or "<root>"]
    if isinstance(obj, dict):
        out, bad = {}, []
        for k, v in obj.items():
            out[k], b = json_safe(v, f"{path}.{k}" if path else str(k))
            bad += b
        return out, bad
    if isinstance(obj, list | tuple):
        items = [json_safe(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        return [v for v, _ in items], [b for _, bs in items for b in bs]
    return obj, []
