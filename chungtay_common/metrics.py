"""Metrics every service exposes; each service declares its own in its ``metrics.py``.

Labels are bounded: route templates, HTTP methods and status codes, event types, topics and
partitions; never a unit, a person or an event id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "chungtay_http_requests_total", "HTTP requests handled.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "chungtay_http_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge(
    "chungtay_outbox_backlog", "Outbox rows written but not yet published to Kafka."
)
OUTBOX_OLDEST_AGE = Gauge(
    "chungtay_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none).",
)
OUTBOX_PUBLISHED = Counter(
    "chungtay_outbox_published_total", "Events published from the outbox.", ["event_type"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "chungtay_outbox_publish_failures_total", "Failed attempts to publish an outbox batch."
)
EVENTS_CONSUMED = Counter(
    "chungtay_events_consumed_total",
    "Events consumed, by type and outcome (applied, duplicate, ignored).",
    ["event_type", "outcome"],
)
EVENT_PROCESSING = Histogram(
    "chungtay_event_processing_seconds",
    "Time to process one consumed event, transaction included.",
    ["event_type"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
DEAD_LETTERS = Counter(
    "chungtay_dead_letters_total",
    "Messages sent to the dead-letter topic, by source topic and reason class.",
    ["topic", "reason"],
)
CONSUMER_LAG = Gauge(
    "chungtay_consumer_lag_messages",
    "Messages in the partition after the last one processed.",
    ["topic", "partition"],
)
HOUSEKEEPING_REMOVED = Counter(
    "chungtay_housekeeping_removed_rows_total",
    "Rows removed by housekeeping: published outbox rows, processed-event records older than "
    "the topics' retention, expired idempotency records.",
    ["table"],
)
HOUSEKEEPING_LAST_RUN = Gauge(
    "chungtay_housekeeping_last_success_timestamp_seconds",
    "When housekeeping last swept every table to the end (Unix time).",
)
TABLE_ROWS = Gauge(
    "chungtay_table_rows",
    "Rows in the tables housekeeping bounds (PostgreSQL's live-row estimate after a sweep).",
    ["table"],
)
