"""One outcome everywhere: for every claim, what pytest prints (letter, counts), junitxml, --lf,
the report and the exit status agree — also for family corrections, subsets, claims never decided
and refutations caught inside the test. And nothing is lost: non-finite numbers, a bad report
folder, an interrupt before any claim."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

# each instance alone: mean 0.26, interval above 0, one-sided p ≈ 0.018 — SUPPORTED alone, but not
# as one of five (Bonferroni: 5 x 0.018 > 0.025)
FAMILY = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import interpclaims as ic
    from interpclaims._estimate import estimate_from_samples

    SAMPLES = 0.3 + np.random.default_rng(4).standard_normal(64)

    @pytest.mark.parametrize("i", range(5))
    def test_sweep(claim, i):
        claim.that(estimate_from_samples(SAMPLES, method="m", label="x")).is_at_least(0.0)

    @ic.family("alone")
    def test_alone(claim):
        claim.that(estimate_from_samples(SAMPLES, method="m", label="x")).is_at_least(0.0)
    """
)


def _report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "claims.json").read_text())


def _counts(result: pytest.RunResult) -> dict[str, int]:
    """pytest's outcome counts, without the warnings count."""
    return {k: v for k, v in result.parseoutcomes().items() if k not in ("warning", "warnings")}


def _junit(pytester: pytest.Pytester, name: str = "junit.xml") -> dict[str, str]:
    """``{test name: passed | failure | skipped}`` from a junitxml file."""
    out = {}
    for case in ET.parse(pytester.path / name).getroot().iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        out[case.get("name", "")] = kinds[0] if kinds else "passed"
    return out


@pytest.mark.parametrize("workers", [["-n", "2"], ["-p", "no:xdist"]])
def test_family_downgrade_agrees_everywhere(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makepyfile(test_family=FAMILY)
    result = pytester.runpytest_subprocess(*workers, "--junitxml=junit.xml")
    # pytest: five INCONCLUSIVE (letter I, counted apart), one pass, exit 1
    assert _counts(result) == {"inconclusive": 5, "passed": 1}
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # their messages are printed, like a failure's
    result.stdout.fnmatch_lines(["*INCONCLUSIVE claims*", "*test_sweep?0?: INCONCLUSIVE: x = *",
                                 "*warning: not significant after bonferroni correction within "
                                 "family 'test_family.py::test_sweep' of 5 claims*"])
    # junitxml: the same five fail
    junit = _junit(pytester)
    assert sorted(k for k, v in junit.items() if v == "failure") == [f"test_sweep[{i}]" for i in range(5)]
    assert junit["test_alone"] == "passed"
    # the report: the same verdicts, the declared family, and a complete run
    report = _report(pytester)
    sweep = [c for c in report["claims"] if "test_sweep" in c["nodeid"]]
    assert {c["verdict"] for c in sweep} == {"INCONCLUSIVE"} and len(sweep) == 5
    assert {c["family_size"] for c in sweep} == {5}
    assert all(c["verdict_before_correction"] == "SUPPORTED" for c in sweep)
    assert all(0.0 < c["p"] < 0.025 < c["p_adjusted"] for c in sweep)
    assert {c["outcome"] for c in sweep} == {"failed"}
    alone = next(c for c in report["claims"] if "test_alone" in c["nodeid"])
    assert alone["verdict"] == "SUPPORTED" and alone["family"] == "alone"
    assert alone["family_size"] == 1 and alone["outcome"] == "passed"
    assert report["manifest"]["partial"] is False


def test_a_subset_decides_the_same_and_is_marked_partial(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_family=FAMILY)
    pytester.runpytest("-p", "no:xdist")  # the full run, for --lf
    # -k: one instance alone is still one of five (the family is what the code declares)
    result = pytester.runpytest("-p", "no:xdist", "-k", "test_sweep and 2")
    assert _counts(result) == {"inconclusive": 1, "deselected": 5}
    report = _report(pytester)
    (row,) = report["claims"]
    assert row["verdict"] == "INCONCLUSIVE" and row["family_size"] == 5
    assert report["manifest"]["partial"] is True
    assert "1 of 6 claim tests" in report["manifest"]["partial_reasons"][0]
    # --lf reruns exactly the claims that failed, and the report says it is partial
    result = pytester.runpytest("-p", "no:xdist", "--lf")
    assert result.parseoutcomes()["inconclusive"] == 5
    report = _report(pytester)
    assert {c["verdict"] for c in report["claims"]} == {"INCONCLUSIVE"}
    assert report["manifest"]["partial"] is True
    # a node id selects one instance: the same verdict again
    result = pytester.runpytest("-p", "no:xdist", "test_family.py::test_sweep[3]")
    assert _counts(result) == {"inconclusive": 1}
    assert _report(pytester)["manifest"]["partial"] is True


def test_no_correction_passes_the_family(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_family=FAMILY)
    result = pytester.runpytest("-p", "no:xdist", "--claims-correction=none")
    assert result.ret == pytest.ExitCode.OK
    assert {c["verdict"] for c in _report(pytester)["claims"]} == {"SUPPORTED"}


def test_holm_is_refused_with_the_reason(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:xdist", "--claims-correction=holm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-correction: expected bonferroni or none, got 'holm'"
                                 "*every p-value of a family*"])


UNDECIDED = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import interpclaims as ic
    from interpclaims._estimate import estimate_from_samples

    X = estimate_from_samples(0.3 + np.random.default_rng(4).standard_normal(64), method="m",
                              label="x")

    def test_no_comparator(claim):
        claim.that(X)

    def test_comparator_not_called(claim):
        claim.that(X).is_at_least

    def test_refutation_swallowed(claim):
        try:
            claim.that(X).is_at_least(5.0)
        except AssertionError:
            pass

    def test_refutation_expected_with_raises(claim):
        with pytest.raises(ic.ClaimRefuted):
            claim.that(X).is_at_least(5.0)

    @pytest.mark.xfail(strict=True)
    def test_expected_false(claim):
        claim.that(X).is_at_least(5.0)

    def test_true(claim):
        claim.that(X).is_at_least(0.0)
    """
)


def test_the_outcome_follows_the_claims_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_undecided=UNDECIDED)
    result = pytester.runpytest("-p", "no:xdist", "--junitxml=junit.xml", "-rf")
    assert _counts(result) == {"failed": 4, "xfailed": 1, "passed": 1}
    result.stdout.fnmatch_lines_random([
        "E * 1 claim(s) started with claim.that(...) were never decided*test_undecided.py:10)*",
        "E * never decided*test_undecided.py:13)*",
        "E * interpclaims.ClaimRefuted: REFUTED: x = *the test caught this exception*"
        "xfail(strict=True)*",
    ])
    junit = _junit(pytester)
    assert [k for k, v in junit.items() if v == "failure"] == [
        "test_no_comparator", "test_comparator_not_called", "test_refutation_swallowed",
        "test_refutation_expected_with_raises"]
    rows = {c["nodeid"].split("::")[1]: c for c in _report(pytester)["claims"]}
    assert rows["test_refutation_swallowed"]["verdict"] == "REFUTED"
    assert rows["test_refutation_swallowed"]["outcome"] == "failed"
    assert rows["test_expected_false"]["outcome"] == "xfailed"
    assert rows["test_true"]["outcome"] == "passed"
    errors = {e["nodeid"].split("::")[1]: e["message"] for e in _report(pytester)["errors"]}
    assert set(errors) == {"test_no_comparator", "test_comparator_not_called"}
    assert "never decided" in errors["test_no_comparator"]


NON_FINITE = textwrap.dedent(
    """
    import math
    import numpy as np
    import interpclaims as ic
    from interpclaims._estimate import estimate_from_samples

    def test_against_one_prompt(claim):
        x = estimate_from_samples(np.linspace(0, 1, 40), method="m", label="x")
        one = estimate_from_samples(np.array([0.1]), method="m", label="one prompt")
        claim.that(x).exceeds(one, by=0.0)

    def test_infinite_value(claim):
        claim.that(ic.Estimate(value=math.inf, ci_low=0.0, ci_high=math.inf, n=3,
                               method="hand-made")).is_at_least(0.0)

    def test_true(claim):
        claim.that(estimate_from_samples(np.linspace(1, 2, 40), method="m",
                                         label="x")).is_at_least(0.5)
    """
)


def test_non_finite_numbers_never_lose_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nonfinite=NON_FINITE)
    result = pytester.runpytest("-p", "no:xdist")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes.get("inconclusive", 0) + outcomes["failed"] == 2
    report = _report(pytester)
    rows = {c["nodeid"].split("::")[1]: c for c in report["claims"]}
    assert rows["test_true"]["verdict"] == "SUPPORTED"
    # an unbounded interval: INCONCLUSIVE, with the reason
    assert rows["test_against_one_prompt"]["verdict"] == "INCONCLUSIVE"
    assert any("insufficient_n" in w for w in rows["test_against_one_prompt"]["warnings"])
    # a non-finite value is refused where it arises, with a clear error
    errors = {e["nodeid"].split("::")[1]: e["message"] for e in report["errors"]}
    assert "non-finite" in errors["test_infinite_value"] or "finite" in errors["test_infinite_value"]
    assert (pytester.path / "reports" / "claims.html").is_file()


def test_a_bad_report_folder_is_a_usage_error_at_start(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nonfinite=NON_FINITE)
    (pytester.path / "afile").write_text("not a folder")
    result = pytester.runpytest("-p", "no:xdist", "--claims-report-dir=afile")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-report-dir*afile*is a file*"])
    assert "passed" not in result.stdout.str()  # refused before any test ran


def test_an_interrupt_before_any_claim_writes_an_empty_interrupted_report(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_family=FAMILY)
    (pytester.path / "reports").mkdir()
    (pytester.path / "reports" / "claims.json").write_text('{"stale": true}')
    pytester.makeconftest(
        """
        def pytest_runtest_setup(item):
            raise KeyboardInterrupt
        """
    )
    # in a subprocess: an in-process KeyboardInterrupt would reach the outer run's own worker
    result = pytester.runpytest_subprocess("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = _report(pytester)
    assert report["claims"] == [] and report["manifest"]["interrupted"] is True
    assert report["manifest"]["partial"] is True


UNSUPPORTED = textwrap.dedent(
    """
    import numpy as np
    import interpclaims as ic
    from interpclaims._estimate import estimate_from_samples

    def test_then_unsupported(claim):
        est = estimate_from_samples(1 + np.random.default_rng(0).standard_normal(64), method="m",
                                    label="x")
        claim.that(est).is_at_least(0.0)
        raise ic.Unsupported("this backend cannot trace GPT-2 (a made-up reason)")

    def test_kept(claim):
        est = estimate_from_samples(1 + np.random.default_rng(1).standard_normal(64), method="m",
                                    label="y")
        claim.that(est).is_at_least(0.0)
    """
)


def test_a_test_skipped_as_unsupported_reports_no_claim(pytester: pytest.Pytester) -> None:
    """An analysis the backend cannot run skips the test with the reason; a claim the test
    decided before that is not reported (it would count as SUPPORTED in a skipped test)."""
    pytester.makepyfile(test_unsupported=UNSUPPORTED)
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "-rs")
    assert _counts(result) == {"passed": 1, "skipped": 1}
    result.stdout.fnmatch_lines(["*made-up reason*"])
    assert [c["claim_id"] for c in _report(pytester)["claims"]] == ["test_kept"]
