"""The terminal summary: the verdict table (width-aware; only what needs a look unless ``-v``) and
the comparison with a baseline (regressions in a section of their own)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interpclaims._format import number
from interpclaims.report._baseline import Comparison
from interpclaims.verdicts import ClaimResult, Verdict

__all__ = ["write_baseline", "write_verdicts"]


def _name(r: ClaimResult) -> str:
    ident = r.claim_id or r.nodeid
    return (f"{ident} [{r.backend}]" if r.backend else ident) + (" (xfail)" if r.xfail else "")


def _numbers(r: ClaimResult) -> str:
    t, ref = r.tested, r.reference
    what = "x - ref" if r.comparator == "exceeds" else "x"
    by = f" by {format(ref['by'], 'g')}" if ref.get("by") else ""
    p = f"  p={number(r.p_adjusted if r.p_adjusted is not None else r.p)}" if r.p is not None else ""
    # the reference last: on a narrow terminal, its label is what gets cut
    return (f"{what} {number(t.value, signed=True)} [{number(t.ci_low, signed=True)}, "
            f"{number(t.ci_high, signed=True)}]{p}  vs {ref['label']}{by}")


def _interval(x: Any) -> str:
    return (f"{number(x['value'], signed=True)} [{number(x['ci_low'], signed=True)}, "
            f"{number(x['ci_high'], signed=True)}]")


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 1)] + "…"


def _wrap(tr: Any, text: str, width: int, **markup: bool) -> None:
    """Write ``text`` wrapped to ``width`` (never cut: a regression's reason must reach a CI log,
    whose width is pytest's default 80 columns)."""
    import textwrap

    for line in textwrap.wrap(text, max(width, 40), subsequent_indent=" " * 11,
                              break_long_words=False, break_on_hyphens=False) or [""]:
        tr.write_line(line, **markup)


def _markup(r: ClaimResult) -> dict[str, bool]:
    if r.baseline and r.baseline.get("regressions"):
        return {"red": True, "bold": True}
    if r.xfail:  # an expected refutation is no alarm; a surprise (xpass) is written plain too
        return {}
    return {Verdict.SUPPORTED: {"green": True}, Verdict.REFUTED: {"red": True}}.get(
        r.verdict, {"yellow": True})


def write_verdicts(tr: Any, results: Sequence[ClaimResult], verbose: bool, width: int) -> None:
    """The verdict table: every claim with ``-v``, else those not SUPPORTED and the regressions;
    each line cut to the terminal's width (the claim's name first, then its numbers)."""
    width = max(width, 40)
    shown = [r for r in sorted(results, key=lambda r: (r.claim_id, r.index, r.backend))
             if verbose or r.verdict is not Verdict.SUPPORTED
             or (r.baseline and r.baseline.get("regressions"))]
    tr.section("interpclaims verdicts")
    names = [_name(r) for r in shown]
    col = max((len(n) for n in names), default=0)
    for r, name in zip(shown, names, strict=True):
        numbers, markup = _numbers(r), _markup(r)
        if 13 + col + 2 + len(numbers) <= width:
            tr.write_line(f"{r.verdict.value:<12} {name:<{col}}  {numbers}", **markup)
        else:  # too narrow for one line: the numbers go on the next, indented
            tr.write_line(_fit(f"{r.verdict.value:<12} {name}", width), **markup)
            tr.write_line(_fit(f"{'':13}{numbers}", width), **markup)
    counts = Counter(r.verdict for r in results)
    # the refuted or inconclusive claims of xfail tests: the failures the suite asked for
    expected: Counter[Verdict] = Counter(r.verdict for r in results
                                         if r.xfail and r.verdict is not Verdict.SUPPORTED)
    parts = [f"{counts.get(v, 0)} {v.value.lower()}"
             + (f" ({expected[v]} expected: xfail)" if expected[v] else "") for v in Verdict]
    tr.write_line(", ".join(parts))
    hidden = len(results) - len(shown)
    if hidden:
        tr.write_line(f"({hidden} SUPPORTED not listed; -v lists every claim)")
    for r in results:
        if r.verdict_before_correction is not None:
            tr.write_line(_fit(
                f"INCONCLUSIVE after {r.correction} correction within family {r.family!r} of "
                f"{r.family_size}: {_name(r)} (p = {number(r.p)}, adjusted "
                f"{number(r.p_adjusted)} > {r.alpha / 2:g})", width), yellow=True)


def write_baseline(tr: Any, comparison: Comparison, path: Path, width: int) -> None:
    """What changed since the baseline; the regressions (what fails the run: exit status 1) in
    their own section."""
    if comparison.regressions:
        tr.section("interpclaims baseline regressions", red=True)
        for name, why in comparison.regressions:
            _wrap(tr, f"REGRESSION {name}: {why}", width, red=True, bold=True)
    tr.section(f"interpclaims baseline: {path}")
    matched = sum(1 for r in comparison.results if r.baseline is not None)
    tr.write_line(f"{matched} claim(s) compared, {len(comparison.changed)} changed verdict, "
                  f"{len(comparison.new)} new, {len(comparison.removed)} not in this run, "
                  f"{len(comparison.renamed)} renamed")
    moved = {f"{r.claim_id} [{r.backend}]" if r.backend else r.claim_id: r
             for r in comparison.results if r.baseline is not None}
    regressed = {name for name, _ in comparison.regressions}
    for name in sorted(regressed | {name for name, _ in comparison.changed}):
        r = moved[name]
        before = r.baseline or {}
        verdict = (f"{before['verdict']} → {r.verdict}" if before["verdict"] != r.verdict
                   else f"{r.verdict}")
        _wrap(tr, f"changed  {name}: {verdict}", width)
        _wrap(tr, f"{'':9}tested {_interval(before)} → {_interval(r.tested.to_json())}", width)
    for old, new in comparison.renamed:
        tr.write_line(_fit(f"renamed  {old} -> {new}", width))
    for name in comparison.new:
        tr.write_line(_fit(f"new      {name}", width))
    for name in comparison.removed:
        tr.write_line(_fit(f"removed  {name} (or not selected in this run)", width))
    if comparison.regressions:
        tr.write_line(f"{len(comparison.regressions)} regression(s) against the baseline "
                      "(--claims-fail-on): the run fails with exit status 1", red=True, bold=True)
