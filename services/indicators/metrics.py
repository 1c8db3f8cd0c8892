"""Metrics of the indicators service (the shared ones are in ``chungtay_common.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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

REMINDER_NOTICES = Counter(
    "chungtay_indicators_reminder_notices_total",
    "Reminder notices put in units' inboxes, by kind (before_due, after_due, escalation).",
    ["kind"])
REMINDER_DELIVERIES = Counter(
    "chungtay_indicators_reminder_deliveries_total",
    "Tries to deliver a notice, by channel (email, webhook) and outcome: sent, failed (tried "
    "again later), retried (a try after a failed one), dead (failed its last try).",
    ["channel", "outcome"])
REMINDER_DELIVERIES_WAITING = Gauge(
    "chungtay_indicators_reminder_deliveries_waiting",
    "Deliveries not sent, by channel and status (pending: due or waiting for a retry; dead).",
    ["channel", "status"])

# Every known label value is exported from the start (at 0), so dashboards and alerts see the
# series before the first event.
for _action in ("save", "submit", "return", "accept", "reopen"):
    REPORT_ACTIONS.labels(_action)
for _punctuality in ("on_time", "late"):
    REPORTS_SUBMITTED.labels(_punctuality)
for _reason in ("invalid_values", "missing_required"):
    REPORT_REFUSALS.labels(_reason)
for _kind in ("before_due", "after_due", "escalation"):
    REMINDER_NOTICES.labels(_kind)
for _channel in ("email", "webhook"):
    for _outcome in ("sent", "failed", "retried", "dead"):
        REMINDER_DELIVERIES.labels(_channel, _outcome)
    for _status in ("pending", "dead"):
        REMINDER_DELIVERIES_WAITING.labels(_channel, _status)
