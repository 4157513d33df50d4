"""The report: the controller's reporter, the claims.json document and the HTML page."""

from __future__ import annotations

from interpclaims.report._reporter import Reporter, build_report, render_html

__all__ = ["Reporter", "build_report", "render_html"]
