"""Claims in YAML: the schema's errors (file:line, how to fix), and end to end, the shipped YAML
suite against its Python twin — the same verdicts, numbers and report rows on both backends."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from interpclaims.plugin._yaml_schema import ClaimFileError, read_claims_file

CLAIMS_DIR = Path(__file__).resolve().parent.parent / "claims"
SUITE = CLAIMS_DIR / "test_agreement_yaml.yaml"
TWIN_FILES = ("test_agreement.py", "test_induction.py", "test_probes.py")

GOOD = """\
model: zoo/agreement
claims:
  - name: prefers
    analysis: measure
    args: {data: agreement, metric: logit_diff}
    comparator: is_at_least
    threshold: 2.0
"""


def _read(tmp_path: Path, text: str) -> list:
    path = tmp_path / "test_x.yaml"
    path.write_text(textwrap.dedent(text))
    return read_claims_file(path, "claims/test_x.yaml")


def test_a_good_file_reads_into_specs(tmp_path: Path) -> None:
    [spec] = _read(tmp_path, GOOD + """\
  - name: L1H2_beats_other_heads
    analysis: attention_score
    args: {data: repeated_tokens, head: L1H2}
    comparator: exceeds
    control: random_heads
    by: 3e-1
    family: heads
    backends: [tl]
    xfail: {reason: because}
""")[1:]
    assert (spec.name, spec.line, spec.model, spec.backends) == (
        "L1H2_beats_other_heads", 8, "zoo/agreement", ("tl",))
    assert spec.analysis == "attention_score" and spec.comparator == "exceeds"
    assert dict(spec.args) == {"data": "repeated_tokens", "head": "L1H2"}
    # YAML 1.1 reads 3e-1 as a string: a number field takes it as the number it spells
    assert dict(spec.reference) == {"control": "random_heads", "by": 0.3}
    assert spec.family == "heads" and spec.xfail == (True, "because")  # strict unless said


def test_sweep_values_fill_the_placeholders() -> None:
    from interpclaims.plugin._yaml_params import fill, placeholders

    params = {"layer": 1, "task": "number"}
    assert fill("{layer}", params) == 1  # alone: the value itself, a number stays a number
    assert fill("blocks.{layer}.hook_resid_post", params) == "blocks.1.hook_resid_post"
    assert fill(["{task}", "{other}", 3], params) == ["number", "{other}", 3]
    assert placeholders(["L{layer}H{head}", 2, "x"]) == {"layer", "head"}


def test_anchors_and_merge_keys_share_settings(tmp_path: Path) -> None:
    a, b, c = _read(tmp_path, """\
        model: zoo/agreement
        claims:
          - &base
            name: a
            analysis: ablate
            args: &args {component: L1H3, data: agreement, how: mean, metric: logit_diff}
            comparator: is_at_most
            threshold: -1.0
          - <<: *base
            name: b
            args: &args2 {<<: *args, component: L1H2}
          - <<: *base
            name: c
            args: *args2
        """)
    assert (a.name, b.name, b.comparator, dict(b.reference)) == (
        "a", "b", "is_at_most", {"threshold": -1.0})
    assert dict(b.args) == {**dict(a.args), "component": "L1H2"} and b.line == 9
    assert dict(c.args) == dict(b.args)  # an alias of a merged mapping reads the same twice


def test_the_readme_example_reads_and_matches_the_shipped_suite(tmp_path: Path) -> None:
    readme = (CLAIMS_DIR.parent / "README.md").read_text()
    section = readme[readme.index("## Claims in YAML"):]
    example = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml"))]
    shipped = {s.name: s for s in read_claims_file(SUITE, SUITE.name)}
    specs = _read(tmp_path, example)
    assert len(specs) == 5
    for spec in specs:  # the excerpt says what the shipped file says (line numbers aside)
        assert {**_fields(spec), "line": 0} == {**_fields(shipped[spec.name]), "line": 0}


def _fields(spec: object) -> dict:
    return {f: getattr(spec, f) for f in spec.__slots__}  # type: ignore[attr-defined]


def _claim(**fields: str) -> str:
    base = {"name": "c", "analysis": "measure", "args": "{data: agreement}",
            "comparator": "is_at_least", "threshold": "1.0"}
    base.update(fields)
    lines = [f"    {k}: {v}" for k, v in base.items() if v != "DROP"]
    return "model: zoo/agreement\nclaims:\n" + "\n".join(lines).replace("    ", "  - ", 1) + "\n"


@pytest.mark.parametrize(("text", "line", "expected"), [
    (_claim(comparatr="is_at_most"), 8, "unknown key 'comparatr' in a claim; did you mean "
     "'comparator'?"),
    (GOOD.replace("model:", "modle:"), 1, "did you mean 'model'?"),
    (_claim(analysis="ablation"), 4, "unknown analysis 'ablation'; did you mean 'ablate'? "
     "analyses that return an estimate: ablate, ablate_pair, attention_score"),
    (_claim(comparator="DROP"), 3, "the claim has no `comparator`; add `comparator: is_at_least "
     "(one of is_at_least, is_at_most, exceeds, is_negligible, is_between)`"),
    (_claim(comparator="exceed"), 6, "unknown comparator 'exceed'; did you mean 'exceeds'?"),
    (_claim(threshold="high"), 7, "threshold must be a finite number, got str 'high'"),
    (_claim(threshold="DROP"), 6, "is_at_least needs `threshold:`"),
    (_claim(within="0.5"), 8, "`within` does not apply to is_at_least (it takes threshold)"),
    (_claim(comparator="exceeds", control="random_heads"), 6, "exceeds compares with either a "
     "number (`threshold:`) or a control"),
    (_claim(comparator="is_between", threshold="DROP", low="0.6", high="0.4"), 7,
     "is_between needs low < high"),
    (_claim(args="{dataset: agreement}"), 5, "unknown key 'dataset' in the args of measure(); "
     "did you mean 'data'?"),
    (_claim(args="DROP"), 4, "measure() needs data; add them under `args:`"),
    (_claim(args="{data: agreement, metric: logit_dif}"), 5, "args.metric: 'logit_dif' is not one "
     "of logit_diff, logit_diff_mean, loss, pairwise_accuracy, top1, prob, accuracy; did you mean "
     "'logit_diff'?"),
    (_claim(analysis="ablate", args="{component: blocks.1.attn.hook_zz, data: agreement}"), 5,
     "args.component: unknown site 'blocks.1.attn.hook_zz'"),
    (_claim(analysis="probe", args="{site: L0, task: number}"), 4, "ProbeResult holds several "
     "estimates; pick one with `attribute:` (accuracy, auroc, selectivity)"),
    (_claim(analysis="probe", args="{site: L0, task: number}", attribute="accuracyy"), 8,
     "has no estimate 'accuracyy'; did you mean 'accuracy'?"),
    (_claim(name="'1st claim'"), 3, "name '1st claim' is not a valid name"),
    (_claim(args="{data: '{dataset}'}"), 5, "args.data uses {dataset}, which `parametrize:` does "
     "not define (defined: none)"),
    (_claim(parametrize="{metric: [logit_diff, los]}", args="{data: agreement, metric: '{metric}'}"),
     5, "args.metric: 'los' is not one of logit_diff, logit_diff_mean, loss, pairwise_accuracy, top1, "
     "prob, accuracy; did you mean 'loss'?"),
    (_claim(parametrize="{model: [a]}"), 8, "parameter name 'model' cannot be used"),
    (_claim(parametrize="{layer: 0}"), 8, "parametrize.layer must be a non-empty list"),
    (_claim(name="setup_module"), 3, "name 'setup_module' is reserved by pytest"),
    (_claim(name="pytestmark"), 3, "name 'pytestmark' is reserved by pytest"),
    (_claim(backends="[tl, jax]"), 8, "unknown backend(s) ['jax']"),
    (_claim(xfail="{strict: true}"), 8, "xfail needs a `reason:`"),
    (_claim(xfail="{reason: r, strict: maybe}"), 8, "xfail strict must be true or false"),
    (_claim(family="[a, b]"), 8, "family must be a non-empty string, got list"),
    (_claim().replace("model: zoo/agreement\n", ""), 2, "claim 'c' names no model"),
    (GOOD + GOOD.split("claims:\n")[1], 8, "claim name 'prefers' is used twice (also at line 3)"),
    ("model: zoo/agreement\n", 1, "the file has no `claims:` list"),
    ("model: zoo/agreement\nclaims: []\n", 2, "`claims` must be a non-empty list"),
    ("claims:\n  - name: [unclosed\n", 3, "not valid YAML"),
    ("- a\n- b\n", 1, "the file (top level) must be a mapping"),
])
def test_schema_errors_name_file_line_and_fix(tmp_path: Path, text: str, line: int,
                                              expected: str) -> None:
    with pytest.raises(ClaimFileError) as e:
        _read(tmp_path, text)
    assert str(e.value).startswith(f"claims/test_x.yaml:{line}: "), str(e.value)
    assert expected in str(e.value)


def test_a_schema_error_fails_collection_with_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_bad=_claim(comparator="is_at_leats"))
    pytester.makefile(".yml", test_other=GOOD)
    result = pytester.runpytest("-p", "no:xdist", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting test_bad.yaml*",
        "test_bad.yaml:6: claim 'c': unknown comparator 'is_at_leats'; did you mean 'is_at_least'?*",
    ])
    assert "Traceback" not in result.stdout.str()  # the message alone, like a marker error
    # the well-formed file is collected, one item per backend; claims_yaml_files turns it off
    ok = pytester.runpytest("-p", "no:xdist", "--collect-only", "-q", "test_other.yml")
    ok.stdout.fnmatch_lines(["test_other.yml::prefers[[]tl[]]", "test_other.yml::prefers[[]nnsight[]]"])
    off = pytester.runpytest("-p", "no:xdist", "--collect-only", "-q", "-o", "claims_yaml_files=")
    assert off.ret == pytest.ExitCode.NO_TESTS_COLLECTED  # neither file, the bad one included


# The Python twin of the YAML suite: the shipped Python claims (claim ``x`` of the YAML file is
# ``test_x`` of claims/test_agreement.py, test_induction.py or test_probes.py), collected under the
# YAML file's node ids, so that both draw the same random numbers (seeded by the claim's id).
TWIN_CONFTEST = f"""
import importlib.util, types
from pathlib import Path

import pytest
import yaml

CLAIMS = Path({str(CLAIMS_DIR)!r})


class PythonTwin(pytest.Module):
    def _getobj(self):
        names = [c["name"] for c in yaml.safe_load(self.path.read_text())["claims"]]
        module = types.ModuleType("python_twin")
        for file in {TWIN_FILES!r}:
            spec = importlib.util.spec_from_file_location("twin_" + file[:-3], CLAIMS / file)
            source = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(source)
            for name in names:
                fn = getattr(source, "test_" + name, None)
                if fn is not None:
                    fn.__test__ = True
                    fn.__name__ = fn.__qualname__ = name  # the twin is the YAML claim's namesake
                    setattr(module, name, fn)
            module.pytestmark = source.pytestmark  # ic.model("zoo/agreement") in each file
        missing = [name for name in names if not hasattr(module, name)]
        assert not missing, f"YAML claims without a Python twin: {{missing}}"
        return module


def pytest_collect_file(file_path, parent):
    if file_path.name == "test_agreement_yaml.yaml":
        return PythonTwin.from_parent(parent, path=file_path)
"""


def _same(a: object, b: object, where: str) -> None:
    """Equal JSON values; floats to 1e-9 of their scale (both runs compute the same floats)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (where, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), (where, sorted(a), sorted(b))
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def test_yaml_suite_gives_the_rows_of_its_python_twin(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath(SUITE.name).write_text(SUITE.read_text())
    # the YAML suite under xdist, its Python twin in one process
    yaml_run = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                             "--claims-report-dir=yaml", "-rA")
    pytester.makeconftest(TWIN_CONFTEST)
    python_run = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                                    "-o", "claims_yaml_files=", "--claims-report-dir=python")
    assert yaml_run.ret == python_run.ret == pytest.ExitCode.OK, yaml_run.stdout.str()
    assert _outcomes(yaml_run) == _outcomes(python_run) == {"passed": 18, "xfailed": 4}
    rows = {}
    for run in ("yaml", "python"):
        report = json.loads((pytester.path / run / "claims.json").read_text())
        rows[run] = sorted(report["claims"], key=lambda c: c["nodeid"])
    assert [c["nodeid"] for c in rows["yaml"]] == [c["nodeid"] for c in rows["python"]]
    assert {c["backend"] for c in rows["yaml"]} == {"tl", "nnsight"} and len(rows["yaml"]) == 22
    sweep = [c for c in rows["yaml"] if "feature_is_decodable" in c["nodeid"]]
    assert len(sweep) == 8 and {c["family_size"] for c in sweep} == {4}  # one family per backend
    by_verdict = {c["nodeid"]: (c["verdict"], c["outcome"]) for c in rows["yaml"]}
    assert by_verdict["test_agreement_yaml.yaml::L0H1_is_an_induction_head[tl]"] == (
        "REFUTED", "xfailed")
    assert by_verdict["test_agreement_yaml.yaml::L1H2_is_an_induction_head[nnsight]"] == (
        "SUPPORTED", "passed")
    control = next(c for c in rows["yaml"] if c["nodeid"].endswith("L1H2_is_an_induction_head[tl]"))
    assert control["reference"]["label"] == "control:random_heads" and control["p"] is not None
    # every field of every row: verdict, estimate, interval, p, family, message, data, outcome...
    for y, p in zip(rows["yaml"], rows["python"], strict=True):
        _same(y, p, y["nodeid"])


FAMILY = """\
model: zoo/agreement
backends: [tl]
claims:
  - name: undecided
    analysis: measure
    args: {data: agreement, metric: logit_diff}
    comparator: is_between
    low: 7.2
    high: 9.0
  - name: swept_a
    family: sweep
    analysis: measure
    args: {data: agreement, metric: logit_diff}
    comparator: exceeds
    threshold: 2
  - name: swept_b
    family: sweep
    analysis: ablate
    args: {component: L1H3, data: agreement, how: mean, metric: logit_diff}
    comparator: is_at_most
    threshold: -1
"""


def _outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The outcome counts without the warnings count: an in-process pytester run also counts
    pytest's own PytestAssertRewriteWarning ("module already imported: interpclaims") when an
    earlier test of the same process imported the plugin — it depends on the order of the suite."""
    return {k: v for k, v in result.parseoutcomes().items() if k != "warnings"}


def test_inconclusive_families_and_backends_as_in_python(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_family=FAMILY)
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "-v")
    # INCONCLUSIVE is its own outcome (and fails by default); the backends: [tl] of the file
    # leaves one item per claim, with the backend id in its node id
    assert _outcomes(result) == {"passed": 2, "inconclusive": 1}
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["test_family.yaml::undecided[[]tl[]] INCONCLUSIVE*",
                                 # a claim's warning points at its line of the YAML file
                                 "*test_family.yaml:4: ClaimWarning: logit_diff(agreement): "
                                 "low_power*", "*INCONCLUSIVE: logit_diff*"])
    report = json.loads((pytester.path / "reports" / "claims.json").read_text())
    rows = {c["nodeid"]: c for c in report["claims"]}
    assert sorted(rows) == [f"test_family.yaml::{n}[tl]" for n in ("swept_a", "swept_b", "undecided")]
    # family: counted at collection, corrected when decided (Bonferroni over the declared two)
    for name in ("swept_a", "swept_b"):
        row = rows[f"test_family.yaml::{name}[tl]"]
        assert (row["family"], row["family_size"], row["verdict"]) == ("sweep", 2, "SUPPORTED")
        assert row["p_adjusted"] == pytest.approx(min(1.0, 2 * row["p"]), rel=1e-9)
    undecided = rows["test_family.yaml::undecided[tl]"]
    assert (undecided["verdict"], undecided["outcome"], undecided["family_size"]) == (
        "INCONCLUSIVE", "failed", 1)
    assert undecided["reference"] == {"kind": "range", "low": 7.2, "high": 9.0, "value": 8.1,
                                      "label": "in (7.2, 9)"}
    # --claims-inconclusive=pass, -k: the same options as for a Python claim
    again = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                               "--claims-inconclusive=pass", "-k", "undecided")
    assert again.ret == pytest.ExitCode.OK and _outcomes(again) == {
        "inconclusive": 1, "deselected": 2}
    assert "ClaimWarning" in again.stdout.str()
