"""Metrics of the registration service (the shared ones are in ``chungtay_common.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

UNIT_CHANGES = Counter(
    "chungtay_registration_unit_changes_total",
    "Changes made to units, by kind of change (registered, renamed, moved, closed, merged, split).",
    ["change"],
)
IMPORTED_ROWS = Counter(
    "chungtay_registration_import_rows_total",
    "Rows of bulk imports, by outcome (created, unchanged).",
    ["outcome"],
)

# Every known label value is exported from the start (at 0).
for _change in ("registered", "renamed", "moved", "closed", "merged", "split"):
    UNIT_CHANGES.labels(_change)
for _outcome in ("created", "unchanged"):
    IMPORTED_ROWS.labels(_outcome)
