"""The catalogue of bad inputs, continued: options, ini keys and markers, through pytester.

A bad option or ini key is a usage error (exit code 4, one line on stderr, no traceback). Bad
marker arguments fail the collection of their module with the message alone (no pytest or pluggy
frames); several bad modules are collected in one run and each one's error is checked. A bad
claim among good ones fails alone: the run still decides and reports every other claim.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest


@pytest.fixture(autouse=True, scope="module")
def _heavy_modules_imported_once():
    """In-process pytester runs restore ``sys.modules`` afterwards; torch cannot be imported a
    second time in one process, so the model libraries are imported here, outside the runs."""
    import nnsight  # noqa: F401
    import torch  # noqa: F401
    import transformer_lens  # noqa: F401
    import transformers  # noqa: F401


# (id, command-line args or None, ini lines or None, regexes the usage error must match)
OPTIONS = [
    ("backends-unknown", ["--claims-backends=jax"], None,
     [r"--claims-backends: unknown backend\(s\) \['jax'\]", r"choose from tl, nnsight"]),
    ("backends-case", ["--claims-backends=TL"], None,
     [r"unknown backend\(s\) \['TL'\]", r"choose from tl, nnsight"]),
    ("backends-empty", ["--claims-backends=,"], None,
     [r"--claims-backends: ',' names no backend", r"e\.g\. --claims-backends=tl"]),
    ("backends-twice", ["--claims-backends=tl,tl"], None,
     [r"--claims-backends: 'tl,tl' names tl more than once", r"list each backend once"]),
    ("seed-word", ["--claims-seed=abc"], None,
     [r"--claims-seed: expected an integer from 0 to 4294967295 or 'random'", r"got 'abc'"]),
    ("seed-float", ["--claims-seed=1.5"], None, [r"--claims-seed", r"got '1\.5'"]),
    ("seed-negative", ["--claims-seed=-1"], None, [r"--claims-seed: .* from 0", r"got '-1'"]),
    ("seed-too-large", ["--claims-seed=4294967296"], None,
     [r"to 4294967295", r"got '4294967296'"]),
    ("inconclusive", ["--claims-inconclusive=maybe"], None,
     [r"--claims-inconclusive: expected 'fail' or 'pass'", r"got 'maybe'"]),
    ("resamples-few", ["--claims-resamples=50"], None,
     [r"--claims-resamples: expected an integer >= 100", r"got '50'"]),
    ("resamples-float", ["--claims-resamples=1e4"], None,
     [r"--claims-resamples", r"got '1e4'"]),
    ("correction-unknown", ["--claims-correction=bogus"], None,
     [r"--claims-correction: expected", r"got 'bogus'"]),
    ("cache-mode", ["--claims-cache=yes"], None,
     [r"--claims-cache: expected rw, read, off or activations", r"got 'yes'"]),
    ("report-dir-is-a-file", ["--claims-report-dir=taken"], None,
     [r"--claims-report-dir: .*taken is a file, not a folder", r"give a folder path"]),
    ("cache-dir-is-a-file", ["--claims-cache-dir=taken"], None,
     [r"--claims-cache-dir: .*taken is a file, not a folder", r"activation store"]),
    ("ini-backends", None, ["claims_backends = jax"],
     [r"unknown backend\(s\) \['jax'\]", r"choose from tl, nnsight"]),
    ("ini-seed", None, ["claims_seed = x"], [r"--claims-seed", r"got 'x'"]),
    ("ini-resamples", None, ["claims_resamples = 10"], [r"integer >= 100", r"got '10'"]),
    ("ini-cache", None, ["claims_cache = maybe"], [r"--claims-cache", r"got 'maybe'"]),
]


@pytest.mark.parametrize(("args", "ini", "says"), [pytest.param(*o[1:], id=o[0]) for o in OPTIONS])
def test_bad_option_is_a_usage_error(pytester: pytest.Pytester, args, ini, says) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    (pytester.path / "taken").write_text("a file, not a folder")
    if ini:
        pytester.makeini("[pytest]\n" + "\n".join(ini) + "\n")
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", *(args or []))
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    err = result.stderr.str()
    for pattern in says:
        assert re.search(pattern, err), f"{pattern!r} not in: {err}"
    assert "Traceback" not in err and "site-packages" not in err


# (module, source, regexes its collection error must match)
MARKERS = [
    ("test_backends_string", 'pytestmark = ic.model("zoo/agreement", backends="tl")',
     [r"ic\.model\(\): backends= takes a list of backend names, got the string 'tl'",
      r"write backends=\['tl'\]"]),
    ("test_backends_empty", 'pytestmark = ic.model("zoo/agreement", backends=[])',
     [r"backends= is empty", r"leave backends= out to run on every backend"]),
    ("test_backends_twice", 'pytestmark = ic.model("zoo/agreement", backends=["tl", "tl"])',
     [r"backends= names tl more than once", r"run each claim twice"]),
    ("test_backends_unknown", 'pytestmark = ic.model("zoo/agreement", backends=["torch"])',
     [r"unknown backend\(s\) \['torch'\]", r"known backends: tl, nnsight"]),
    ("test_backends_set", 'pytestmark = ic.model("zoo/agreement", backends={"tl"})',
     [r"backends= takes a list of backend names, got set", r"backends=\['tl'\]"]),
    ("test_model_number", "pytestmark = ic.model(123)",
     [r"ic\.model\(\): the model marker takes exactly one model name", r"got args \(123,\)"]),
    ("test_model_empty", 'pytestmark = ic.model("")',
     [r"exactly one model name \(e\.g\. 'zoo/agreement'\)", r"got args \(''\,\)"]),
    ("test_raw_no_name", "pytestmark = pytest.mark.interpclaims_model()",
     [r"test_raw_no_name\.py::test_x: the model marker takes exactly one model name",
      r"got args \(\)"]),
    ("test_raw_two_names",
     'pytestmark = pytest.mark.interpclaims_model("zoo/agreement", "zoo/agreement-gpt2")',
     [r"test_raw_two_names\.py::test_x", r"exactly one model name"]),
    ("test_raw_unknown_keyword",
     'pytestmark = pytest.mark.interpclaims_model("zoo/agreement", backend="tl")',
     [r"test_raw_unknown_keyword\.py::test_x: unknown marker argument\(s\) \['backend'\]",
      r"the keywords are backends=, device_map=, dtype= and remote="]),
    ("test_raw_backends_string",
     'pytestmark = pytest.mark.interpclaims_model("zoo/agreement", backends="tl,nnsight")',
     [r"test_raw_backends_string\.py::test_x: backends= takes a list",
      r"write backends=\['tl', 'nnsight'\]"]),
    ("test_family_empty", 'pytestmark = ic.family("  ")',
     [r"ic\.family\(\): expected a non-empty family name", r"got '  '"]),
    ("test_family_number", "pytestmark = ic.family(3)",
     [r"ic\.family\(\): expected a non-empty family name", r"got 3"]),
    ("test_raw_family_no_name", "pytestmark = pytest.mark.interpclaims_family()",
     [r"test_raw_family_no_name\.py::test_x", r"the family marker takes one non-empty name",
      r"got \(\)"]),
]


def test_bad_markers_fail_their_module_with_the_message_alone(pytester: pytest.Pytester) -> None:
    for module, line, _ in MARKERS:
        pytester.makepyfile(**{module: f"import pytest\nimport interpclaims as ic\n{line}\n\n"
                                        "def test_x(model):\n    pass\n"})
    pytester.makepyfile(test_fine="def test_fine():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    sections = dict(re.findall(r"_+ ERROR collecting (\S+)\.py _+\n(.*?)(?=\n_+ ERROR|\n=+ )",
                               out, flags=re.S))
    problems = []
    for module, _, says in MARKERS:
        text = sections.get(module)
        if text is None:
            problems.append(f"{module}: no collection error")
            continue
        problems += [f"{module}: {p!r} not in {text!r}" for p in says if not re.search(p, text)]
        if "site-packages" in text or "Traceback" in text:
            problems.append(f"{module}: a traceback instead of the message: {text!r}")
    assert not problems, "\n".join(problems)
    assert len(sections) == len(MARKERS)


MIXED = textwrap.dedent(
    """
    import pytest
    import interpclaims as ic

    pytestmark = ic.model("zoo/agreement", backends=["tl"])
    ROWS = ic.load_data("agreement").rows[:40]

    def test_good_behaviour(model, claim):
        claim.that(ic.measure(model, data=ROWS)).is_at_least(0.5)

    def test_bad_site(model, claim):
        claim.that(ic.ablate(model, "L9H0", data=ROWS)).is_at_least(0.0)

    def test_bad_dataset(model, claim):
        claim.that(ic.measure(model, data="agreemnt")).is_at_least(0.5)

    def test_bad_controls(model, claim):
        probe = ic.probe(model, "L1.resid_post", "number", ROWS, controls="label_shuffle")
        claim.that(probe.accuracy).exceeds(probe.control("label_shuffle"), by=0.1)

    def test_bad_reference(model, claim):
        claim.that(ic.measure(model, data=ROWS)).is_at_least("0.5")

    def test_bad_cell(model, claim):
        heads = ic.patch_heads(model, ROWS, metric="logit_diff")
        claim.that(heads["L1H3"]).is_at_least(0.0)

    @ic.model("./models/agreement", backends=["tl"])
    def test_bad_folder(model, claim):
        claim.that(ic.measure(model, data=ROWS)).is_at_least(0.5)

    def test_good_induction(model, claim):
        score = ic.attention_score(model, data="repeated_tokens", head="L1H2")
        claim.that(score).exceeds(score.control("random_heads"), by=0.3)
    """
)

# each bad test of MIXED, and what its failure must say
MIXED_ERRORS = {
    "test_bad_site": [r"L9H0\.z does not exist in zoo/agreement", r"Valid examples: L0\.z"],
    "test_bad_dataset": [r"no dataset 'agreemnt'", r"Did you mean 'agreement'"],
    "test_bad_controls": [r"probe\(controls=\) takes a list of controls",
                          r"controls=\['label_shuffle'\]"],
    "test_bad_reference": [r"is_at_least\(v\) must be a number, got str"],
    "test_bad_cell": [r"a cell is indexed by a row and a column, got \['L1H3'\]",
                      r"matrix\['L0', 'H0'\]"],
    "test_bad_folder": [r"no model folder '\./models/agreement'", r"relative paths start"],
}


def test_a_bad_claim_among_good_ones_fails_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "--claims-cache=off",
                                "-rfE")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 2, out
    assert outcomes.get("failed", 0) + outcomes.get("error", outcomes.get("errors", 0)) == 6, out
    summary = {m[1]: m[2] for m in re.finditer(r"^(FAILED|ERROR) test_mixed\.py::(\w+)\[tl\] - (.*)$",
                                                out, flags=re.M)}
    sections = dict(re.findall(r"_{3,} (?:ERROR at setup of )?(\w+)\[tl\] _{3,}\n(.*?)"
                               r"(?=\n_{3,} |\n={3,} )", out, flags=re.S))
    problems = []
    for test, says in MIXED_ERRORS.items():
        text = sections.get(test, "") + summary.get(test, "")
        problems += [f"{test}: {p!r} not in its report" for p in says if not re.search(p, text)]
    assert not problems, "\n".join(problems) + "\n" + out
    report = json.loads((pytester.path / "reports" / "claims.json").read_text())
    decided = {c["nodeid"].split("::")[1]: c["verdict"] for c in report["claims"]}
    assert decided == {"test_good_behaviour[tl]": "SUPPORTED", "test_good_induction[tl]": "SUPPORTED"}
