"""Claims: ``claim.that(estimate).<comparator>(...)`` decided on intervals, never point estimates.

Decision rules (``I`` is the interval of the decided quantity):

============================  ============================  ==============================
comparator                    SUPPORTED when                REFUTED when
============================  ============================  ==============================
``is_at_least(v)``            ``I.low >= v``                ``I.high < v``
``is_at_most(v)``             ``I.high <= v``               ``I.low > v``
``exceeds(other, by=b)``      ``I(x - other).low > b``      ``I(x - other).high <= b``
``is_negligible(within=d)``   ``-d < I.low, I.high < d``    ``I.low >= d or I.high <= -d``
``is_between(lo, hi)``        ``lo < I.low, I.high < hi``   ``I.low >= hi or I.high <= lo``
============================  ============================  ==============================

Anything else is INCONCLUSIVE: the interval straddles the reference. ``is_negligible`` is an
equivalence test (two one-sided tests): the whole interval must lie inside ``(-d, d)``.
``exceeds(null)`` against an estimate carrying permutation-null replicates (a probe's
``permutation_null``) is a permutation test instead: see :mod:`._permutation`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import reprlib
import sys
import warnings as _warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from interpclaims import _context
from interpclaims._errors import ClaimInconclusive, ClaimRefuted, ClaimWarning, InterpClaimsError
from interpclaims._estimate import Estimate
from interpclaims._estimate_sets import EstimateMatrix, Estimates
from interpclaims._format import number as _fmt
from interpclaims.stats import (
    one_sample_p,
    paired_sign_flip_test,
    permutation_test,
    tost_p,
)
from interpclaims.verdicts._comparison import decide, difference, p_value, size_warnings
from interpclaims.verdicts._families import Family
from interpclaims.verdicts._permutation import PERMUTATION_RULE, against_null
from interpclaims.verdicts._result import ClaimResult, Verdict, per_prompt_of
from interpclaims.verdicts._sequential import Rule, decide_sequentially, sequential_note
from interpclaims.verdicts._several import combine

__all__ = ["Claim", "Subject"]

# warnings point at the first frame outside this folder (the user's claim)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _as_number(x: Any, what: str) -> float:
    __tracebackhide__ = True
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise InterpClaimsError(f"{what} must be a number, got {type(x).__name__}: {x!r}")
    if not math.isfinite(x):
        raise InterpClaimsError(f"{what} must be finite, got {x!r}")
    return float(x)


class Subject:
    """``claim.that(estimate)``: pick a comparator to decide the claim."""

    def __init__(self, estimate: Estimate | Estimates, record: Callable[[ClaimResult], None],
                 family: Family | None = None, where: str = "", name: str = "", *,
                 dry: bool = False) -> None:
        if isinstance(estimate, Estimates):  # decided on each, combined by _several.combine
            self._several: Estimates | None = estimate
            estimate = next(iter(estimate.items.values()))
        elif isinstance(estimate, Estimate):
            self._several = None
        else:
            raise InterpClaimsError(_not_an_estimate(estimate))
        self._dry = dry  # one estimate of several: build the result, record and raise nothing
        self._x = estimate
        self.name = name  # claim.that(x, id=name): the claim's name within its test
        self._record = record
        self._family = family  # None outside the plugin: decided on the interval alone
        self.where = where  # file:line of claim.that(), to name an undecided claim
        self.decided = False

    # -- comparators -----------------------------------------------------------------------
    def is_at_least(self, v: float) -> ClaimResult:
        """SUPPORTED when the whole interval is at or above ``v``."""
        __tracebackhide__ = True
        if self._several is not None:
            return self._each(lambda s: s.is_at_least(v))
        v = _as_number(v, "is_at_least(v)")
        seq = self._in_batches(lambda lo, hi: (lo >= v, hi < v))
        x = self._x
        verdict = decide(x.ci_low >= v, x.ci_high < v)
        ref = {"kind": "threshold", "value": v, "label": f">= {_fmt(v)}"}
        p = None if seq else p_value(x, lambda s, rng: one_sample_p(s, v, "greater", rng))
        return self._finish("is_at_least", f"ci_low >= {_fmt(v)}", verdict, x, ref, p,
                            size_warnings(x, v, "threshold", verdict))

    def is_at_most(self, v: float) -> ClaimResult:
        """SUPPORTED when the whole interval is at or below ``v``."""
        __tracebackhide__ = True
        if self._several is not None:
            return self._each(lambda s: s.is_at_most(v))
        v = _as_number(v, "is_at_most(v)")
        seq = self._in_batches(lambda lo, hi: (hi <= v, lo > v))
        x = self._x
        verdict = decide(x.ci_high <= v, x.ci_low > v)
        ref = {"kind": "threshold", "value": v, "label": f"<= {_fmt(v)}"}
        p = None if seq else p_value(x, lambda s, rng: one_sample_p(s, v, "less", rng))
        return self._finish("is_at_most", f"ci_high <= {_fmt(v)}", verdict, x, ref, p,
                            size_warnings(x, v, "threshold", verdict))

    def exceeds(self, other: Estimate | float, by: float = 0.0) -> ClaimResult:
        """SUPPORTED when the interval of ``estimate - other`` lies above ``by``.

        ``other`` is another estimate (typically a control: ``score.control("random_heads")``) or
        a number. Estimates measured on the same prompts are compared pairwise.
        """
        __tracebackhide__ = True
        if self._several is not None:
            return self._each(lambda s: s.exceeds(other, by))
        by = _as_number(by, "exceeds(by=)")
        seq = False
        if isinstance(other, Estimate):  # a comparison of two estimates uses every prompt
            self._x = self._x.stream.complete() if self._x.stream is not None else self._x
            other = other.stream.complete() if other.stream is not None else other
        else:
            thr = _as_number(other, "exceeds(other)")
            seq = self._in_batches(lambda lo, hi: (lo - thr > by, hi - thr <= by))
        x = self._x
        if isinstance(other, Estimate) and other.null is not None:  # a permutation test
            return self._finish("exceeds", PERMUTATION_RULE, *against_null(x, other, by))
        if isinstance(other, Estimate):
            diff = difference(x, other)
            if diff.samples is not None:  # paired
                p = p_value(diff, lambda s, rng: paired_sign_flip_test(s, rng, margin=by))
            elif x.samples is not None and other.samples is not None:
                o = other.prompt_values()
                p = p_value(x, lambda s, rng: permutation_test(s, o, rng, margin=by))
            else:
                p = None
            ref: dict[str, Any] = {
                "kind": "estimate", "label": other.label or "other", "value": other.value,
                "ci_low": other.ci_low, "ci_high": other.ci_high, "n": other.n, "by": by,
            }
        else:
            thr = _as_number(other, "exceeds(other)")
            diff = Estimate(
                value=x.value - thr, ci_low=x.ci_low - thr, ci_high=x.ci_high - thr, n=x.n,
                method=x.method, label=f"{x.label} - {_fmt(thr)}", ci_level=x.ci_level,
            )
            ref = {"kind": "threshold", "value": thr, "label": f"> {_fmt(thr)}", "by": by}
            p = None if seq else p_value(x, lambda s, rng: one_sample_p(s, thr + by, "greater",
                                                                        rng))
        verdict = decide(diff.ci_low > by, diff.ci_high <= by)
        return self._finish("exceeds", f"ci_low(x - reference) > {_fmt(by)}", verdict, diff, ref,
                            p, size_warnings(diff, by, "threshold", verdict))

    def is_between(self, low: float, high: float) -> ClaimResult:
        """Equivalence to a range: SUPPORTED when the whole interval lies inside ``(low, high)``,
        REFUTED when it lies wholly outside it (e.g. "this probe is at chance, 0.5 ± 0.15")."""
        __tracebackhide__ = True
        if self._several is not None:
            return self._each(lambda s: s.is_between(low, high))
        lo = _as_number(low, "is_between(low)")
        hi = _as_number(high, "is_between(high)")
        if not lo < hi:
            raise InterpClaimsError(f"is_between(low, high) needs low < high, got {lo} and {hi}")
        ref = {"kind": "range", "low": lo, "high": hi, "value": (lo + hi) / 2,
               "label": f"in ({_fmt(lo)}, {_fmt(hi)})"}
        return self._equivalence("is_between", lo, hi, ref,
                                 f"{_fmt(lo)} < ci_low, ci_high < {_fmt(hi)}")

    def is_negligible(self, within: float) -> ClaimResult:
        """Equivalence test: SUPPORTED when the whole interval lies inside ``(-within, within)``."""
        __tracebackhide__ = True
        if self._several is not None:
            return self._each(lambda s: s.is_negligible(within))
        d = _as_number(within, "is_negligible(within=)")
        if d <= 0:
            raise InterpClaimsError(f"is_negligible(within=) must be > 0, got {d}")
        ref = {"kind": "equivalence", "value": 0.0, "within": d, "label": f"|x| < {_fmt(d)}"}
        return self._equivalence("is_negligible", -d, d, ref,
                                 f"-{_fmt(d)} < ci_low, ci_high < {_fmt(d)}")

    # -- internals -------------------------------------------------------------------------
    def _in_batches(self, rule: Rule) -> bool:
        """An estimate evaluated in batches (``--claims-sequential``): extend it until its
        confidence sequence decides ``rule`` (True: ``self._x`` is then the estimate at
        stopping, and has no fixed-n p-value). In a corrected family of several claims, or for
        an estimate not in batches, every prompt is used as without the flag (False)."""
        stream = self._x.stream
        if stream is None:
            return False
        family = self._family
        if family is not None and family.size > 1 and family.correction != "none":
            self._x = stream.complete()
            return False
        self._x = decide_sequentially(self._x, rule)
        return True

    def _equivalence(self, comparator: str, lo: float, hi: float, reference: Mapping[str, Any],
                     rule: str) -> ClaimResult:
        """The interval inside ``(lo, hi)``: two one-sided tests around the midpoint."""
        __tracebackhide__ = True
        seq = self._in_batches(lambda a, b: (lo < a and b < hi, a >= hi or b <= lo))
        x = self._x
        verdict = decide(lo < x.ci_low and x.ci_high < hi, x.ci_low >= hi or x.ci_high <= lo)
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        p = None if seq else p_value(x, lambda s, rng: tost_p(s - mid, half, rng))
        centred = dataclasses.replace(x, value=x.value - mid, ci_low=x.ci_low - mid,
                                      ci_high=x.ci_high - mid)
        return self._finish(comparator, rule, verdict, x, reference, p,
                            size_warnings(centred, half, "equivalence", verdict))

    def _finish(self, comparator: str, rule: str, verdict: Verdict, tested: Estimate,
                reference: Mapping[str, Any], p: float | None = None,
                warnings: Sequence[str] = ()) -> ClaimResult:
        __tracebackhide__ = True
        name = self._x.label or self._x.method
        pct = round(tested.ci_level * 100)
        what = "x - reference" if comparator == "exceeds" else "x"
        message = (
            f"{verdict}: {name} = {_fmt(self._x.value)}; {what} = {_fmt(tested.value)} "
            f"[{pct}% {'CS' if tested.context.get('sequential') else 'CI'} "
            f"{_fmt(tested.ci_low)}, {_fmt(tested.ci_high)}], n={tested.n}"
            f"{sequential_note(tested)}; "
            f"reference {reference['label']}"
            + (f" (by {_fmt(reference['by'])})" if reference.get("by") else "")
            + f"; rule: {rule}"
            + (f"; p = {p:.3g}" if p is not None else "")
            + "".join(f"\n  warning: {w}" for w in warnings)
        )
        result = ClaimResult(
            verdict=verdict, comparator=comparator, rule=rule, estimate=self._x, tested=tested,
            reference=reference, message=message, p=p, alpha=round(1 - tested.ci_level, 10),
            warnings=tuple(warnings), claim_id=self.name,
            per_prompt=per_prompt_of(tested, self._x),
        )
        return result if self._dry else self._conclude(result)

    def _each(self, decide: Callable[[Subject], ClaimResult]) -> ClaimResult:
        """Decide the comparator on each estimate of an :class:`Estimates`, then combine the
        verdicts (intersection-union: see :func:`interpclaims.verdicts._several.combine`)."""
        __tracebackhide__ = True
        assert self._several is not None
        each = {label: decide(Subject(est, self._record, None, self.where, self.name, dry=True))
                for label, est in self._several.items.items()}
        result = combine(each, self._several.title)
        return result if self._dry else self._conclude(result)

    def _conclude(self, result: ClaimResult) -> ClaimResult:
        """Apply the family correction, record the result, warn, and raise on a failing verdict."""
        __tracebackhide__ = True
        name = self._x.label or self._x.method
        verdict, warnings, message = result.verdict, result.warnings, result.message
        if self._family is not None:
            result = self._family.decide(result)
        if result.verdict is not verdict:  # the family correction downgraded it (one warning)
            message = (message.replace(f"{verdict}: ", f"{result.verdict}: ", 1)
                       + f"\n  warning: {result.warnings[-1]}")
            result = dataclasses.replace(result, message=message)
            verdict, warnings = result.verdict, result.warnings
        self.decided = True
        self._record(result)
        for w in warnings:
            _warnings.warn(ClaimWarning(f"{name}: {w}"), stacklevel=_user_stacklevel())
        if verdict is Verdict.REFUTED:
            raise ClaimRefuted(message)
        if verdict is Verdict.INCONCLUSIVE and not _context.current().allow_inconclusive:
            why = (" — supported alone, but not after correcting for its family; more prompts "
                   "or a larger effect would decide it" if result.verdict_before_correction else
                   " — the interval straddles the reference; more prompts or a smaller effect "
                   "margin may decide it")
            raise ClaimInconclusive(message + why)
        return result


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller of this function point at
    the first frame outside interpclaims: the claim's line in the user's test."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _not_an_estimate(obj: Any) -> str:
    """Why ``claim.that(obj)`` cannot decide, and which part of ``obj`` it could."""
    from interpclaims.analyses import AttributionSweep

    hint = " A bare number has no interval, and a claim is never decided on a point estimate."
    if isinstance(obj, EstimateMatrix | AttributionSweep):
        hint = (f" Claim one cell of the matrix: claim.that(m[{obj.rows[0]!r}, {obj.cols[0]!r}])"
                f" (rows {', '.join(obj.rows)}; columns {', '.join(obj.cols)}).")
        if isinstance(obj, AttributionSweep):
            hint += (" Its cells are patched for real when read; its AtP scores only rank them.")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        parts = [f.name + ("[row, col]" if isinstance(getattr(obj, f.name), EstimateMatrix) else "")
                 for f in dataclasses.fields(obj)
                 if isinstance(getattr(obj, f.name), (Estimate, EstimateMatrix))]
        if parts:
            hint = (f" It holds estimates: claim one of them, e.g. claim.that(result.{parts[0]})"
                    f" (estimates: {', '.join(parts)}).")
        elif callable(getattr(obj, "effect", None)):
            hint = " Claim the effect at one strength: claim.that(result.effect(strength))."
    return (f"claim.that() takes an Estimate returned by an analysis (ic.attention_score, "
            f"ic.ablate, ...), got {type(obj).__name__}: {reprlib.repr(obj)}.{hint}")


def _claim_name(name: str | None, taken: list[str], where: str) -> str:
    """The ``id=`` of ``claim.that()``, checked: a word of its own, once per test."""
    __tracebackhide__ = True
    if name is None:
        return ""
    if (not isinstance(name, str) or not name or name.isdigit()
            or any(c.isspace() or c in "#[]" for c in name)):
        raise InterpClaimsError(
            f"claim.that(id=...) at {where}: expected a name without spaces, '#', '[' or ']' "
            f"that is not a bare number (numbers are the default ids #2, #3...), got {name!r}")
    if name in taken:
        raise InterpClaimsError(f"claim.that(id={name!r}) at {where}: this test already has a "
                                "claim of that id; give each claim of a test its own id")
    return name


class Claim:
    """The ``claim`` fixture: ``claim.that(estimate).exceeds(...)`` decides and records a claim.

    ``record`` receives every :class:`ClaimResult` as it is decided (the plugin stores them on the
    test item so that they reach the report, whatever the outcome). ``family`` is the declared
    family of the test (its size sets the correction each claim gets when it is decided).
    """

    def __init__(self, record: Callable[[ClaimResult], None], family: Family | None = None, *,
                 dry: bool = False) -> None:
        self._user_record = record
        self._dry = dry  # a plan (--claims-plan): decide nothing, record nothing, raise nothing
        self._family = family
        self.subjects: list[Subject] = []
        self.results: list[ClaimResult] = []

    def _record(self, result: ClaimResult) -> None:
        self.results.append(result)
        self._user_record(result)

    def __repr__(self) -> str:
        family = f", family {self._family.name!r} of {self._family.size}" if self._family else ""
        decided = ", ".join(f"{r.claim_id or '#' + str(i + 1)} {r.verdict}"
                            for i, r in enumerate(self.results))
        return (f"<Claim: {len(self.results)} decided{' (' + decided + ')' if decided else ''}, "
                f"{len(self.undecided())} undecided{family}>")

    def that(self, estimate: Estimate | Estimates, *, id: str | None = None) -> Subject:
        """Start a claim on ``estimate`` (or on several: see :class:`Estimates`). ``id=`` names it
        within its test: its claim id becomes ``<test id>#<id>`` (default: the test id for the
        first claim, ``#2``, ``#3``... after)."""
        __tracebackhide__ = True
        caller = sys._getframe(1)
        where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        name = _claim_name(id, [s.name for s in self.subjects], where)
        subject = Subject(estimate, self._record, self._family, where, name, dry=self._dry)
        self.subjects.append(subject)
        return subject

    def undecided(self) -> list[Subject]:
        """Claims started with :meth:`that` whose comparator was never called."""
        return [s for s in self.subjects if not s.decided]

    def settle(self, allow_inconclusive: bool) -> None:
        """Called when the test body returned: its outcome follows the claims it decided.

        Raises when a claim was started and never decided, and when a refutation (or a failing
        INCONCLUSIVE) was caught inside the test — ``try/except`` or ``pytest.raises(ClaimRefuted)``
        do not turn a refuted claim into a pass; ``xfail(strict=True)`` states an expected-false
        claim.
        """
        __tracebackhide__ = True
        undecided = self.undecided()
        if undecided:
            raise InterpClaimsError(
                f"{len(undecided)} claim(s) started with claim.that(...) were never decided (at "
                f"{', '.join(s.where for s in undecided)}): call a comparator on it, e.g. "
                "claim.that(x).is_at_least(0.5) — with the call's parentheses"
            )
        caught = (" (the test caught this exception, but its outcome follows the claims it "
                  "decided: mark an expected-false claim xfail(strict=True) instead)")
        for r in self.results:
            if r.verdict is Verdict.REFUTED:
                raise ClaimRefuted(r.message + caught)
        for r in self.results:
            if r.verdict is Verdict.INCONCLUSIVE and not allow_inconclusive:
                raise ClaimInconclusive(r.message + caught)
