"""The report: the claims.json document built from claim dicts (its HTML page:
test_report_html.py)."""

from __future__ import annotations

import datetime as dt
import json
import platform

import numpy as np
import pytest

from interpclaims.plugin._identity import claim_key
from interpclaims.plugin._markers import ModelParam
from interpclaims.plugin._options import Settings
from interpclaims.report import build_report, render_html

STARTED = "2025-01-02T03:04:05+00:00"
SHA_IND = "a" * 64
SHA_AGR = "b" * 64


def est(value, lo, hi, *, n=40, label="x", method="attention score; percentile bootstrap"):
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": n, "method": method,
            "label": label, "ci_level": 0.95}


def claim(nodeid, backend, verdict, comparator, *, estimate, tested=None, reference,
          rule="rule", xfail=False, data=None, model="zoo/agreement"):
    """A dict shaped like ``ClaimResult.to_json()``."""
    tested = tested or estimate
    base, _, params = nodeid.partition("[")
    rest = [p for p in params.removesuffix("]").split("-") if p and p != backend]
    return {
        "nodeid": nodeid, "claim_key": f"{base}[{'-'.join(rest)}]" if rest else base,
        "backend": backend, "model": model, "verdict": verdict,
        "xfail": xfail, "comparator": comparator, "rule": rule, "estimate": estimate,
        "tested": tested, "reference": reference,
        "message": f"{verdict}: {estimate['label']}", "seed": 1234,
        "model_sha256": "c" * 64, "data": data or {},
    }


THRESH = {"kind": "threshold", "value": 0.5, "label": ">= 0.5"}

CLAIMS = [
    # one claim on two backends (given in the "wrong" order: nnsight first)
    claim("tests/test_heads.py::test_induction[nnsight]", "nnsight", "SUPPORTED", "is_at_least",
          estimate=est(0.81, 0.74, 0.88, label="induction score L1H2"), reference=THRESH,
          rule="ci_low >= 0.5", data={"induction": SHA_IND}),
    claim("tests/test_heads.py::test_induction[tl]", "tl", "SUPPORTED", "is_at_least",
          estimate=est(0.8125, 0.75, 0.875, label="induction score L1H2"), reference=THRESH,
          rule="ci_low >= 0.5", data={"induction": SHA_IND}),
    # an expected-false claim, refuted
    claim("tests/test_heads.py::test_prev_token_is_induction[tl]", "tl", "REFUTED",
          "is_at_least", estimate=est(0.1, 0.05, 0.15, label="induction score L0H1"),
          reference=THRESH, xfail=True),
    # an exceeds claim against a reference estimate, with a second parameter
    claim("tests/test_ablate.py::test_ablation_hurts[nnsight-0]", "nnsight", "SUPPORTED",
          "exceeds", estimate=est(1.25, 1.0, 1.5, label="loss after ablation"),
          tested=est(0.75, 0.5, 1.0, label="loss after ablation - random heads"),
          reference={"kind": "estimate", "label": "random heads", "value": 0.5,
                     "ci_low": 0.4, "ci_high": 0.6, "n": 40, "by": 0.25},
          rule="ci_low(x - reference) > 0.25", data={"agreement": SHA_AGR}),
    claim("tests/test_ablate.py::test_ablation_hurts[tl-0]", "tl", "INCONCLUSIVE", "exceeds",
          estimate=est(1.0, 0.7, 1.3, label="loss after ablation"),
          tested=est(0.5, 0.2, 0.8, label="loss after ablation - random heads"),
          reference={"kind": "estimate", "label": "random heads", "value": 0.5,
                     "ci_low": 0.4, "ci_high": 0.6, "n": 40, "by": 0.25},
          rule="ci_low(x - reference) > 0.25", data={"agreement": SHA_AGR}),
    # an equivalence claim
    claim("tests/test_neg.py::test_l0_mlp_negligible[tl]", "tl", "SUPPORTED", "is_negligible",
          estimate=est(0.01, -0.02, 0.04, label="L0 mlp effect"),
          reference={"kind": "equivalence", "value": 0.0, "within": 0.1, "label": "|x| < 0.1"},
          rule="-0.1 < ci_low, ci_high < 0.1"),
]

MODELS = {"zoo/agreement": {"weights_sha256": "c" * 64, "spec": {"n_layers": 2},
                            "backends": ["tl", "nnsight"]}}


@pytest.fixture
def settings(tmp_path):
    return Settings(backends=("tl", "nnsight"), seed=1234, allow_inconclusive=False,
                    n_resamples=1000, report_dir=tmp_path, cache_mode="off",
                    cache_dir=tmp_path / "cache")


def make_report(settings, claims=CLAIMS, errors=(), **kw):
    args = {"models": MODELS, "started": STARTED, "exitstatus": 1, "interrupted": False,
            "argv": ["tests", "-q"], **kw}
    return build_report(claims=list(claims), errors=list(errors), settings=settings, **args)


# -- claim_key -------------------------------------------------------------------------------------


class _CallSpec:
    def __init__(self, ids, backend):
        self._idlist = ids
        self.params = {"model": ModelParam("zoo/agreement", backend)} if backend else {}

    @property
    def id(self):
        return "-".join(self._idlist)


class _Item:
    def __init__(self, base, ids=None, backend=None):
        self.callspec = _CallSpec(ids, backend) if ids is not None else None
        self.nodeid = f"{base}[{'-'.join(ids)}]" if ids else base


@pytest.mark.parametrize(
    ("base", "ids", "backend", "key"),
    [
        ("t.py::test_x", ["tl"], "tl", "t.py::test_x"),
        ("t.py::test_x", ["nnsight"], "nnsight", "t.py::test_x"),
        ("t.py::test_x", ["nnsight", "0"], "nnsight", "t.py::test_x[0]"),
        ("t.py::test_x", ["0", "nnsight"], "nnsight", "t.py::test_x[0]"),
        ("t.py::test_x", ["a", "tl", "b"], "tl", "t.py::test_x[a-b]"),
        ("t.py::TestC::test_x", ["tl", "3"], "tl", "t.py::TestC::test_x[3]"),
        ("t.py::test_x", None, None, "t.py::test_x"),
        ("t.py::test_x", ["tl"], None, "t.py::test_x[tl]"),  # not a model parameter
        ("t.py::test_x", ["tl", "a-b"], "tl", "t.py::test_x[a-b]"),  # a dash inside an id
        ("t.py::test_x", ["tl", "a[1]"], "tl", "t.py::test_x[a[1]]"),
    ],
)
def test_claim_key_drops_the_backend(base, ids, backend, key):
    assert claim_key(_Item(base, ids, backend)) == key


def test_claim_key_merges_both_backends_of_a_claim():
    assert claim_key(_Item("t.py::test_x", ["tl", "L1H2"], "tl")) == claim_key(
        _Item("t.py::test_x", ["nnsight", "L1H2"], "nnsight"))
    assert claim_key(_Item("t.py::test_x", ["tl", "0"], "tl")) != claim_key(
        _Item("t.py::test_x", ["nnsight", "1"], "nnsight"))
    assert claim_key(_Item("t.py::test_x", ["tl", "tl"], "tl")) == claim_key(
        _Item("t.py::test_x", ["nnsight", "tl"], "nnsight"))


# -- claims.json -----------------------------------------------------------------------------------


def test_report_manifest(settings):
    data = make_report(settings)
    assert set(data) == {"schema_version", "manifest", "summary", "claims", "errors"}
    assert data["schema_version"] == 2
    m = data["manifest"]
    assert m["tool"] == "interpclaims"
    assert m["seed"] == 1234
    assert m["backends"] == ["tl", "nnsight"]
    assert m["bootstrap_resamples"] == 1000
    assert m["inconclusive_policy"] == "fail"
    assert m["started"] == STARTED
    finished = dt.datetime.fromisoformat(m["finished"])
    assert finished.tzinfo is not None
    assert finished >= dt.datetime.fromisoformat(STARTED)
    assert m["models"] == MODELS
    assert m["data"] == [{"name": "agreement", "sha256": SHA_AGR},
                         {"name": "induction", "sha256": SHA_IND}]
    assert m["devices"] == [] and m["dtypes"] == [] and m["git"] is None  # none given here
    assert m["exitstatus"] == 1 and m["interrupted"] is False
    assert m["argv"] == ["tests", "-q"]
    v = m["versions"]
    assert v["python"] == platform.python_version()
    assert v["numpy"] == np.__version__
    assert v["pytest"] == pytest.__version__
    assert v["interpclaims"] == "0.1.0"
    assert "torch" in v and "nnsight" in v and "transformer-lens" in v


def test_report_policy_pass(settings):
    import dataclasses

    data = make_report(dataclasses.replace(settings, allow_inconclusive=True))
    assert data["manifest"]["inconclusive_policy"] == "pass"


def test_report_claims_sorted_and_unchanged(settings):
    data = make_report(settings)
    keys = [(c["nodeid"], c["backend"]) for c in data["claims"]]
    assert keys == sorted(keys)
    assert len(data["claims"]) == len(CLAIMS)
    for c in CLAIMS:
        assert c in data["claims"]


def test_report_summary_counts(settings):
    data = make_report(settings, errors=[{"nodeid": "t.py::test_boom", "when": "setup",
                                          "message": "boom"}])
    s = data["summary"]
    assert s["SUPPORTED"] == 4
    assert s["REFUTED"] == 1
    assert s["INCONCLUSIVE"] == 1
    assert s["total"] == 6
    assert s["errors"] == 1
    assert s["by_backend"] == {
        "nnsight": {"SUPPORTED": 2, "REFUTED": 0, "INCONCLUSIVE": 0},
        "tl": {"SUPPORTED": 2, "REFUTED": 1, "INCONCLUSIVE": 1},
    }


def test_report_is_strict_json(settings):
    data = make_report(settings)
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_empty_report(settings):
    data = make_report(settings, claims=[])
    assert data["summary"]["total"] == 0
    assert data["summary"]["by_backend"] == {}
    assert data["manifest"]["data"] == []
    assert "No claim was decided in this run." in render_html(data)
