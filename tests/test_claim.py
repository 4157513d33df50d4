"""Claims: the decision table of every comparator at its boundaries, raising policy, recording,
serialization, and the Estimate invariants."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from interpclaims import _context
from interpclaims._context import ClaimContext
from interpclaims._errors import ClaimInconclusive, ClaimRefuted, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.verdicts import Claim, ClaimResult, Verdict

# deliberately under-powered claims are decided here: their ClaimWarnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::interpclaims.ClaimWarning")


S, R, I = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE  # noqa: E741


def est(lo: float, hi: float, value: float | None = None, *, n: int = 30, label: str = "x",
        samples=None, unit_ids=None, controls=None) -> Estimate:
    return Estimate(
        value=(lo + hi) / 2 if value is None else value, ci_low=lo, ci_high=hi, n=n,
        method="test", label=label, samples=None if samples is None else np.asarray(samples),
        unit_ids=unit_ids, controls=controls or {},
    )


class Recorder:
    def __init__(self) -> None:
        self.results: list[ClaimResult] = []
        self.claim = Claim(self.results.append)


def decide(estimate: Estimate, comparator: str, *args, **kwargs) -> tuple[Verdict, ClaimResult]:
    """Run a comparator; check that the exception matches the recorded verdict; return both."""
    rec = Recorder()
    subject = rec.claim.that(estimate)
    try:
        returned = getattr(subject, comparator)(*args, **kwargs)
    except ClaimRefuted:
        assert len(rec.results) == 1
        assert rec.results[0].verdict is R
        return R, rec.results[0]
    except ClaimInconclusive:
        assert len(rec.results) == 1
        assert rec.results[0].verdict is I
        return I, rec.results[0]
    assert len(rec.results) == 1
    assert returned is rec.results[0]
    assert returned.verdict is S
    return S, returned


@pytest.fixture
def fast_ctx():
    with _context.use(ClaimContext(seed=0, key="tests/test_claim.py::k", n_resamples=2000)) as c:
        yield c


# -- the decision tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.6, 0.9, S),
        (0.5, 0.9, S),  # ci_low == v: supported (>=)
        (0.49, 0.9, I),
        (0.1, 0.5, I),  # ci_high == v: not refuted (refuted needs ci_high < v)
        (0.1, 0.49, R),
        (-2.0, 3.0, I),
    ],
)
def test_is_at_least(lo, hi, expected):
    verdict, result = decide(est(lo, hi), "is_at_least", 0.5)
    assert verdict is expected
    assert result.comparator == "is_at_least"
    assert result.reference["kind"] == "threshold"
    assert result.reference["value"] == 0.5
    assert result.tested is result.estimate


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.1, 0.4, S),
        (0.1, 0.5, S),  # ci_high == v: supported (<=)
        (0.1, 0.51, I),
        (0.5, 0.9, I),  # ci_low == v: not refuted (refuted needs ci_low > v)
        (0.51, 0.9, R),
    ],
)
def test_is_at_most(lo, hi, expected):
    verdict, result = decide(est(lo, hi), "is_at_most", 0.5)
    assert verdict is expected
    assert result.comparator == "is_at_most"


# binary-exact numbers so that x - thr is exact at the boundaries
@pytest.mark.parametrize(
    ("lo", "hi", "thr", "by", "expected"),
    [
        (0.5, 1.0, 0.25, 0.0, S),
        (0.25, 1.0, 0.25, 0.0, I),  # ci_low(x - thr) == by: not supported (needs >)
        (0.0, 0.25, 0.25, 0.0, R),  # ci_high(x - thr) == by: refuted (<=)
        (0.0, 0.125, 0.25, 0.0, R),
        (0.875, 1.0, 0.25, 0.5, S),
        (0.75, 1.0, 0.25, 0.5, I),
        (0.5, 0.75, 0.25, 0.5, R),
        (0.5, 1.0, -0.25, 0.0, S),
    ],
)
def test_exceeds_number(lo, hi, thr, by, expected):
    x = est(lo, hi)
    verdict, result = decide(x, "exceeds", thr, by=by)
    assert verdict is expected
    assert result.estimate is x
    assert result.tested.ci_low == lo - thr
    assert result.tested.ci_high == hi - thr
    assert result.tested.value == x.value - thr
    assert result.reference == {"kind": "threshold", "value": thr, "label": f"> {thr:.4g}",
                                "by": by}


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (-0.4, 0.4, S),
        (-0.49, 0.49, S),
        (-0.5, 0.4, I),  # touching the margin is not inside it (strict)
        (-0.4, 0.5, I),
        (0.4, 0.9, I),  # straddles +d
        (-0.9, 0.9, I),  # wider than the band
        (0.5, 0.9, R),  # wholly at or above +d
        (0.51, 0.9, R),
        (-0.9, -0.5, R),  # wholly at or below -d
    ],
)
def test_is_negligible(lo, hi, expected):
    verdict, result = decide(est(lo, hi), "is_negligible", within=0.5)
    assert verdict is expected
    assert result.reference["kind"] == "equivalence"
    assert result.reference["within"] == 0.5


@pytest.mark.parametrize("within", [0.0, -0.1])
def test_is_negligible_needs_positive_margin(within):
    with pytest.raises(InterpClaimsError, match="> 0"):
        Recorder().claim.that(est(-0.1, 0.1)).is_negligible(within=within)


# -- never decided on the point estimate -----------------------------------------------------------


@pytest.mark.parametrize(
    ("estimate", "comparator", "args"),
    [
        (est(0.3, 1.0, value=0.9), "is_at_least", (0.5,)),
        (est(0.0, 0.7, value=0.1), "is_at_most", (0.5,)),
        (est(0.45, 1.0, value=0.9), "exceeds", (0.5,)),
        (est(-0.6, 0.6, value=0.0), "is_negligible", (0.5,)),
    ],
)
def test_point_estimate_on_the_right_side_is_not_enough(estimate, comparator, args):
    verdict, _ = decide(estimate, comparator, *args)
    assert verdict is I


# -- estimate vs estimate: paired and independent -------------------------------------------------


def _shared_offset(n: int = 40, effect: float = 0.3, seed: int = 0):
    g = np.random.default_rng(seed)
    offset = g.normal(0.0, 10.0, size=n)
    ids = tuple(f"p{i}" for i in range(n))
    a = offset + effect + g.normal(0.0, 0.1, size=n)
    b = offset + g.normal(0.0, 0.1, size=n)
    return a, b, ids


def _sample_est(samples, label, ids=None) -> Estimate:
    samples = np.asarray(samples, dtype=float)
    m = float(samples.mean())
    return est(m - 1.0, m + 1.0, value=m, n=samples.size, label=label, samples=samples,
               unit_ids=ids)


def test_exceeds_estimate_paired_resolves_a_small_effect(fast_ctx):
    a, b, ids = _shared_offset()
    x, other = _sample_est(a, "ablated", ids), _sample_est(b, "control", ids)
    verdict, result = decide(x, "exceeds", other)
    assert verdict is S
    t = result.tested
    assert "paired per prompt" in t.method
    assert t.value == pytest.approx(float(np.mean(a - b)))
    assert 0 < t.ci_low < t.value < t.ci_high
    assert t.ci_high - t.ci_low < 0.2
    assert t.unit_ids == ids
    np.testing.assert_allclose(t.samples, a - b)
    assert t.label == "ablated - control"
    ref = result.reference
    assert ref["kind"] == "estimate"
    assert ref["label"] == "control"
    assert ref["value"] == other.value and ref["n"] == other.n
    assert ref["by"] == 0.0


@pytest.mark.parametrize(
    ("x_ids", "other_ids"),
    [("same", None), (None, None), ("same", "reversed")],
    ids=["other-without-unit-ids", "both-without-unit-ids", "other-prompt-order"],
)
def test_exceeds_estimate_unpaired_is_inconclusive_on_the_same_data(fast_ctx, x_ids, other_ids):
    a, b, ids = _shared_offset()
    x_ids = ids if x_ids == "same" else x_ids
    other_ids = tuple(reversed(ids)) if other_ids == "reversed" else other_ids
    x, other = _sample_est(a, "ablated", x_ids), _sample_est(b, "control", other_ids)
    verdict, result = decide(x, "exceeds", other)
    assert verdict is I
    t = result.tested
    assert "(independent" in t.method
    assert t.ci_low < 0 < t.ci_high
    assert t.samples is None


def test_exceeds_estimate_with_margin(fast_ctx):
    a, b, ids = _shared_offset(effect=0.3)
    x, other = _sample_est(a, "x", ids), _sample_est(b, "y", ids)
    assert decide(x, "exceeds", other, by=0.1)[0] is S
    assert decide(x, "exceeds", other, by=1.0)[0] is R
    assert decide(x, "exceeds", other, by=0.3)[0] is I  # the margin is inside the interval


def test_exceeds_estimate_refuted_when_below(fast_ctx):
    a, b, ids = _shared_offset(effect=-0.5)
    verdict, result = decide(_sample_est(a, "x", ids), "exceeds", _sample_est(b, "y", ids))
    assert verdict is R
    assert result.tested.ci_high < 0


def test_estimate_comparison_is_deterministic_under_the_context(fast_ctx):
    a, b, _ = _shared_offset()
    x, other = _sample_est(a, "x"), _sample_est(b, "y")  # independent: the draw matters
    _, r1 = decide(x, "exceeds", other)
    _, r2 = decide(x, "exceeds", other)
    assert (r1.tested.ci_low, r1.tested.ci_high) == (r2.tested.ci_low, r2.tested.ci_high)
    with _context.use(ClaimContext(seed=1, key=fast_ctx.key, n_resamples=2000)):
        _, r3 = decide(x, "exceeds", other)
    assert (r3.tested.ci_low, r3.tested.ci_high) != (r1.tested.ci_low, r1.tested.ci_high)


def test_exceeds_estimate_without_samples_explains(fast_ctx):
    x = _sample_est([1.0, 2.0, 3.0], "x")
    other = est(0.0, 1.0, label="from-json")
    with pytest.raises(InterpClaimsError, match="samples"):
        Recorder().claim.that(x).exceeds(other)
    with pytest.raises(InterpClaimsError, match="samples"):
        Recorder().claim.that(other).exceeds(x)


# -- raising policy and recording -----------------------------------------------------------------


def test_refuted_raises_an_assertion_error_with_the_message():
    rec = Recorder()
    with pytest.raises(AssertionError) as info:
        rec.claim.that(est(0.1, 0.2, label="induction score")).is_at_least(0.5)
    assert isinstance(info.value, ClaimRefuted)
    msg = str(info.value)
    assert msg.startswith("REFUTED")
    assert "induction score" in msg
    assert "ci_low >= 0.5" in msg
    assert msg == rec.results[0].message


def test_inconclusive_raises_unless_allowed():
    x = est(0.4, 0.6)
    rec = Recorder()
    with pytest.raises(ClaimInconclusive) as info:
        rec.claim.that(x).is_at_least(0.5)
    assert not isinstance(info.value, AssertionError)
    assert isinstance(info.value, InterpClaimsError)
    assert "straddles" in str(info.value)
    with _context.use(ClaimContext(allow_inconclusive=True)):
        result = rec.claim.that(x).is_at_least(0.5)
    assert result.verdict is I
    assert [r.verdict for r in rec.results] == [I, I]


def test_allow_inconclusive_does_not_let_refuted_pass():
    with _context.use(ClaimContext(allow_inconclusive=True)), pytest.raises(ClaimRefuted):
        Recorder().claim.that(est(0.1, 0.2)).is_at_least(0.5)


def test_context_is_restored_after_use():
    with _context.use(ClaimContext(allow_inconclusive=True)):
        pass
    with pytest.raises(ClaimInconclusive):
        Recorder().claim.that(est(0.4, 0.6)).is_at_least(0.5)


def test_supported_returns_the_result():
    rec = Recorder()
    result = rec.claim.that(est(0.6, 0.8, label="s")).is_at_least(0.5)
    assert isinstance(result, ClaimResult)
    assert result.verdict is S
    assert result.message.startswith("SUPPORTED: s = 0.7")
    assert rec.results == [result]


def test_record_receives_every_result_whatever_the_verdict():
    rec = Recorder()
    rec.claim.that(est(0.6, 0.8)).is_at_least(0.5)
    with pytest.raises(ClaimRefuted):
        rec.claim.that(est(0.1, 0.2)).is_at_least(0.5)
    with pytest.raises(ClaimInconclusive):
        rec.claim.that(est(0.4, 0.6)).is_at_least(0.5)
    rec.claim.that(est(-0.1, 0.1)).is_negligible(within=0.5)
    assert [r.verdict for r in rec.results] == [S, R, I, S]
    assert [r.comparator for r in rec.results] == ["is_at_least"] * 3 + ["is_negligible"]


# -- misuse ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bare", [0.5, 1, np.float64(0.5), None, "0.5"])
def test_that_rejects_bare_numbers(bare):
    with pytest.raises(InterpClaimsError) as info:
        Recorder().claim.that(bare)
    msg = str(info.value)
    assert "Estimate" in msg
    assert "point estimate" in msg
    assert type(bare).__name__ in msg


@pytest.mark.parametrize(
    ("comparator", "bad", "match"),
    [
        ("is_at_least", "0.5", "must be a number"),
        ("is_at_least", True, "must be a number"),
        ("is_at_most", math.nan, "finite"),
        ("is_at_most", math.inf, "finite"),
        ("exceeds", None, "must be a number"),
        ("is_negligible", "0.1", "must be a number"),
    ],
)
def test_comparators_reject_bad_references(comparator, bad, match):
    rec = Recorder()
    with pytest.raises(InterpClaimsError, match=match):
        getattr(rec.claim.that(est(0.0, 1.0)), comparator)(bad)
    assert rec.results == []


def test_exceeds_rejects_bad_margin():
    with pytest.raises(InterpClaimsError, match="by="):
        Recorder().claim.that(est(0.0, 1.0)).exceeds(0.0, by=math.nan)


# -- ClaimResult serialization ---------------------------------------------------------------------


def _full_result() -> ClaimResult:
    controls = {"random_heads": est(0.0, 0.2, label="random heads")}
    x = est(0.6, 0.8, label="score", controls=controls)
    rec = Recorder()
    result = rec.claim.that(x).exceeds(0.25, by=0.125)
    return dataclasses.replace(
        result, nodeid="tests/t.py::test_x[tl]", claim_key="tests/t.py::test_x", index=1,
        claim_id="test_x#2", xfail_reason="not yet", baseline={
            "verdict": "SUPPORTED", "value": 0.5, "ci_low": 0.4, "ci_high": 0.6,
            "regressions": ["effect moved 30% toward the reference (threshold 20%)"]},
        backend="tl", model="zoo/agreement", model_sha256="c" * 64, seed=7, xfail=True,
        data={"agreement": "d" * 64}, family="heads", family_size=4, correction="holm",
        p_adjusted=0.5, verdict_before_correction=Verdict.SUPPORTED,
    )


def test_claim_result_json_round_trip():
    result = _full_result()
    data = result.to_json()
    text = json.dumps(data)
    back = ClaimResult.from_json(json.loads(text))
    assert back == result
    assert back.to_json() == data
    assert back.estimate.control("random_heads") == result.estimate.control("random_heads")


def test_claim_result_json_shape():
    data = _full_result().to_json()
    assert data["verdict"] == "SUPPORTED"
    assert data["nodeid"] == "tests/t.py::test_x[tl]"
    assert data["backend"] == "tl" and data["model"] == "zoo/agreement"
    assert data["seed"] == 7 and data["xfail"] is True
    assert data["comparator"] == "exceeds"
    assert data["tested"]["ci_low"] == pytest.approx(0.6 - 0.25)
    assert data["estimate"]["controls"]["random_heads"]["label"] == "random heads"
    assert data["reference"]["by"] == 0.125
    assert data["family_size"] == 4 and data["verdict_before_correction"] == "SUPPORTED"
    assert data["data"] == {"agreement": "d" * 64} and data["claim_key"] == "tests/t.py::test_x"
    assert data["claim_id"] == "test_x#2" and data["xfail_reason"] == "not yet"
    assert data["baseline"]["regressions"] and data["baseline"]["verdict"] == "SUPPORTED"
    assert "samples" not in data["estimate"]


def test_every_field_of_the_row_survives_the_round_trip():
    """to_json writes every field and from_json reads every one back (no field is lost)."""
    result = _full_result()
    back = ClaimResult.from_json(json.loads(json.dumps(result.to_json())))
    for f in dataclasses.fields(ClaimResult):
        if f.name not in ("estimate", "tested"):  # samples are not serialized
            assert getattr(back, f.name) == getattr(result, f.name), f.name


def test_claim_result_with_unbounded_interval_is_strict_json():
    rec = Recorder()
    x = est(-math.inf, math.inf, value=0.5, n=1)
    with _context.use(ClaimContext(allow_inconclusive=True)):
        result = rec.claim.that(x).is_at_least(0.25)
    assert result.verdict is I
    json.dumps(result.to_json(), allow_nan=False)


# -- Estimate --------------------------------------------------------------------------------------


def test_control_lookup_and_unknown_name_lists_available():
    r = est(0.0, 0.1, label="random")
    m = est(0.1, 0.2, label="mean")
    x = est(0.5, 0.9, label="score", controls={"random_heads": r, "mean_ablation": m})
    assert x.control("random_heads") is r
    with pytest.raises(InterpClaimsError) as info:
        x.control("shuffled")
    msg = str(info.value)
    assert "'shuffled'" in msg
    assert "mean_ablation, random_heads" in msg
    assert "controls=['shuffled'" in msg


def test_control_unknown_without_controls_says_none():
    with pytest.raises(InterpClaimsError, match="controls measured with it: none"):
        est(0.0, 1.0).control("random_heads")


def test_controls_are_read_only():
    x = est(0.0, 1.0, controls={"a": est(0.0, 0.1)})
    with pytest.raises(TypeError):
        x.controls["b"] = est(0.0, 0.1)  # type: ignore[index]


@pytest.mark.parametrize(("value", "lo", "hi", "problem"), [
    (1.5, 0.0, 1.0, "outside its interval"), (-0.1, 0.0, 1.0, "outside its interval"),
    (0.5, math.nan, 1.0, "NaN bound"), (math.nan, 0.0, 1.0, "not a finite number"),
    (math.inf, 0.0, math.inf, "not a finite number")])
def test_bad_estimates_are_refused_where_they_are_built(value, lo, hi, problem):
    with pytest.raises(InterpClaimsError, match=f"estimate 'bad'.*{problem}"):
        Estimate(value=value, ci_low=lo, ci_high=hi, n=10, method="m", label="bad")


def test_value_at_interval_edges_is_allowed():
    Estimate(value=0.0, ci_low=0.0, ci_high=1.0, n=10, method="m")
    Estimate(value=1.0, ci_low=0.0, ci_high=1.0, n=10, method="m")
    Estimate(value=0.5, ci_low=-math.inf, ci_high=math.inf, n=1, method="m")


def test_estimate_str():
    assert str(est(0.25, 0.75, n=12)) == "0.5 [95% CI 0.25, 0.75] (n=12)"
    assert str(est(-math.inf, math.inf, value=1.0, n=1)) == "1 [95% CI -inf, inf] (n=1)"


def test_estimate_from_samples_uses_the_context():
    samples = [1.0, 2.0, 3.0, 4.0, 5.0]
    with _context.use(ClaimContext(seed=3, key="k", n_resamples=500, ci_level=0.9)):
        e1 = estimate_from_samples(samples, method="m", label="l", unit_ids=tuple("abcde"))
        e2 = estimate_from_samples(samples, method="m", label="l", unit_ids=tuple("abcde"))
    assert e1 == e2
    assert e1.value == 3.0
    assert e1.ci_low < 3.0 < e1.ci_high
    assert e1.n == 5 and e1.ci_level == 0.9
    assert "Student-t" in e1.method  # few prompts: t interval
    with _context.use(ClaimContext(seed=3, key="k", n_resamples=500, ci_level=0.9)):
        many = estimate_from_samples(np.arange(40.0), method="m", label="l")
        rate = estimate_from_samples(np.array([1.0] * 40), method="m", label="l", rate=True)
        zeros = estimate_from_samples(np.zeros(40), method="m", label="l")
    assert "BCa bootstrap over prompts (500 resamples)" in many.method
    # a perfect rate still has an interval of positive width (Wilson), not [1, 1]
    assert "Wilson" in rate.method and rate.value == 1.0 and 0.9 < rate.ci_low < 1.0
    assert zeros.ci_low == zeros.value == zeros.ci_high == 0.0  # not a rate: no Wilson
    assert e1.unit_ids == tuple("abcde")
    np.testing.assert_array_equal(e1.samples, samples)


def test_small_samples_warn(fast_ctx):
    import interpclaims as ic

    x = estimate_from_samples(np.array([1.0, 1.2, 0.9, 1.1, 1.3]), method="m", label="tiny")
    results = []
    with pytest.warns(ic.ClaimWarning, match="insufficient_n"):
        Claim(results.append).that(x).is_at_least(0.5)
    assert any(w.startswith("insufficient_n") for w in results[0].warnings)


def test_a_claim_without_a_p_value_in_a_family_says_it_went_uncorrected() -> None:
    """A ratio of means has an interval but no per-prompt p-value: Bonferroni cannot be applied
    to it, and the row says so instead of looking corrected."""
    from interpclaims.verdicts import Family

    ratio = Estimate(value=1.0, ci_low=0.8, ci_high=1.2, n=50, method="ratio of means", label="r")
    results: list[ClaimResult] = []
    with _context.use(ClaimContext(seed=0, key="t")):
        Claim(results.append, Family("sweep", 3)).that(ratio).is_at_least(0.5)
        Claim(results.append, Family("alone", 1)).that(ratio).is_at_least(0.5)
    assert [r.verdict for r in results] == [Verdict.SUPPORTED, Verdict.SUPPORTED]
    assert any("uncorrected" in w and "'sweep' of 3" in w for w in results[0].warnings)
    assert not any("uncorrected" in w for w in results[1].warnings)
