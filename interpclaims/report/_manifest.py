"""The run's manifest as readable tables (run settings, versions, models, data, work done) instead of
a JSON dump; tolerant of the old manifest (``device``, ``data`` as a dict) and the new one
(``devices``, ``dtypes``, ``git``, ``data`` as a list)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interpclaims._format import number

__all__ = ["manifest_tables"]

Cell = dict[str, Any]


def _cell(text: Any, *, title: str = "", mono: bool = False) -> Cell:
    return {"text": "–" if text is None or text == "" else str(text), "title": title,
            "mono": mono}


def _hash(sha: Any) -> Cell:
    """A hash shown by its first 12 hex digits, the whole on hover."""
    if not sha:
        return _cell(None)
    return _cell(str(sha)[:12] + "…", title=str(sha), mono=True)


def _git(m: Mapping[str, Any]) -> Cell:
    git = m.get("git")
    if not isinstance(git, Mapping):
        return _cell("not recorded" if "git" not in m else "not a git checkout")
    commit = str(git.get("commit") or "")
    text = commit[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
    return _cell(text, title=commit, mono=True)


def _listed(m: Mapping[str, Any], key: str, old: str | None = None) -> str:
    v = m.get(key)
    if v is None and old is not None:
        v = m.get(old)
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) or "–"
    return "–" if v is None else str(v)


def _run(m: Mapping[str, Any], data: Mapping[str, Any]) -> list[list[Cell]]:
    level = m.get("ci_level")
    interval = (f"{round(level * 100)}% intervals over prompts, "
                f"{m.get('bootstrap_resamples', '?')} bootstrap resamples"
                if isinstance(level, int | float) else None)
    rows = [
        ("started / finished", f"{m.get('started', '–')} / {m.get('finished', '–')}"),
        ("exit status", m.get("exitstatus")),
        ("seed", m.get("seed")),
        ("backends", _listed(m, "backends")),
        ("devices", _listed(m, "devices", "device")),
        ("dtypes", _listed(m, "dtypes")),
        ("intervals", interval),
        ("alpha; correction within families",
         f"{m.get('alpha', '–')}; {m.get('correction', '–')}"),
        ("INCONCLUSIVE counts as", "pass" if m.get("inconclusive_policy") == "pass"
         else "failure"),
        ("schema version", data.get("schema_version", 1)),
        ("platform", m.get("platform")),
        ("python", m.get("python_executable")),
        ("analysis time", f"{number(float(m['analysis_seconds']))} s"
         if isinstance(m.get("analysis_seconds"), int | float) else None),
        ("remote", _remote(m.get("remote"))),
    ]
    out = [[_cell(k), _cell(v)] for k, v in rows]
    out.insert(3, [_cell("git commit"), _git(m)])
    out.append([_cell("command"), _cell(" ".join(["pytest", *map(str, m.get("argv") or [])]),
                                        mono=True)])
    return out


def _remote(r: Any) -> str:
    """Where nnsight traces ran (``--claims-remote``; a marker's ``remote=`` counts too), and
    what was sent."""
    r = r if isinstance(r, Mapping) else {}
    mode = r.get("mode", "off")
    if mode == "off" and not r.get("requests"):
        return "off (every model ran here)"
    where = mode if mode != "off" else "models marked remote="
    return (f"{where}: {r.get('requests', 0)} requests ({r.get('traces', 0)} traces), "
            f"{number(r.get('bytes_sent', 0) / 2**20)} MiB sent, "
            f"{number(r.get('bytes_returned', 0) / 2**20)} MiB returned, "
            f"{r.get('retries', 0)} retries")


def _models(m: Mapping[str, Any]) -> list[list[Cell]]:
    rows = []
    for name, info in sorted((m.get("models") or {}).items()):
        info = info if isinstance(info, Mapping) else {}
        spec = info.get("spec") or {}
        shape = ", ".join(f"{k.removeprefix('n_').removeprefix('d_')}={spec[k]}"
                          for k in ("n_layers", "n_heads", "d_model") if k in spec)
        rows.append([_cell(name, mono=True), _cell(spec.get("architecture")), _cell(shape),
                     _cell(", ".join(info.get("backends") or [])),
                     _cell("; ".join(_listed(info, k) for k in ("devices", "dtypes"))),
                     _hash(info.get("weights_sha256"))])
    return rows


def _data(m: Mapping[str, Any]) -> list[list[Cell]]:
    raw = m.get("data") or []
    pairs = (sorted(raw.items()) if isinstance(raw, Mapping)
             else [(d.get("name"), d.get("sha256")) for d in raw if isinstance(d, Mapping)])
    return [[_cell(name, mono=True), _hash(sha)] for name, sha in pairs]


def _work(m: Mapping[str, Any]) -> list[list[Cell]]:
    rows = [[_cell(f"forward passes: {k}", mono=True), _cell(v)]
            for k, v in sorted((m.get("forward_passes") or {}).items())]
    cache = m.get("cache") or {}
    if cache:
        counts = ", ".join(f"{k} {cache[k]}" for k in ("hits", "misses", "writes", "corrupt",
                                                         "bypassed") if k in cache)
        rows.append([_cell("activation cache"),
                     _cell(f"{cache.get('mode', '?')}: {counts}", title=str(cache.get("dir", "")))])
    return rows


def manifest_tables(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's sections: ``{"title", "head", "rows"}``, each cell ``{"text", "title",
    "mono"}``; empty sections are left out."""
    m = data.get("manifest") or {}
    versions = [[_cell(k, mono=True), _cell(v if v is not None else "not installed")]
                for k, v in (m.get("versions") or {}).items()]
    sections = [
        {"title": "Run", "head": ["", ""], "rows": _run(m, data)},
        {"title": "Versions", "head": ["package", "version"], "rows": versions},
        {"title": "Models", "head": ["model", "architecture", "shape", "backends",
                                     "devices; dtypes", "weights sha256"], "rows": _models(m)},
        {"title": "Data", "head": ["dataset", "sha256"], "rows": _data(m)},
        {"title": "Work done", "head": ["", ""], "rows": _work(m)},
    ]
    return [s for s in sections if s["rows"]]
