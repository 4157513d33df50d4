"""CI gating end to end: stable claim ids across renames, baselines and --claims-fail-on, the
exit status, junitxml properties, read_report / CSV, and the terminal table."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

import interpclaims as ic

# claims on fixed per-prompt samples: no model, so each inner run takes a fraction of a second.
# The interval is a bootstrap one, so it depends on the claim's seed (derived from its id).
CLAIMS = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import interpclaims as ic
    from interpclaims._estimate import estimate_from_samples

    NOISE = np.random.default_rng(3).standard_normal(48)

    def est(mean, label="x"):
        return estimate_from_samples(mean + 0.25 * NOISE, method="bootstrap", label=label)

    def test_effect(claim):
        claim.that(est({effect})).is_at_least(0.0)

    @pytest.mark.parametrize("layer", [0, 1])
    def test_layers(claim, layer):
        claim.that(est(1.0 + layer)).is_at_least(0.0)

    class TestTwo:
        def test_pair(self, claim):
            claim.that(est(1.0)).is_at_least(0.0)
            claim.that(est(0.5), id="half").is_at_least(0.0)
    """
)


def _write(pytester: pytest.Pytester, effect: float = 1.0, name: str = "test_claims") -> None:
    pytester.makepyfile(**{name: CLAIMS.format(effect=effect)})


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", *args)


def _rows(pytester: pytest.Pytester) -> dict[str, dict]:
    data = json.loads((pytester.path / "reports" / "claims.json").read_text())
    return {c["claim_id"]: c for c in data["claims"]}


def test_claim_ids_leave_out_the_file_and_the_backend(pytester: pytest.Pytester) -> None:
    _write(pytester)
    assert _run(pytester).ret == 0
    rows = _rows(pytester)
    assert sorted(rows) == ["TestTwo::test_pair", "TestTwo::test_pair#half", "test_effect",
                            "test_layers[0]", "test_layers[1]"]
    assert rows["TestTwo::test_pair#half"]["index"] == 1


def test_a_renamed_file_keeps_ids_and_numbers_and_matches_its_baseline(
        pytester: pytest.Pytester) -> None:
    _write(pytester)
    assert _run(pytester, "--claims-save=main").ret == 0
    before = _rows(pytester)
    assert (pytester.path / ".interpclaims" / "baselines" / "main.json").is_file()
    (pytester.path / "test_claims.py").unlink()
    sub = pytester.mkpydir("moved")
    (sub / "test_renamed.py").write_text(CLAIMS.format(effect=1.0))
    result = _run(pytester, "--claims-baseline=main")
    assert result.ret == 0
    after = _rows(pytester)
    assert set(after) == set(before)
    for key, row in after.items():
        assert row["nodeid"].startswith("moved/test_renamed.py")
        assert row["tested"] == before[key]["tested"]  # the same draws: the seed follows the id
        assert row["baseline"] == {"verdict": "SUPPORTED", "value": before[key]["tested"]["value"],
                                   "ci_low": before[key]["tested"]["ci_low"],
                                   "ci_high": before[key]["tested"]["ci_high"], "regressions": []}
    result.stdout.fnmatch_lines(["*5 claim(s) compared, 0 changed verdict, 0 new, 0 not in this "
                                 "run, 0 renamed*"])


def test_a_verdict_drop_fails_the_run(pytester: pytest.Pytester) -> None:
    _write(pytester, effect=1.0)
    assert _run(pytester, "--claims-save=main").ret == 0
    _write(pytester, effect=0.0)  # straddles 0: INCONCLUSIVE, which this run lets pass
    result = _run(pytester, "--claims-baseline=main", "--claims-inconclusive=pass")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*interpclaims baseline regressions*",
        "REGRESSION test_effect: verdict SUPPORTED → INCONCLUSIVE",
        "changed  test_effect: SUPPORTED → INCONCLUSIVE",
        "         tested +0.9997 [[]+0.92*, +1.07*] → -0.0003245 [[]-0.07*, +0.07*]",
        "*1 regression(s) against the baseline (--claims-fail-on): the run fails with exit status 1*",
    ])
    assert "passed" in result.stdout.str().splitlines()[-1]  # every test passed; the gate failed
    row = _rows(pytester)["test_effect"]
    assert row["baseline"]["regressions"] == ["verdict SUPPORTED → INCONCLUSIVE"]
    data = json.loads((pytester.path / "reports" / "claims.json").read_text())
    assert data["manifest"]["exitstatus"] == 1
    # the same change, not gated
    assert _run(pytester, "--claims-baseline=main", "--claims-inconclusive=pass",
                "--claims-fail-on=none").ret == 0


@pytest.mark.parametrize(("fail_on", "fails"), [
    ("effect:20%", True), ("effect:50%", False), ("effect:0.3", True), ("effect:0.5", False),
    ("verdict", False), ("verdict,effect:30%", True),
])
def test_an_effect_threshold_fails_the_run(pytester: pytest.Pytester, fail_on: str,
                                           fails: bool) -> None:
    _write(pytester, effect=1.0)
    assert _run(pytester, "--claims-save=main").ret == 0
    _write(pytester, effect=0.6)  # still SUPPORTED; its margin to 0 shrank by 40% (0.4)
    result = _run(pytester, "--claims-baseline=main", f"--claims-fail-on={fail_on}")
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if fails else pytest.ExitCode.OK)
    regressions = _rows(pytester)["test_effect"]["baseline"]["regressions"]
    assert bool(regressions) is fails
    if fails:
        assert "effect moved" in regressions[0]
        assert ("40%" in regressions[0]) is fail_on.endswith("%")


def test_renamed_new_and_removed_claims_are_listed(pytester: pytest.Pytester) -> None:
    _write(pytester)
    assert _run(pytester, "--claims-save=main").ret == 0
    text = CLAIMS.format(effect=1.0).replace("def test_effect", "def test_effect_renamed")
    text = text.replace("[0, 1]", "[0, 2]")  # test_layers[1] removed, test_layers[2] new
    pytester.makepyfile(test_claims=text)
    result = _run(pytester, "--claims-baseline=main")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*4 claim(s) compared, 0 changed verdict, 1 new, 1 not in this run, 1 renamed*",
        "renamed  test_effect -> test_effect_renamed",
        "new      test_layers[2]",
        "removed  test_layers[[]1] (or not selected in this run)",
    ])
    assert _rows(pytester)["test_effect_renamed"]["baseline"]["verdict"] == "SUPPORTED"


def test_two_tests_with_one_id_are_a_collection_error(pytester: pytest.Pytester) -> None:
    one = "def test_same(claim):\n    pass\n"
    pytester.makepyfile(test_a=one, test_b=one)
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*claim id 'test_same' of test_b.py::test_same is already the id "
                                 "of test_a.py::test_same*@ic.claim_id*"])
    pytester.makepyfile(test_b="import interpclaims as ic\n\n@ic.claim_id('b_same')\n" + one)
    assert _run(pytester).ret == 0


def test_an_explicit_id_and_bad_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x=CLAIMS.format(effect=1.0).replace(
        "def test_effect", "@ic.claim_id('effect::main')\ndef test_effect"))
    assert _run(pytester).ret == 0
    assert "effect::main" in _rows(pytester)
    with pytest.raises(ic.InterpClaimsError, match="without spaces"):
        ic.claim_id("two words")
    pytester.makepyfile(test_x="import interpclaims as ic\n\npytestmark = ic.claim_id('all')\n\n"
                        "def test_one(claim):\n    pass\n")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*@ic.claim_id() names one test, so it goes on a test function*"])


def test_gating_usage_errors(pytester: pytest.Pytester) -> None:
    _write(pytester)
    assert _run(pytester, "--claims-save=main").ret == 0
    result = _run(pytester, "--claims-baseline=mian")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-baseline: 'mian' is neither a file nor a baseline*"
                                 "did you mean main?*"])
    result = _run(pytester, "--claims-baseline=main", "--claims-fail-on=effect:lots")
    result.stderr.fnmatch_lines(["*--claims-fail-on: 'effect:lots': expected a number*"])
    result = _run(pytester, "--claims-save=../x")
    result.stderr.fnmatch_lines(["*--claims-save: '../x' is not a baseline name*"])


def test_junitxml_carries_each_claims_numbers(pytester: pytest.Pytester) -> None:
    _write(pytester)
    assert _run(pytester, "--junitxml=junit.xml").ret == 0
    cases = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
             for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    rows = _rows(pytester)
    one = cases["test_effect"]
    assert one["claim_id"] == "test_effect" and one["verdict"] == "SUPPORTED"
    assert float(one["ci_low"]) == pytest.approx(rows["test_effect"]["estimate"]["ci_low"])
    assert float(one["p"]) == pytest.approx(rows["test_effect"]["p"])
    assert {"estimate", "ci_high", "n", "reference", "p_adjusted"} <= set(one)
    pair = cases["test_pair"]  # two claims: keys prefixed with the claim's index
    assert pair["0.claim_id"] == "TestTwo::test_pair"
    assert pair["1.claim_id"] == "TestTwo::test_pair#half"
    assert float(pair["1.estimate"]) == pytest.approx(0.5 + 0.25 * _noise_mean())


def _noise_mean() -> float:
    import numpy as np

    return float(np.random.default_rng(3).standard_normal(48).mean())


def test_read_report_round_trips_a_run_and_its_csv(pytester: pytest.Pytester) -> None:
    import pandas as pd

    _write(pytester)
    assert _run(pytester, "--claims-csv").ret == 0
    data = json.loads((pytester.path / "reports" / "claims.json").read_text())
    frame = ic.read_report(pytester.path / "reports" / "claims.json")
    assert len(frame) == len(data["claims"]) == 5
    for c, (_, row) in zip(data["claims"], frame.iterrows(), strict=True):
        assert row["claim_id"] == c["claim_id"] and row["verdict"] == c["verdict"]
        assert row["estimate"] == c["estimate"]["value"] and row["p"] == c["p"]
        assert (row["ci_low"], row["ci_high"], row["n"]) == (
            c["estimate"]["ci_low"], c["estimate"]["ci_high"], c["estimate"]["n"])
        assert row["reference"] == c["reference"]["label"] and row["family"] == c["family"]
    csv = pd.read_csv(pytester.path / "reports" / "claims.csv")
    assert list(csv.columns) == list(frame.columns)
    numeric = ["estimate", "ci_low", "ci_high", "n", "p", "p_adjusted", "tested", "seed"]
    pd.testing.assert_frame_equal(csv[numeric], frame[numeric], check_dtype=False)
    assert list(csv["claim_id"]) == list(frame["claim_id"])
    assert ic.read_report(pytester.path / "reports").equals(frame)  # the folder works too
    with pytest.raises(ic.InterpClaimsError, match="cannot read"):
        ic.read_report(pytester.path / "nothing.json")


FAILING = textwrap.dedent(
    """
    import numpy as np
    import pytest
    from interpclaims._estimate import estimate_from_samples

    NOISE = np.random.default_rng(3).standard_normal(48)

    def test_supported_with_a_very_long_name_that_would_not_fit_on_a_narrow_terminal(claim):
        claim.that(estimate_from_samples(1 + 0.25 * NOISE, method="m", label="x")).is_at_least(0)

    @pytest.mark.xfail(strict=True, reason="no effect there")
    def test_expected_false(claim):
        claim.that(estimate_from_samples(-1 + 0.25 * NOISE, method="m", label="x")).is_at_least(0)
    """
)


def test_terminal_table_lists_what_needs_a_look(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    pytester.makepyfile(test_terminal=FAILING)
    result = _run(pytester, "--color=yes")
    assert result.ret == 0
    out = result.stdout.str()
    table = out[out.index("interpclaims verdicts"):].splitlines()[1:]
    assert not any("test_supported" in line for line in table)  # SUPPORTED: not listed
    at = next(i for i, line in enumerate(table) if "test_expected_false" in line)
    refuted = table[at] + table[at + 1]  # 70 columns: the numbers on a line of their own
    assert "\x1b[31m" not in refuted  # an expected refutation is not red
    assert "test_expected_false (xfail)" in refuted and "p=1  vs >= 0" in refuted
    assert "(1 SUPPORTED not listed; -v lists every claim)" in table
    result = _run(pytester, "-v")
    lines = result.stdout.str().splitlines()
    table = lines[next(i for i, line in enumerate(lines) if "interpclaims verdicts" in line):]
    assert all(len(line) <= 70 for line in table if not line.startswith("interpclaims report"))
    # a name too long to share a line with its numbers: the numbers on the next line, whole
    at = next(i for i, line in enumerate(table) if line.startswith("SUPPORTED "))
    assert table[at].endswith("…") and "p=" in table[at + 1] and "…" not in table[at + 1]


def test_the_short_summary_names_the_public_exception(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_refuted=FAILING.replace(
        '@pytest.mark.xfail(strict=True, reason="no effect there")\n', ""))
    result = _run(pytester, "-rf")
    result.stdout.fnmatch_lines(["FAILED test_refuted.py::test_expected_false - "
                                 "interpclaims.ClaimRefuted: *"])


def test_the_workflow_runs_the_claims_against_the_main_baseline() -> None:
    import pathlib

    import yaml

    path = pathlib.Path(__file__).parents[1] / ".github" / "workflows" / "claims.yml"
    flow = yaml.safe_load(path.read_text())
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    steps = flow["jobs"]["claims"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@")
    names = [s.get("name", "") for s in steps]
    restore = names.index("Restore the baseline of the main branch")
    run = names.index("Run the claims")
    assert restore < run and steps[restore]["uses"].startswith("actions/cache/restore@")
    assert steps[restore]["with"]["path"] == ".interpclaims/baselines/main.json"
    command = steps[run]["run"]
    assert "pytest claims/" in command and "--claims-baseline=main" in command
    assert "--claims-fail-on=verdict" in command and "--claims-save=main" in command
    upload = steps[names.index("Upload the report")]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    assert {"reports/claims.html", "reports/claims.json"} <= set(upload["with"]["path"].split())
    save = steps[names.index("Save this run as the baseline of the main branch")]
    assert save["uses"].startswith("actions/cache/save@")
    assert save["with"]["path"] == steps[restore]["with"]["path"]


PROGRESS = textwrap.dedent(
    """
    from interpclaims.models._progress import progress

    def test_long_extraction(claim):
        assert list(progress(range(25), "demo")) == list(range(25))
    """
)


def test_the_progress_bar_shows_under_capture(pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(test_progress=PROGRESS)
    shown = _run(pytester, "--color=yes")  # output captured (the default), a terminal with markup
    assert shown.ret == 0
    assert "interpclaims: demo" in shown.stdout.str()
    assert "\x1b[F" in shown.stdout.str()  # the cursor goes back to pytest's line afterwards
    monkeypatch.setenv("CI", "true")
    assert "interpclaims: demo" not in _run(pytester, "--color=yes").stdout.str()
    monkeypatch.delenv("CI")
    assert "interpclaims: demo" not in _run(pytester, "--color=no").stdout.str()


# -- the comparison, on rows with known answers ----------------------------------------------------


def _result(claim_id: str, verdict: str, value: float, comparator: str = "is_at_least",
            reference: dict | None = None, backend: str = "tl"):
    from interpclaims.verdicts import ClaimResult

    est = {"value": value, "ci_low": value - 0.1, "ci_high": value + 0.1, "n": 40, "method": "m",
           "label": "x", "ci_level": 0.95}
    return ClaimResult.from_json({
        "claim_id": claim_id, "backend": backend, "model": "zoo/agreement", "verdict": verdict,
        "comparator": comparator, "rule": "r", "estimate": est, "tested": est,
        "reference": reference or {"kind": "threshold", "value": 0.0, "label": ">= 0"},
        "message": "m"})


@pytest.mark.parametrize(("comparator", "reference", "value", "margin"), [
    ("is_at_least", {"value": 0.5}, 0.8, 0.3),
    ("is_at_most", {"value": 0.5}, 0.2, 0.3),
    ("exceeds", {"by": 0.25}, 0.75, 0.5),
    ("exceeds", {}, 0.75, 0.75),
    ("is_between", {"low": 0.0, "high": 1.0}, 0.75, 0.25),
    ("is_negligible", {"within": 0.1}, -0.04, 0.06),
])
def test_margin_is_the_distance_on_the_asserted_side(comparator, reference, value, margin) -> None:
    from interpclaims.report._baseline import margin as margin_of

    row = _result("t", "SUPPORTED", value, comparator, {"label": "r", **reference}).to_json()
    assert margin_of(row) == pytest.approx(margin, abs=1e-12)


def test_parse_fail_on() -> None:
    from interpclaims.report import FailOn, parse_fail_on

    assert parse_fail_on("verdict") == FailOn(verdict=True)
    assert parse_fail_on("none") == FailOn(verdict=False)
    assert parse_fail_on("effect:20%, effect:0.5") == FailOn(False, 0.2, 0.5)
    for bad in ("", "verdict,none", "effect:-1", "effect:x%", "effects", "effect:nan"):
        with pytest.raises(ValueError):
            parse_fail_on(bad)


def test_compare_matches_by_id_and_backend_and_finds_renames() -> None:
    from interpclaims.report import parse_fail_on
    from interpclaims.report._baseline import compare

    base = [r.to_json() for r in (
        _result("a", "SUPPORTED", 1.0), _result("a", "SUPPORTED", 1.0, backend="nnsight"),
        _result("old", "SUPPORTED", 0.7), _result("gone", "SUPPORTED", 3.0))]
    now = [_result("a", "SUPPORTED", 0.75), _result("a", "INCONCLUSIVE", 0.05, backend="nnsight"),
           _result("renamed", "SUPPORTED", 0.7), _result("fresh", "SUPPORTED", 5.0)]
    out = compare(now, base, parse_fail_on("verdict,effect:20%"))
    assert out.renamed == (("old [tl]", "renamed [tl]"),)
    assert out.new == ("fresh [tl]",) and out.removed == ("gone [tl]",)
    assert out.changed == (("a [nnsight]", "SUPPORTED → INCONCLUSIVE"),)
    assert out.regressions == (
        ("a [nnsight]", "effect moved 95% toward the reference (threshold 20%)"),
        ("a [nnsight]", "verdict SUPPORTED → INCONCLUSIVE"),
        ("a [tl]", "effect moved 25% toward the reference (threshold 20%)"),
    )
    rows = {(r.claim_id, r.backend): r.baseline for r in out.results}
    assert rows["fresh", "tl"] is None and rows["renamed", "tl"]["value"] == 0.7
    # two candidates for one rename: ambiguous, so neither is taken for it
    twin = compare([_result("r1", "SUPPORTED", 0.7), _result("r2", "SUPPORTED", 0.7)],
                   [base[2]], parse_fail_on("verdict"))
    assert twin.renamed == () and twin.new == ("r1 [tl]", "r2 [tl]")


def test_under_xdist_the_numbers_baseline_and_properties_agree(pytester: pytest.Pytester) -> None:
    _write(pytester)
    assert _run(pytester, "--claims-save=main").ret == 0
    before = _rows(pytester)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           "--claims-baseline=main", "--junitxml=junit.xml")
    assert result.ret == 0
    after = _rows(pytester)
    assert {k: r["tested"] for k, r in after.items()} == {k: r["tested"] for k, r in before.items()}
    assert all(r["baseline"]["regressions"] == [] for r in after.values())
    props = [p.get("name") for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")]
    assert props.count("claim_id") == 3 and props.count("1.claim_id") == 1


def test_claim_repr_names_its_claims_and_verdicts() -> None:
    import numpy as np

    from interpclaims._estimate import estimate_from_samples
    from interpclaims.verdicts import Claim

    claim = Claim(lambda result: None)
    assert repr(claim) == "<Claim: 0 decided, 0 undecided>"
    x = estimate_from_samples(1 + 0.1 * np.random.default_rng(0).standard_normal(30), method="m",
                              label="x")
    claim.that(x).is_at_least(0.0)
    claim.that(x, id="upper").is_at_most(2.0)
    claim.that(x)
    assert repr(claim) == "<Claim: 2 decided (#1 SUPPORTED, upper SUPPORTED), 1 undecided>"


def test_the_gating_options_have_ini_keys(pytester: pytest.Pytester) -> None:
    _write(pytester, effect=1.0)
    pytester.makeini("[pytest]\nclaims_save = main\nclaims_csv = table.csv\n")
    assert _run(pytester).ret == 0
    assert (pytester.path / ".interpclaims" / "baselines" / "main.json").is_file()
    assert (pytester.path / "reports" / "table.csv").is_file()
    _write(pytester, effect=0.6)  # the margin shrank by 40%
    pytester.makeini("[pytest]\nclaims_baseline = main\nclaims_fail_on = effect:20%\n")
    assert _run(pytester).ret == pytest.ExitCode.TESTS_FAILED


def test_a_regression_line_is_wrapped_not_cut_in_a_narrow_log(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """CI logs are 80 columns wide: the reason of a regression must be there in full."""
    _write(pytester, effect=1.0)
    assert _run(pytester, "--claims-save=main").ret == 0
    _write(pytester, effect=0.0)
    monkeypatch.setenv("COLUMNS", "50")
    result = _run(pytester, "--claims-baseline=main", "--claims-inconclusive=pass")
    out = result.stdout.str()
    assert "SUPPORTED → INCONCLUSIVE" in " ".join(out.split()) and "REGRESSION" in out
    assert all(len(line) <= 80 for line in out.splitlines() if "REGRESSION" in line)
