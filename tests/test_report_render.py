"""The report: the claims.json document built from claim dicts, and its self-contained HTML page."""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
import re
from pathlib import Path

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
    html = render_html(data)
    assert "<tbody>" in html


# -- claims.html -----------------------------------------------------------------------------------


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr class=")[1:]


def _row(html: str, key: str) -> str:
    hits = [r for r in _rows(html) if f'<td class="claim">{key}\n' in r]
    assert len(hits) == 1, (key, len(hits))
    return hits[0]


def test_html_one_row_per_claim_with_backends_side_by_side(settings):
    html = render_html(make_report(settings))
    rows = _rows(html)
    assert len(rows) == 4  # 6 results, 4 claims
    # backend columns in the order of the manifest
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert head.index("tl: verdict") < head.index("nnsight: verdict")
    row = _row(html, "tests/test_heads.py::test_induction")
    assert row.count('<span class="badge SUPPORTED">SUPPORTED</span>') == 2
    assert "0.8125" in row and "0.81" in row
    assert "backends disagree" not in row
    # a claim run on one backend shows a dash for the other
    row = _row(html, "tests/test_neg.py::test_l0_mlp_negligible")
    assert row.count("<td>–</td>") == 2
    assert "|x| &lt; 0.1" in row  # the reference label, escaped


def test_html_tl_cell_comes_before_nnsight_cell(settings):
    html = render_html(make_report(settings))
    row = _row(html, "tests/test_heads.py::test_induction")
    assert row.index("0.8125") < row.index("0.81<br>")


def test_html_badges(settings):
    html = render_html(make_report(settings))
    row = _row(html, "tests/test_heads.py::test_prev_token_is_induction")
    assert '<span class="badge REFUTED">REFUTED</span>' in row
    assert "xfail (expected false)" in row
    row = _row(html, "tests/test_ablate.py::test_ablation_hurts[0]")
    assert row.startswith('"mismatch"')
    assert "backends disagree" in row
    assert '<span class="badge INCONCLUSIVE">INCONCLUSIVE</span>' in row
    assert '<span class="badge SUPPORTED">SUPPORTED</span>' in row
    assert "x − ref" in row
    assert "by 0.25" in row
    assert "xfail" not in row
    assert html.count("backends disagree") == 1


def test_html_summary_cards(settings):
    html = render_html(make_report(settings))
    assert "<b>4</b>supported" in html
    assert "<b>1</b>refuted" in html
    assert "<b>1</b>inconclusive" in html
    assert "<b>2/4</b>supported on tl" in html
    assert "<b>2/2</b>supported on nnsight" in html
    assert "seed 1234" in html
    assert STARTED in html


def test_html_is_self_contained(settings):
    html = render_html(make_report(settings))
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower()
    assert "@import" not in html
    assert "url(" not in html
    assert "<link" not in html.lower()


def test_html_autoescapes_user_text(settings):
    evil = "tests/t.py::test_x[<script>alert(1)</script>]"
    claims = [claim(evil, "", "SUPPORTED", "is_at_least",
                    estimate=est(0.9, 0.8, 1.0, label="<b>bold</b> & co"), reference=THRESH)]
    errors = [{"nodeid": "t.py::test_y", "when": "call",
               "message": '<img src="x" onerror="alert(2)">'}]
    html = render_html(make_report(settings, claims=claims, errors=errors))
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert "<img" not in html
    assert "&lt;img" in html
    assert "Tests that errored" in html


def test_html_renders_unbounded_intervals(settings):
    one = claim("t.py::test_one[tl]", "tl", "INCONCLUSIVE", "is_at_least",
                estimate=est(0.7, -math.inf, math.inf, n=1), reference=THRESH)
    html = render_html(make_report(settings, claims=[one]))
    row = _row(html, "t.py::test_one")
    assert "[−∞, ∞]" in row
    assert "n=1" in row


def test_html_written_file_round_trip(settings, tmp_path):
    data = make_report(settings)
    path = Path(tmp_path) / "claims.html"
    path.write_text(render_html(data), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    # the manifest is embedded as JSON
    assert '"seed": 1234' in text
    assert SHA_IND in text
