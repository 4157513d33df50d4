"""The HTML page rendered from claims.json documents of schema 2 (claim ids, xfail reasons,
baselines, several estimates per claim, devices, git) and of schema 1: what a reader sees."""

from __future__ import annotations

import copy
import re

import pytest

from interpclaims.report import render_html


def est(value, lo, hi, *, n=40, label="x", method="m; BCa bootstrap", **extra):
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": n, "method": method,
            "label": label, "ci_level": 0.95, **extra}


def row(key, backend, verdict, estimate, *, comparator="is_at_least", reference=None,
        tested=None, xfail=False, p=9.999e-05, **extra):
    return {"nodeid": f"{key}[{backend}]", "claim_key": key, "claim_id": key, "index": 0,
            "backend": backend, "model": "zoo/agreement", "verdict": verdict, "xfail": xfail,
            "comparator": comparator, "rule": "ci_low >= 0.5", "estimate": estimate,
            "tested": tested or estimate,
            "reference": reference or {"kind": "threshold", "value": 0.5, "label": ">= 0.5"},
            "message": verdict, "seed": 0, "data": {}, "p": p, "p_adjusted": p,
            "family_size": 1, "correction": "bonferroni", "warnings": [], "xfail_reason": None,
            "baseline": None, "per_prompt": None, "estimates": None,
            "outcome": "xfailed" if xfail and verdict != "SUPPORTED" else (
                "passed" if verdict == "SUPPORTED" else "failed"), **extra}


CTRL = est(0.5, 0.4, 0.6, label="control:random_heads", method="other heads")
EXCEEDS_REF = {"kind": "estimate", "label": "control:random_heads", "value": 0.5,
               "ci_low": 0.4, "ci_high": 0.6, "n": 40, "by": 0.25}
MATRIX = {"title": "patch_sweep(resid_pre, denoising, normalized)", "rows": ["L0", "L1"],
          "cols": ["pos0", "pos1", "pos2"], "col_tokens": ["<bos>", "the", "wolf/wolves…"],
          "value": [[0.0, 0.01, 0.98], [0.0, 0.02, 0.95]],
          "ci_low": [[0.0, -0.01, 0.9], [0.0, 0.0, 0.91]],
          "ci_high": [[0.0, 0.03, 1.0], [0.0, 0.04, 0.99]], "noop": [["L0", "pos0"], ["L1", "pos0"]]}
SWEEP_CELL = est(0.98, 0.9, 1.0, label="patch_sweep(resid_pre, denoising, normalized)[L0, pos2]",
                 context={"matrix": MATRIX, "cell": ["L0", "pos2"]})


def _claims():
    induction = est(0.81, 0.74, 0.88, label="attention_score(L1H2, induction)")
    exceeds = dict(comparator="exceeds", reference=EXCEEDS_REF, p=0.0234,
                   tested=est(0.5, 0.2, 0.8, label="attention_score - control:random_heads"))
    multi = [{"label": how, "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1, "n": 40,
              "method": "ablation", "verdict": "SUPPORTED"} for how, v in (("zero", 1.5),
                                                                          ("mean", 1.2))]
    return [
        row("t/test_heads.py::test_induction", "tl", "SUPPORTED", induction,
            baseline={"verdict": "SUPPORTED", "value": 0.8, "ci_low": 0.7, "ci_high": 0.9,
                      "regressions": []}),
        row("t/test_heads.py::test_induction", "nnsight", "SUPPORTED", induction),
        row("t/test_heads.py::test_prev_is_induction", "tl", "REFUTED",
            est(0.1, 0.05, 0.15, label="attention_score(L0H1, induction)"), xfail=True, p=1.0,
            xfail_reason="L0H1 is a previous-token head"),
        row("t/test_heads.py::test_beats_control", "tl", "INCONCLUSIVE",
            est(1.0, 0.7, 1.3, label="attention_score(L1H2, induction)", controls={
                "random_heads": CTRL}), **exceeds),
        row("t/test_heads.py::test_beats_control", "nnsight", "SUPPORTED",
            est(1.25, 1.0, 1.5, label="attention_score(L1H2, induction)", controls={
                "random_heads": CTRL}), **exceeds),
        row("t/test_patch.py::test_sweep", "tl", "SUPPORTED", SWEEP_CELL),
        row("t/test_patch.py::test_sweep", "nnsight", "SUPPORTED", SWEEP_CELL),
        row("t/test_ablate.py::test_weakened", "tl", "SUPPORTED",
            est(2.1, 1.1, 3.1, label="ablate(L1H3.z, mean, logit_diff)"),
            baseline={"verdict": "SUPPORTED", "value": 3.0, "ci_low": 2.8, "ci_high": 3.2,
                      "regressions": ["effect moved 34% toward the reference (threshold 20%)"]}),
        row("t/test_ablate.py::test_every_ablation", "tl", "SUPPORTED",
            est(1.5, 1.4, 1.6, label="ablate(L1H3.z, [zero, mean], logit_diff)"),
            estimates=multi),
    ]


MANIFEST = {
    "tool": "interpclaims", "versions": {"python": "3.11.7", "torch": "2.13.0", "sae-lens": None},
    "seed": 7, "backends": ["tl", "nnsight"], "ci_level": 0.95, "bootstrap_resamples": 10000,
    "alpha": 0.05, "correction": "bonferroni", "inconclusive_policy": "fail",
    "models": {"zoo/agreement": {"weights_sha256": "e" * 64, "backends": ["tl", "nnsight"],
                                 "spec": {"architecture": "LlamaForCausalLM", "n_layers": 2,
                                          "n_heads": 4, "d_model": 64}}},
    "data": [{"name": "agreement", "sha256": "4bef1edf387f" + "0" * 52}],
    "git": {"commit": "0123456789abcdef" * 2 + "01234567", "dirty": True},
    "devices": ["cpu", "cuda:0"], "dtypes": ["float32"], "started": "2026-01-02T03:04:05+00:00",
    "finished": "2026-01-02T03:05:05+00:00", "exitstatus": 1, "interrupted": False,
    "partial": False, "partial_reasons": [], "argv": ["claims/", "-q"],
}


@pytest.fixture(scope="module")
def doc():
    return {"schema_version": 2, "manifest": MANIFEST, "summary": {}, "claims": _claims(),
            "errors": []}


@pytest.fixture(scope="module")
def page(doc):
    return render_html(doc)


def _article(page: str, key: str) -> str:
    hits = [a for a in page.split("<article")[1:] if f'data-name="{key}"' in a]
    assert len(hits) == 1, key
    return hits[0].split("</article>")[0]


def test_banner_counts(page):
    banner = page.split('id="banner"', 1)[1].split("</div>", 1)[0]
    assert "FAILED" in banner and "9 claim results" in banner
    counts = dict((t.strip(), int(n)) for n, t in re.findall(r"<b>(\d+)</b>([^<]*)</li>", banner))
    assert counts == {"supported": 7, "refuted": 0, "inconclusive": 1, "errors": 0,
                      "regression": 1, "expected refutation (xfail)": 1}


def test_one_row_per_claim_backends_in_manifest_order(page):
    assert page.count("<article") == 6
    a = _article(page, "t/test_heads.py::test_induction")
    assert a.index('class="bname">tl<') < a.index('class="bname">nnsight<')
    assert 'data-st="tl:supported nnsight:supported "' in a


def test_p_values_are_formatted_conventionally(page):
    assert "p &lt; 0.001" in page and "p = 0.023" in page and "p &gt; 0.999" in page
    text = re.sub(r"<[^>]*>", "", page)  # what is shown, not the sort keys
    assert "e-05" not in text and "9.999" not in text


def test_expected_refutation_is_muted_with_its_reason(page):
    a = _article(page, "t/test_heads.py::test_prev_is_induction")
    assert "REFUTED (expected)" in a and "muted-badge" in a
    assert "xfail: expected false: L0H1 is a previous-token head" in a
    assert 'data-st="tl:expected "' in a


def test_exceeds_claim_shows_its_control_with_interval(page):
    a = _article(page, "t/test_heads.py::test_beats_control")
    assert a.count("control random_heads: 0.5 [0.4, 0.6] n=40") == 2
    assert "x − ref = 0.5 [0.2, 0.8]" in a
    assert "backends disagree" in a
    assert a.count("fill=\"#fff\"") >= 2  # the hollow control markers in the forest row
    assert 'class="ref"' in a  # control + margin, dashed


def test_heatmap_has_tokens_both_backends_legend_and_hover_intervals(page):
    a = _article(page, "t/test_patch.py::test_sweep")
    assert ">&lt;bos&gt;</th>" in a and ">wolf/wolves…</th>" in a and ">pos2<" not in a
    assert 'title="pos2: wolf/wolves…"' in a
    assert 'panel scroll" data-backend="tl"' in a and 'panel scroll" data-backend="nnsight"' in a
    assert "tl L0, pos2: wolf/wolves…: 0.98 [0.9, 1]" in a
    assert "exactly 0" in a  # noop cells say why they are 0
    assert '<svg class="legend"' in a and a.count(' picked') == 2


def test_baseline_and_regressions(page):
    a = _article(page, "t/test_ablate.py::test_weakened")
    assert 'data-reg="1"' in a
    assert "baseline: SUPPORTED 3 [2.8, 3.2]" in a
    assert "<b>regression:</b> effect moved 34% toward the reference (threshold 20%)" in a
    assert 'data-reg="0"' in _article(page, "t/test_heads.py::test_induction")
    assert 'value="regression"' in page  # a filter for them


def test_several_estimates_of_one_claim(page):
    a = _article(page, "t/test_ablate.py::test_every_ablation")
    assert "zero: 1.5 [1.4, 1.6]" in a and "mean: 1.2 [1.1, 1.3]" in a
    assert a.count("<g data-backend") == 2  # one interval each in the forest row


def test_forest_plot_one_axis_per_unit(page):
    units = re.findall(r"<h2>([^<]*) <span", page)
    assert units == ["attention weight (0 to 1)", "logit difference (logits)",
                     "normalized patching effect (0 = corrupt run, 1 = clean run)"]
    assert page.count('<svg class="axis"') == 3
    assert "preserveAspectRatio" not in page
    assert page.count('<svg class="forest"') == 6


def test_manifest_tables(page):
    man = page.split('id="manifest"', 1)[1]
    assert "<pre>" not in man
    assert "0123456789ab (uncommitted changes)" in man
    assert "cpu, cuda:0" in man and "float32" in man
    assert ">4bef1edf387f…<" in man and 'title="4bef1edf387f' in man
    assert ">eeeeeeeeeeee…<" in man and "LlamaForCausalLM" in man
    assert "not installed" in man  # sae-lens
    assert "pytest claims/ -q" in man


def test_filter_and_sort_controls(page):
    for control in ('id="backend"', 'id="sort"', 'name="status" value="failed"',
                    'value="expected"', '<option value="p">'):
        assert control in page


def test_self_contained(page):
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "://" not in page
    assert not re.search(r"""\s(src|href)\s*=""", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page and "<link" not in page.lower()
    assert page.count("<script>") == 1


def test_old_schema_renders(doc):
    old = copy.deepcopy(doc)
    del old["schema_version"]
    m = old["manifest"]
    m["data"] = {"agreement": "4bef1edf387f" + "0" * 52}
    m["device"] = "cpu"
    for k in ("git", "devices", "dtypes"):
        del m[k]
    for c in old["claims"]:
        for k in ("claim_id", "xfail_reason", "baseline", "per_prompt", "estimates", "outcome"):
            c.pop(k, None)
    page = render_html(old)
    man = page.split('id="manifest"', 1)[1]
    assert ">4bef1edf387f…<" in man and "not recorded" in man and ">cpu<" in man
    assert page.count("<article") == 6 and "REFUTED (expected)" in page


def test_user_text_is_escaped(doc):
    evil = copy.deepcopy(doc)
    c = evil["claims"][0]
    c["claim_id"] = c["claim_key"] = "t.py::test_x[<script>alert(1)</script>]"
    c["estimate"]["label"] = "<b>bold</b> & co"
    evil["errors"] = [{"nodeid": "t.py::test_y", "when": "call", "message": '<img src="x">'}]
    page = render_html(evil)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    assert "<img" not in page and "Tests that errored" in page


def test_patch_sweep_carries_its_tokens_into_the_report(zoo_models):
    """A real sweep labels its position columns with what the template reads there."""
    import interpclaims as ic
    from interpclaims._data import load_data

    rows = [dict(r) for r in load_data("agreement").rows if len(r["text"].split()) == 5][:8]
    sweep = ic.patch_sweep(zoo_models["zoo/agreement", "tl"], load_data(rows), kind="resid_pre")
    tokens = sweep.to_json()["col_tokens"]
    assert len(tokens) == len(sweep.cols) == 6
    words = rows[0]["text"].split()
    assert tokens[0] == "<bos>" and tokens[1] == words[0]  # "the" in every prompt
    # the subject differs between clean and corrupt prompt, and across prompts
    assert tokens[2] == f"{words[1]}/{rows[0]['corrupt_text'].split()[1]}…"
    context = sweep["L1", "pos2"].context
    assert context["matrix"]["col_tokens"] == tokens


def test_baseline_interval_is_drawn_and_keyed(page):
    a = _article(page, "t/test_ablate.py::test_weakened")
    assert "tl: baseline = 3 [2.8, 3.2]<" in a
    assert "baseline (light, hollow)" in page.split('class="legend"', 1)[1].split("</div>", 1)[0]
