"""Comparing a run with a baseline ``claims.json``: verdicts, effects, new/removed/renamed claims.

Claims are matched by ``(claim_id, backend)``. The *margin* of a claim is how far its tested
quantity lies from its reference on the side the claim asserts (``x - v`` for ``is_at_least(v)``,
``v - x`` for ``is_at_most(v)``, ``(x - other) - by`` for ``exceeds``, the distance to the nearer
edge for ``is_between`` / ``is_negligible``). A claim SUPPORTED in the baseline regresses when:

- ``verdict``: it is no longer SUPPORTED;
- ``effect:20%``: its margin shrank by more than 20% of the baseline margin;
- ``effect:0.5``: its margin shrank by more than 0.5 (in the units of the tested quantity).

A baseline claim missing from this run and a new claim of this run are the same claim *renamed*
when they share backend, model, comparator, estimation method, n and data hashes and have an equal
estimate (within 1e-6 of its scale) — and no other pair does; a renamed claim is compared as a
matched one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interpclaims._errors import InterpClaimsError
from interpclaims._format import number
from interpclaims.verdicts import ClaimResult, Verdict

__all__ = ["SCHEMA_VERSION", "Comparison", "FailOn", "compare", "load_baseline", "margin",
           "parse_fail_on"]

SCHEMA_VERSION = 2  # of claims.json: bumped when a field changes meaning or shape


@dataclass(frozen=True, slots=True)
class FailOn:
    """What fails a run compared with a baseline (``--claims-fail-on``)."""

    verdict: bool = True
    effect_relative: float | None = None  # a fraction: 0.2 for ``effect:20%``
    effect_absolute: float | None = None

    @property
    def any(self) -> bool:
        return self.verdict or self.effect_relative is not None or self.effect_absolute is not None


def parse_fail_on(text: str) -> FailOn:
    """``verdict``, ``effect:20%``, ``effect:0.5``, ``none``, comma-separated; ValueError when
    a part is not one of these."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("names nothing; use verdict, effect:20%, effect:0.5 or none")
    verdict, rel, absolute = False, None, None
    for part in parts:
        if part == "none":
            if len(parts) > 1:
                raise ValueError("'none' cannot be combined with other conditions")
        elif part == "verdict":
            verdict = True
        elif part.startswith("effect:"):
            raw = part.removeprefix("effect:").strip()
            try:
                value = float(raw.removesuffix("%"))
            except ValueError:
                raise ValueError(f"{part!r}: expected a number after effect:, e.g. effect:20% or "
                                 "effect:0.5") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{part!r}: the threshold must be a positive number")
            if raw.endswith("%"):
                rel = value / 100
            else:
                absolute = value
        else:
            raise ValueError(f"unknown condition {part!r}; use verdict, effect:20% (relative), "
                             "effect:0.5 (absolute) or none")
    return FailOn(verdict=verdict, effect_relative=rel, effect_absolute=absolute)


def load_baseline(path: Path) -> list[dict[str, Any]]:
    """The claim rows of a baseline ``claims.json``; an error saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InterpClaimsError(f"baseline {path}: cannot read it as JSON ({e}); give a claims.json "
                                "written by interpclaims") from e
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise InterpClaimsError(f"baseline {path}: not a claims.json (no 'claims' list)")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InterpClaimsError(
            f"baseline {path}: schema_version {version!r}, expected {SCHEMA_VERSION} (its claims "
            "carry no stable claim id); run the baseline again with this interpclaims")
    return [row for row in data["claims"] if isinstance(row, dict) and row.get("claim_id")]


def margin(row: Mapping[str, Any]) -> float | None:
    """How far the tested quantity lies from the reference, on the side the claim asserts."""
    x = row["tested"].get("value")
    ref, comparator = row["reference"], row["comparator"]
    if x is None:
        return None
    if comparator == "is_at_least":
        return float(x - ref["value"])
    if comparator == "is_at_most":
        return float(ref["value"] - x)
    if comparator == "exceeds":
        return float(x - (ref.get("by") or 0.0))
    if comparator == "is_between":
        return float(min(x - ref["low"], ref["high"] - x))
    if comparator == "is_negligible":
        return float(ref["within"] - abs(x))
    return None


@dataclass(frozen=True, slots=True)
class Comparison:
    """This run against a baseline. Claims are named ``"<claim id> [<backend>]"``."""

    results: tuple[ClaimResult, ...]  # this run's results, each with its ``baseline`` field
    new: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (baseline name, name in this run)
    changed: tuple[tuple[str, str], ...] = ()  # (name, "SUPPORTED → INCONCLUSIVE"): every change
    regressions: tuple[tuple[str, str], ...] = field(default=())  # (name, why)


def _name(claim_id: str, backend: str) -> str:
    return f"{claim_id} [{backend}]" if backend else claim_id


def _regressions(before: Mapping[str, Any], after: Mapping[str, Any], fail_on: FailOn) -> list[str]:
    if before["verdict"] != Verdict.SUPPORTED:
        return []
    out = []
    if fail_on.verdict and after["verdict"] != Verdict.SUPPORTED:
        out.append(f"verdict SUPPORTED → {after['verdict']}")
    m0, m1 = margin(before), margin(after)
    if m0 is None or m1 is None:
        return out
    drop = m0 - m1
    if fail_on.effect_relative is not None and m0 > 0 and drop / m0 > fail_on.effect_relative:
        out.append(f"effect moved {drop / m0:.0%} toward the reference (threshold "
                   f"{fail_on.effect_relative:.0%})")
    if fail_on.effect_absolute is not None and drop > fail_on.effect_absolute:
        out.append(f"effect moved {number(drop)} toward the reference (threshold "
                   f"{fail_on.effect_absolute:g})")
    return out


def _signature(row: Mapping[str, Any]) -> tuple[Any, ...]:
    est = row["estimate"]
    return (row["backend"], row["model"], row["comparator"], est.get("method"), est.get("n"),
            tuple(sorted((row.get("data") or {}).items())))


def _same_estimate(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    x, y = a["estimate"].get("value"), b["estimate"].get("value")
    if x is None or y is None:
        return False
    return abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y))


def _renames(gone: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
             ) -> dict[int, int]:
    """index in ``new`` -> index in ``gone``, for the unambiguous pairs of the rename rule."""
    pairs = [(i, j) for i, a in enumerate(new) for j, b in enumerate(gone)
             if _signature(a) == _signature(b) and _same_estimate(a, b)]
    return {i: j for i, j in pairs
            if sum(p[0] == i for p in pairs) == 1 and sum(p[1] == j for p in pairs) == 1}


def compare(results: Sequence[ClaimResult], baseline: Sequence[Mapping[str, Any]],
            fail_on: FailOn) -> Comparison:
    """Match this run's results with the baseline's rows and find the regressions."""
    old = {(r["claim_id"], r["backend"]): r for r in baseline}
    rows = [r.to_json() for r in results]
    unmatched = [i for i, r in enumerate(rows) if (r["claim_id"], r["backend"]) not in old]
    seen = {(r["claim_id"], r["backend"]) for r in rows}
    gone = [r for key, r in old.items() if key not in seen]
    renames = _renames(gone, [rows[i] for i in unmatched])
    before_of: dict[int, Mapping[str, Any]] = {
        i: old[r["claim_id"], r["backend"]] for i, r in enumerate(rows)
        if (r["claim_id"], r["backend"]) in old}
    before_of.update({unmatched[k]: gone[j] for k, j in renames.items()})
    out, changed, regressions = [], [], []
    for i, (result, row) in enumerate(zip(results, rows, strict=True)):
        before = before_of.get(i)
        if before is None:
            out.append(result)
            continue
        name = _name(row["claim_id"], row["backend"])
        why = _regressions(before, row, fail_on)
        regressions += [(name, w) for w in why]
        if before["verdict"] != row["verdict"]:
            changed.append((name, f"{before['verdict']} → {row['verdict']}"))
        tested = before["tested"]
        out.append(dataclasses.replace(result, baseline={
            "verdict": before["verdict"], "value": tested.get("value"),
            "ci_low": tested.get("ci_low"), "ci_high": tested.get("ci_high"), "regressions": why,
        }))
    renamed_new = {unmatched[k] for k in renames}
    return Comparison(
        results=tuple(out),
        new=tuple(sorted(_name(rows[i]["claim_id"], rows[i]["backend"]) for i in unmatched
                         if i not in renamed_new)),
        removed=tuple(sorted(_name(r["claim_id"], r["backend"]) for j, r in enumerate(gone)
                             if j not in renames.values())),
        renamed=tuple(sorted((_name(gone[j]["claim_id"], gone[j]["backend"]),
                              _name(rows[unmatched[k]]["claim_id"], rows[unmatched[k]]["backend"]))
                             for k, j in renames.items())),
        changed=tuple(sorted(changed)), regressions=tuple(sorted(regressions)),
    )
