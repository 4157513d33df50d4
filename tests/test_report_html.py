"""The HTML page: its plotting helpers (ticks, scales, colours) with known answers, and the page
rendered from old- and new-schema claims.json documents (banner counts, p-values, controls,
heatmaps, manifest tables, baseline regressions, self-containment). Layout in a real browser:
test_report_browser.py."""

from __future__ import annotations

import re

import pytest

from interpclaims.report._heatmap import cell_text
from interpclaims.report._svg import (
    Interval,
    Mark,
    Scale,
    axis_svg,
    colour,
    colour_legend_svg,
    forest_row_svg,
    nice_ticks,
    tick_label,
)
from interpclaims.report._view import banner, format_p, status, unit_of

# -- ticks, scales, colours ------------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi", "ticks"), [
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.034, 0.77, [0.0, 0.2, 0.4, 0.6, 0.8]),
    (0.0, 1.015, [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]),
    (-7.3, 7.4, [-10.0, -5.0, 0.0, 5.0, 10.0]),
    (-0.6, 0.6, [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]),
    (2.0, 2.0, [1.8, 1.9, 2.0, 2.1, 2.2]),
    (0.0, 0.0, [-1.0, -0.5, 0.0, 0.5, 1.0]),
    (1e-6, 4e-6, [1e-6, 2e-6, 3e-6, 4e-6]),
    (0.11, 0.13, [0.11, 0.115, 0.12, 0.125, 0.13]),
])
def test_nice_ticks_known_answers(lo, hi, ticks):
    got = nice_ticks(lo, hi)
    assert got == pytest.approx(ticks, rel=1e-12, abs=1e-12 * max(abs(t) for t in ticks))
    assert got[0] <= lo and got[-1] >= hi
    # round numbers, no float noise (0.30000000000000004)
    assert all(len(repr(t)) <= 8 for t in got), got


def test_nice_ticks_order_and_errors():
    assert nice_ticks(1.0, 0.0) == nice_ticks(0.0, 1.0)
    with pytest.raises(ValueError, match="not finite"):
        nice_ticks(0.0, float("inf"))


def test_tick_labels():
    ticks = [0.0, 0.25, 0.5]
    assert [tick_label(t, ticks) for t in ticks] == ["0.00", "0.25", "0.50"]
    assert [tick_label(t, [-10.0, -5.0, 0.0]) for t in (-10.0, 0.0)] == ["−10", "0"]
    assert tick_label(2e-5, [0.0, 1e-5, 2e-5]) == "2e−05"


def test_scale_maps_ends_and_clamps():
    s = Scale(-1.0, 1.0, 10, 110)
    assert (s(-1.0), s(0.0), s(1.0)) == (10, 60, 110)
    assert s(-5.0) == 10 and s(5.0) == 110
    enclosing, ticks = Scale.enclosing([0.034, 0.77, float("inf")])
    assert (enclosing.lo, enclosing.hi) == (ticks[0], ticks[-1]) == (0.0, 0.8)


def test_colour_ramp():
    assert colour(0.0) == "#ffffff"
    assert colour(1.0) == colour(3.0) == "#2166ac"
    assert colour(-1.0) == "#b2182b"
    mid = colour(0.5)  # halfway to blue
    assert mid == "#90b2d6"


def test_colour_legend_has_its_scale_and_ticks():
    svg = colour_legend_svg(-1.0, 1.0, label="sweep")
    assert svg.count("<rect") == 41  # 40 steps and the frame
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert labels == ["−1.0", "−0.5", "0.0", "0.5", "1.0"]
    assert 'fill="#b2182b"' not in svg  # step centres: never the very end colour
    seq = colour_legend_svg(0.0, 1.0, label="cka")
    assert re.findall(r"<text[^>]*>([^<]*)</text>", seq)[0] == "0.00"


def test_forest_row_draws_intervals_references_and_bands():
    scale, ticks = Scale.enclosing([0.0, 1.0])
    ivs = [Interval(0.5, 0.4, 0.6, "#000", "circle", "tl: x", backend="tl"),
           Interval(0.3, None, 0.9, "#000", "square", "nnsight: x", hollow=True,
                    backend="nnsight")]
    svg = forest_row_svg(scale, ticks, ivs, [Mark(0.8, title="ref"), Mark(0.1, 0.2, title="band")],
                         label="claim <1>")
    assert "preserveAspectRatio" not in svg  # markers stay round
    assert 'aria-label="claim &lt;1&gt;"' in svg
    assert svg.count('class="grid"') == len(ticks)
    x = scale(0.8)
    assert f'<line class="ref" x1="{x}" x2="{x}"' in svg
    assert f'<rect class="band" x="{scale(0.1)}"' in svg
    assert '<circle cx="300.00"' in svg  # 0.5 in the middle of [12, 588]
    assert 'data-backend="nnsight"' in svg and 'fill="#fff" stroke="#000"' in svg  # hollow
    # an unbounded low end runs to the axis' edge without an end cap
    edge = scale(scale.lo)
    assert f'x1="{edge}" x2="{scale(0.9)}"' in svg
    assert f'x1="{edge}" x2="{edge}" y1="22.0"' not in svg
    assert f'x1="{scale(0.4)}" x2="{scale(0.4)}" y1="8.0"' in svg  # the bounded one has caps


def test_axis_has_one_label_per_tick():
    scale, ticks = Scale.enclosing([-7.3, 7.4])
    svg = axis_svg(scale, ticks, unit="logits")
    assert re.findall(r"<text[^>]*>([^<]*)</text>", svg) == ["−10", "−5", "0", "5", "10"]


def test_heatmap_cell_text():
    assert [cell_text(v, 1.0) for v in (0.9995, -1.7e-5, 0.0, None, -0.5)] == [
        "1.00", "0.00", "0", "–", "−0.50"]
    assert cell_text(7.25, 10.0) == "7.2"


# -- p-values, statuses, banner, units -------------------------------------------------------------


@pytest.mark.parametrize(("p", "text"), [
    (9.999e-05, "p < 0.001"), (0.0009, "p < 0.001"), (0.001, "p = 0.0010"),
    (0.0234, "p = 0.023"), (0.04996, "p = 0.0500"), (0.0499, "p = 0.0499"), (0.0602, "p = 0.060"),
    (0.5, "p = 0.500"), (1.0, "p > 0.999"), (None, ""),
])
def test_format_p(p, text):
    assert format_p(p) == text


@pytest.mark.parametrize(("verdict", "xfail", "outcome", "policy", "expected"), [
    ("SUPPORTED", False, "passed", "fail", "supported"),
    ("REFUTED", False, "failed", "fail", "failed"),
    ("INCONCLUSIVE", False, "failed", "fail", "failed"),
    ("INCONCLUSIVE", False, "passed", "pass", "allowed"),
    ("REFUTED", True, "xfailed", "fail", "expected"),
    ("INCONCLUSIVE", True, "xfailed", "fail", "expected"),
    ("SUPPORTED", True, "failed", "fail", "failed"),  # strict xfail that held
    ("SUPPORTED", True, "xpassed", "fail", "xpassed"),
    # the first claim of an xfail test held and its second was refuted: the test xfailed as asked
    ("SUPPORTED", True, "xfailed", "fail", "supported"),
    ("REFUTED", True, None, "fail", "expected"),  # an old report without outcomes
])
def test_status(verdict, xfail, outcome, policy, expected):
    row = {"verdict": verdict, "xfail": xfail, **({"outcome": outcome} if outcome else {})}
    assert status(row, policy) == expected


def _counts(b):
    return {text: n for _, n, text in b["items"]}


def test_banner_separates_expected_refutations():
    claims = [{"verdict": "SUPPORTED"}] * 3 + [{"verdict": "REFUTED", "xfail": True}] * 2
    b = banner({"manifest": {"exitstatus": 0}, "claims": claims})
    assert b["state"] == "passed" and b["total"] == 5
    c = _counts(b)
    assert c["supported"] == 3 and c["refuted"] == 0 and c["expected refutations (xfail)"] == 2


def test_banner_says_how_many_expected_failures_were_inconclusive():
    """An xfail claim may fail as INCONCLUSIVE: the banner says so, as the terminal does, instead
    of counting it as refuted or as a plain inconclusive."""
    claims = ([{"verdict": "REFUTED", "xfail": True}] * 3
              + [{"verdict": "INCONCLUSIVE", "xfail": True}])
    c = _counts(banner({"manifest": {"exitstatus": 0}, "claims": claims}))
    assert c["inconclusive"] == 0
    assert c["expected refutations (xfail: 3 refuted, 1 inconclusive)"] == 4


@pytest.mark.parametrize(("manifest", "claims", "errors", "state"), [
    ({"exitstatus": 1}, [{"verdict": "REFUTED"}], [], "failed"),
    ({"exitstatus": 1}, [{"verdict": "SUPPORTED"}], [{"nodeid": "t"}], "failed"),
    ({"exitstatus": 1}, [{"verdict": "SUPPORTED"}], [], "failed"),  # a non-claim test failed
    ({"exitstatus": 2, "interrupted": True}, [{"verdict": "SUPPORTED"}], [], "interrupted"),
    ({"exitstatus": 0, "partial": True, "partial_reasons": ["-k selection"]},
     [{"verdict": "SUPPORTED"}], [], "partial"),
    ({"exitstatus": 1, "partial": True}, [{"verdict": "REFUTED"}], [], "failed"),
    ({"exitstatus": 0, "inconclusive_policy": "pass"}, [{"verdict": "INCONCLUSIVE"}], [], "passed"),
    ({"exitstatus": 1}, [{"verdict": "SUPPORTED", "baseline": {"regressions": ["verdict x"]}}],
     [], "failed"),
])
def test_banner_states(manifest, claims, errors, state):
    assert banner({"manifest": manifest, "claims": claims, "errors": errors})["state"] == state


def test_banner_counts_regressions_and_notes():
    claims = [{"verdict": "SUPPORTED", "baseline": {"regressions": ["effect moved 34%"]}},
              {"verdict": "SUPPORTED", "baseline": {"regressions": []}}]
    b = banner({"manifest": {"exitstatus": 1, "partial_reasons": ["-x"]}, "claims": claims})
    assert _counts(b)["regression"] == 1
    assert b["notes"] == ["partial run: -x"]


@pytest.mark.parametrize(("label", "method", "unit"), [
    ("ablate(L1H2.z, mean, logit_diff)", "", "logit difference (logits)"),
    ("logit_diff(agreement)", "", "logit difference (logits)"),
    ("interaction(L1H3.z, L1H2.z)", "mean-ablation, effect on logit_diff per prompt",
     "logit difference (logits)"),
    ("patch_heads(denoising, -1, normalized)[L1, H3]", "", "normalized patching effect "
     "(0 = corrupt run, 1 = clean run)"),
    ("probe(L1.resid_post, number) under random_features", "", "rate or accuracy (0 to 1)"),
    ("steer(L0.resid_post, 1, kl)", "", "KL divergence (nats)"),
    ("mystery(x)", "something", "mystery"),
])
def test_unit_of(label, method, unit):
    assert unit_of({"label": label, "method": method}) == unit
