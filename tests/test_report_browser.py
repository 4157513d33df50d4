"""The HTML page laid out by headless Chromium (skipped where none is installed): no horizontal
overflow at 1,400 px nor at 800 px, claim rows side by side at 1,400 px and stacked in one column
at 800 px. The helpers are those of ``benchmarks/report_screenshots.py``, which also takes the
screenshots to look at."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from interpclaims.report import render_html

from .test_report_page import MANIFEST, MATRIX, _claims, est, row


def _shots() -> ModuleType:
    path = Path(__file__).parents[1] / "benchmarks" / "report_screenshots.py"
    spec = importlib.util.spec_from_file_location("report_screenshots", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shots = _shots()
pytestmark = pytest.mark.skipif(shots.chromium() is None,
                                reason="chromium is not installed (the layout check needs it)")


@pytest.fixture(scope="module")
def page() -> str:
    """A report with what tends to overflow: long unbroken names, a wide sweep, long warnings."""
    claims = _claims()
    long_name = "t/test_x.py::test_" + "a_very_long_claim_name_without_spaces" * 3
    wide = copy.deepcopy(MATRIX)
    n = 24
    wide |= {"cols": [f"pos{i}" for i in range(n)], "col_tokens": [f"token{i}" for i in range(n)],
             "value": [[0.5] * n] * 2, "ci_low": [[0.4] * n] * 2, "ci_high": [[0.6] * n] * 2}
    cell = est(0.5, 0.4, 0.6, label="patch_sweep(...)[L0, pos2]",
               context={"matrix": wide, "cell": ["L0", "pos2"]})
    for backend in ("tl", "nnsight"):
        claims.append(row(long_name, backend, "SUPPORTED", cell,
                          warnings=["low_power: " + "x" * 200]))
    return render_html({"schema_version": 2, "manifest": MANIFEST, "claims": claims,
                        "errors": [{"nodeid": long_name, "when": "call", "message": "y" * 300}]})


@pytest.mark.parametrize(("width", "columns"), [(1400, 3), (800, 1)])
def test_no_horizontal_overflow(page, width, columns):
    scroll, inner, cols = shots.layout(page, width)
    assert inner == width
    assert scroll <= inner, f"{width} px window: the page is {scroll} px wide"
    assert cols == columns


def test_overflow_is_detected(page):
    """The measurement can fail: a 3,000 px wide block overflows."""
    wide = page.replace("<main>", '<main><div style="width: 3000px">wide</div>')
    scroll, inner, _ = shots.layout(wide, 1400)
    assert scroll >= 3000 > inner


SHOWN = "document.body.dataset.shown = document.querySelectorAll('article.row:not([hidden])').length;"


@pytest.mark.parametrize(("action", "shown"), [
    ("", 7),
    # hide the supported claims: the failed, the expected refutation and the regression remain
    ("document.querySelector('input[value=supported]').checked = false;", 3),
    # only nnsight: the claims that ran on it
    ("document.getElementById('backend').value = 'nnsight';", 4),
])
def test_filters_run_in_the_browser(page, action, shown):
    change = "document.getElementById('controls').dispatchEvent(new Event('change'));"
    dom = shots.dump_dom(page, 1400, script=action + change + SHOWN)
    assert 'data-ready="1"' in dom  # the page's script ran to its end
    assert f'data-shown="{shown}"' in dom


def test_sort_puts_failures_first(page):
    first = ("document.body.dataset.first = document.querySelector('section.group article.row')"
             ".dataset.name;")
    change = "document.getElementById('controls').dispatchEvent(new Event('change'));"
    unsorted = shots.dump_dom(page, 1400, script=first)
    assert 'data-first="t/test_heads.py::test_induction"' in unsorted
    dom = shots.dump_dom(page, 1400, script="document.getElementById('sort').value = 'status';"
                         + change + first)
    assert 'data-first="t/test_heads.py::test_beats_control"' in dom
