"""What the HTML page shows, computed from a ``claims.json`` document (old or new schema): the run
banner, one row per claim with its backends side by side, and the groups of claims whose estimates
share a unit (one forest-plot axis each).

A claim's *status* on one backend: ``supported`` (also a SUPPORTED claim of an xfail test that
another of its claims refuted, as expected); ``failed`` (REFUTED, or INCONCLUSIVE under the
default policy, of a claim expected true; or a strict xfail whose test passed); ``expected`` (an
xfail claim REFUTED or INCONCLUSIVE: the refutation the suite asked for, shown muted, not a
failure); ``allowed`` (INCONCLUSIVE with ``--claims-inconclusive=pass``); ``xpassed`` (a non-strict
xfail that was SUPPORTED).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from interpclaims._format import number

__all__ = ["banner", "claim_rows", "format_p", "status", "unit_of"]

# the unit of an estimate, recognised by a word of its label (then of its method), in this order;
# estimates of one unit share a forest-plot axis
UNITS: tuple[tuple[str, str], ...] = (
    ("normalized", "normalized patching effect (0 = corrupt run, 1 = clean run)"),
    ("logit_diff", "logit difference (logits)"),
    ("logit_diff_mean", "logit difference (logits)"),
    ("kl", "KL divergence (nats)"),
    ("loss", "loss (nats)"),
    ("flip_rate", "rate or accuracy (0 to 1)"),
    ("probe_selectivity", "rate or accuracy (0 to 1)"),
    ("probe_accuracy", "rate or accuracy (0 to 1)"),
    ("probe", "rate or accuracy (0 to 1)"),
    ("accuracy", "rate or accuracy (0 to 1)"),
    ("pairwise_accuracy", "rate or accuracy (0 to 1)"),
    ("top1", "rate or accuracy (0 to 1)"),
    ("attention_score", "attention weight (0 to 1)"),
    ("cka", "CKA similarity (0 to 1)"),
)


def format_p(p: float | None, *, name: str = "p") -> str:
    """A p-value as journals write it: ``p < 0.001``, ``p = 0.023``, ``p > 0.999``; three
    decimals, four when three would round a p below 0.05 up to 0.050; ``""`` when absent."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    if p < 0.001:
        return f"{name} < 0.001"
    if p > 0.999:
        return f"{name} > 0.999"
    text = f"{p:.3f}"
    if p < 0.05 <= float(text) or p < 0.01:
        text = f"{p:.4f}"
    return f"{name} = {text}"


def status(c: Mapping[str, Any], inconclusive_policy: str = "fail") -> str:
    """The status of one claim row (see the module docstring)."""
    verdict, xfail = c.get("verdict"), bool(c.get("xfail"))
    if xfail:
        if verdict != "SUPPORTED":
            return "expected"
        if c.get("outcome") == "xfailed":  # another claim of the test refuted it, as expected
            return "supported"
        return "xpassed" if c.get("outcome") == "xpassed" else "failed"
    if verdict == "SUPPORTED":
        return "supported"
    if verdict == "INCONCLUSIVE" and inconclusive_policy == "pass":
        return "allowed"
    return "failed"


def banner(data: Mapping[str, Any]) -> dict[str, Any]:
    """The run's state (``interrupted``, ``failed``, ``partial`` or ``passed``, in that
    precedence), its counts of claim results, and why."""
    m = data.get("manifest", {})
    policy = m.get("inconclusive_policy", "fail")
    claims = data.get("claims", [])
    counts = {k: 0 for k in ("supported", "refuted", "inconclusive", "expected", "allowed",
                             "xpassed", "regressions")}
    expected_inconclusive = 0
    for c in claims:
        s = status(c, policy)
        if s == "failed":
            counts["inconclusive" if c.get("verdict") == "INCONCLUSIVE" else "refuted"] += 1
        else:
            counts[s] += 1
        expected_inconclusive += s == "expected" and c.get("verdict") == "INCONCLUSIVE"
        counts["regressions"] += bool((c.get("baseline") or {}).get("regressions"))
    errors = len(data.get("errors", []))
    exitstatus = m.get("exitstatus")
    failed = counts["refuted"] + counts["inconclusive"] + errors + counts["regressions"]
    notes = []
    if m.get("partial_reasons"):
        notes.append("partial run: " + "; ".join(m["partial_reasons"]))
    if exitstatus not in (None, 0, 5) and not failed:
        notes.append(f"pytest exited with status {exitstatus} (tests other than claims failed)")
    if m.get("interrupted"):
        state = "interrupted"
    elif failed or exitstatus not in (None, 0, 5):
        state = "failed"
    elif m.get("partial"):
        state = "partial"
    else:
        state = "passed"
    items = [("supported", counts["supported"], "supported"),
             ("failed", counts["refuted"], "refuted"),
             ("failed", counts["inconclusive"], "inconclusive"),
             ("failed", errors, "error" + "s" * (errors != 1)),
             ("failed", counts["regressions"], "regression" + "s" * (counts["regressions"] != 1)),
             ("expected", counts["expected"],
              f"expected refutation{'s' * (counts['expected'] != 1)} (xfail"
              + (f": {counts['expected'] - expected_inconclusive} refuted, "
                 f"{expected_inconclusive} inconclusive" if expected_inconclusive else "") + ")")]
    items += [("allowed", counts["allowed"], "inconclusive, allowed by policy")] * bool(
        counts["allowed"])
    items += [("xpassed", counts["xpassed"], "xfail unexpectedly supported")] * bool(
        counts["xpassed"])
    return {"state": state, "total": len(claims), "items": items, "notes": notes}


# quantities whose label also names the metric they are computed from (a circuit's faithfulness
# of a logit difference is a ratio, not logits): recognised first, by the shape of the label
_RATE = "rate or accuracy (0 to 1)"
LABEL_UNITS: tuple[tuple[str, str], ...] = (
    (r"^(faithfulness|completeness|minimality|cpr|cmd)\b.*\bcircuit\(",
     "circuit faithfulness (1 = the full model, 0 = all candidates ablated)"),
    (r"^(replacement|completeness) score\b", "attribution-graph score (0 to 1)"),
    (r"\bin (top \d+|pruned graph)\b", _RATE),
    (r"\.auroc$", "AUROC (0.5 = chance)"),
    (r"\.fvu$", "fraction of variance unexplained"),
    (r"\.ce_recovered$", "fraction of the loss recovered"),
    (r"^sae_(selectivity\(.*\.difference|activation\()", "SAE feature activation"),
)


def unit_of(estimate: Mapping[str, Any]) -> str:
    """The unit an estimate is measured in (an explicit ``context["unit"]``, then
    :data:`LABEL_UNITS`, then :data:`UNITS`), else its analysis' name."""
    label = str(estimate.get("label") or "")
    explicit = (estimate.get("context") or {}).get("unit")
    if isinstance(explicit, str) and explicit:
        return explicit
    for pattern, unit in LABEL_UNITS:
        if re.search(pattern, label.lower()):
            return unit
    for text in (label, str(estimate.get("method") or "")):
        words = set(re.findall(r"[A-Za-z_0-9]+", text.lower()))
        for word, unit in UNITS:
            if word in words:
                return unit
    name = label.split("(", 1)[0].strip()
    return name or "other"


def _cell(c: Mapping[str, Any], policy: str) -> dict[str, Any]:
    """One backend's numbers of a claim."""
    est, tested = c["estimate"], c.get("tested") or c["estimate"]
    controls = [{"name": k, **v} for k, v in (est.get("controls") or {}).items()]
    ref = c.get("reference") or {}
    if ref.get("kind") == "estimate" and all(k["label"] != ref.get("label") for k in controls):
        controls.append({"name": ref.get("label", "reference"), **ref})
    p_adj = c.get("p_adjusted")
    adjusted = ""
    if p_adj is not None and (c.get("family_size") or 1) > 1:
        adjusted = (f"{format_p(p_adj, name=(c.get('correction') or 'adjusted') + ' p')} "
                    f"(family of {c['family_size']})")
    baseline = c.get("baseline") or None
    return {
        "backend": c.get("backend") or "-", "verdict": c["verdict"],
        "status": status(c, policy), "estimate": est, "tested": tested,
        "difference": tested is not est and tested.get("label") != est.get("label"),
        "p": format_p(c.get("p")), "p_value": c.get("p"), "p_adjusted": adjusted, "controls": controls,
        "warnings": list(c.get("warnings") or []), "baseline": baseline,
        "regressions": list((baseline or {}).get("regressions") or []),
        "estimates": list(c.get("estimates") or []),
    }


def _key(c: Mapping[str, Any]) -> str:
    """A claim's row: its claim id (which names the k-th claim of a test ``#k`` itself), else,
    in reports from before claim ids, the node id without the backend and the claim's index."""
    if c.get("claim_id"):
        return str(c["claim_id"])
    key = str(c.get("claim_key") or c["nodeid"])
    if c.get("index"):
        key += f" (claim {c['index'] + 1})"
    return key


def claim_rows(data: Mapping[str, Any], backends: list[str]) -> list[dict[str, Any]]:
    """One row per claim (its results on every backend merged), in the order of the document."""
    policy = data.get("manifest", {}).get("inconclusive_policy", "fail")
    rows: dict[str, dict[str, Any]] = {}
    for c in data.get("claims", []):
        key = _key(c)
        # the file comes from the node id (a claim id names no file, so a move keeps it)
        path = str(c.get("nodeid") or "").partition("::")[0] if c.get("claim_id") else (
            key.rpartition("::")[0])
        name = key if c.get("claim_id") else (key.rpartition("::")[2] or key)
        row = rows.setdefault(key, {
            "key": key, "path": path, "name": name, "by_backend": {}, "first": c,
            "xfail": bool(c.get("xfail")), "xfail_reason": c.get("xfail_reason") or "",
            "unit": unit_of(c["estimate"]),
        })
        row["by_backend"][c.get("backend") or "-"] = _cell(c, policy)
    out = list(rows.values())
    for row in out:
        cells = [row["by_backend"][b] for b in backends if b in row["by_backend"]]
        row["cells"] = cells
        row["agree"] = len({x["verdict"] for x in cells}) <= 1
        row["statuses"] = sorted({x["status"] for x in cells}
                                 | ({"regression"} if any(x["regressions"] for x in cells)
                                    else set()))
        row["effect"] = cells[0]["estimate"]["value"] if cells else 0.0
        row["p_sort"] = min((x["p_value"] for x in cells if x["p_value"] is not None),
                            default=1.0)
        row["verdict_text"] = " ".join(x["verdict"] for x in cells)
        row["reference"] = _reference_text(row["first"])
    return out


def _reference_text(c: Mapping[str, Any]) -> str:
    ref = c.get("reference") or {}
    text = str(ref.get("label") or ref.get("kind") or "")
    if ref.get("by"):
        text += f" by {number(float(ref['by']), typeset=True)}"
    return text
