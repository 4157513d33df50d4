"""Render a claims report and look at it in headless Chromium at 1400 px and 800 px.

    python benchmarks/report_screenshots.py                          # runs claims/ (about 1 minute)
    python benchmarks/report_screenshots.py --json reports/claims.json   # an existing report
    python benchmarks/report_screenshots.py --out /tmp/shots --height 2400

Writes ``claims.html`` (rendered by this checkout's ``interpclaims.report.render_html``) and
``shot-1400.png`` / ``shot-800.png`` into ``--out``, and prints for each width the page's
``scrollWidth`` against the window's ``innerWidth`` (horizontal overflow when larger) and the
columns of a claim row. Open the PNGs
and look: banner, forest-plot axes, heatmaps, manifest tables. ``tests/test_report_browser.py``
checks the overflow with the same helpers when Chromium is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = (1400, 800)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
# appended to a copy of the page: record the page's width, the window's and the number of grid
# columns of a claim row where --dump-dom can read them
PROBE = ("<script>var r = document.querySelector('article.row');"
         "document.body.dataset.layout = [document.documentElement.scrollWidth, window.innerWidth,"
         " r ? getComputedStyle(r).gridTemplateColumns.split(' ').length : 0].join(' ');"
         "</script>")


def chromium() -> str | None:
    """The Chromium executable, or ``None`` when none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], profile: str) -> str:
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    return done.stdout


def dump_dom(html: str, width: int, height: int = 900, script: str = "") -> str:
    """The DOM of ``html`` after its scripts ran in a ``width`` px wide window, with ``script``
    and :data:`PROBE` run at the end of the body."""
    with tempfile.TemporaryDirectory(prefix="ic-html-") as tmp:
        page = Path(tmp) / "page.html"
        extra = (f"<script>{script}</script>" if script else "") + PROBE
        page.write_text(html.replace("</body>", extra + "</body>"), encoding="utf-8")
        return _run([f"--window-size={width},{height}", "--virtual-time-budget=2000",
                     "--dump-dom", page.as_uri()], str(Path(tmp) / "profile"))


def layout(html: str, width: int, height: int = 900) -> tuple[int, int, int]:
    """``(scrollWidth, innerWidth, columns)`` of ``html`` laid out in a ``width`` px wide
    window: horizontal overflow when the first exceeds the second; ``columns``: of the first
    claim row (3 side by side, 1 stacked)."""
    dom = dump_dom(html, width, height)
    found = re.search(r'data-layout="(\d+) (\d+) (\d+)"', dom)
    if not found:
        raise RuntimeError(f"chromium did not lay out the page (dump: {dom[:200]!r})")
    scroll, inner, columns = (int(g) for g in found.groups())
    return scroll, inner, columns


def screenshot(page: Path, width: int, height: int, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ic-chr-") as profile:
        _run([f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()], profile)


def _claims_json(out: Path) -> dict:
    """Run the shipped claims into ``out`` and read their report."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "pytest", "claims/", "-q", "-p", "no:cacheprovider",
                    f"--claims-report-dir={out}"], env=env, check=False)
    return json.loads((out / "claims.json").read_text(encoding="utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="an existing claims.json (default: run claims/)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/interpclaims-shots"))
    ap.add_argument("--height", type=int, default=1800, help="window height of the screenshots")
    args = ap.parse_args()
    from interpclaims.report import render_html

    args.out.mkdir(parents=True, exist_ok=True)
    data = (json.loads(args.json.read_text(encoding="utf-8")) if args.json
            else _claims_json(args.out))
    html = render_html(data)
    page = args.out / "claims.html"
    page.write_text(html, encoding="utf-8")
    for width in WIDTHS:
        shot = args.out / f"shot-{width}.png"
        screenshot(page, width, args.height, shot)
        scroll, inner, columns = layout(html, width)
        verdict = "overflows" if scroll > inner else "fits"
        print(f"{width} px: scrollWidth {scroll}, innerWidth {inner} ({verdict}), "
              f"{columns} column(s) per claim row; {shot}")


if __name__ == "__main__":
    main()
