"""The report: the controller's reporter, the claims.json document and the HTML page."""

from __future__ import annotations

from interpclaims.report._baseline import FailOn, parse_fail_on
from interpclaims.report._document import RunSettings, build_report
from interpclaims.report._html import render_html
from interpclaims.report._plan import PlanReporter, plan_document
from interpclaims.report._reporter import Reporter
from interpclaims.report._table import PROPERTIES, claim_row, read_report

__all__ = ["PROPERTIES", "FailOn", "PlanReporter", "Reporter", "RunSettings", "build_report",
           "claim_row", "parse_fail_on", "plan_document", "read_report", "render_html"]
