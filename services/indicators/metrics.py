"""Metrics of the indicators service (the shared ones are in ``chungtay_common.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

REPORT_ACTIONS = Counter(
    "chungtay_indicators_report_actions_total",
    "Report changes, by action (save, submit, return, accept, reopen).", ["action"])
REPORTS_SUBMITTED = Counter(
    "chungtay_indicators_reports_submitted_total",
    "Report submissions, by punctuality of the first submission (on_time, late).",
    ["punctuality"])
REPORT_REFUSALS = Counter(
    "chungtay_indicators_report_refusals_total",
    "Report writes refused, by reason (invalid_values, missing_required).", ["reason"])
OVERDUE_NOTICES = Counter(
    "chungtay_indicators_overdue_notices_total", "report.overdue events sent.")
REPORT_WRITE_RACES = Counter(
    "chungtay_indicators_report_write_races_total",
    "Report writes outside a transaction that found the report changed since they read it, "
    "and were worked out again under locks.")
IMPORTED_VALUES = Counter(
    "chungtay_indicators_imported_values_total", "Values taken from imported files.")

# Every known label value is exported from the start (at 0), so dashboards and alerts see the
# series before the first event.
for _action in ("save", "submit", "return", "accept", "reopen"):
    REPORT_ACTIONS.labels(_action)
for _punctuality in ("on_time", "late"):
    REPORTS_SUBMITTED.labels(_punctuality)
for _reason in ("invalid_values", "missing_required"):
    REPORT_REFUSALS.labels(_reason)
