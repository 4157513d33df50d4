"""The report: the controller's reporter, the claims.json document and the HTML page."""

from __future__ import annotations

from interpclaims.report._document import RunSettings, build_report
from interpclaims.report._html import render_html
from interpclaims.report._reporter import Reporter

__all__ = ["Reporter", "RunSettings", "build_report", "render_html"]
