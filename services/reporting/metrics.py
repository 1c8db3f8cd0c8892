"""Metrics of the reporting service (the shared ones are in ``chungtay_common.metrics``).

Labels are bounded: event types and source topics; campaigns by code, years, levels and the
units of the district and province levels (never a commune, a person or an id)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FRESHNESS = Histogram(
    "chungtay_reporting_freshness_seconds",
    "From an event's occurred_at to the moment its effect is committed in the views.",
    ["source"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
EVENTS_APPLIED = Counter(
    "chungtay_reporting_events_applied_total",
    "Events applied to the views, by type (duplicates and ignored types not counted).",
    ["event_type"],
)
SNAPSHOTS_PUBLISHED = Counter(
    "chungtay_reporting_snapshots_published_total",
    "Central summaries published to the ministry feed.",
)
REBUILD_EVENTS = Gauge(
    "chungtay_reporting_rebuild_events",
    "Events replayed by the running (or last) rebuild of the views.",
)
REBUILD_PROGRESS = Gauge(
    "chungtay_reporting_rebuild_progress_ratio",
    "How far the running (or last) rebuild has read the topics (0 to 1; 1 when swapped in).",
)
_CAMPAIGN = ["campaign", "year", "level", "unit", "name"]
POOR_RATE = Gauge("chungtay_campaign_poor_rate_percent",
                  "Poor-household rate (ratio of sums over the communes).", _CAMPAIGN)
REDUCTION = Gauge("chungtay_campaign_reduction_points",
                  "Reduction of the poor-household rate against the year before (points).",
                  _CAMPAIGN)
ATTAINMENT = Gauge("chungtay_campaign_target_attainment_percent",
                   "Reduction achieved as a share of the target reduction.", _CAMPAIGN)
REPORTS = Gauge("chungtay_campaign_reports",
                "Reports expected of the units below, by punctuality.",
                [*_CAMPAIGN, "punctuality"])
NOMINATIONS = Gauge("chungtay_campaign_nominations", "Nominations by year and status.",
                    ["year", "status"])
AWARDS = Gauge("chungtay_campaign_awards",
               "Awards granted (approved, not revoked) by year, form and authority level.",
               ["year", "form", "authority_level"])
DUE_AGE = Gauge("chungtay_campaign_cycle_due_age_seconds",
                "Seconds since the cycle's due date (negative before it).", ["campaign", "year"])
CAMPAIGN_GAUGES = (POOR_RATE, REDUCTION, ATTAINMENT, REPORTS, NOMINATIONS, AWARDS, DUE_AGE)
ANSWERS = Counter("chungtay_reporting_answers_total",
                  "Answers of the summary routes (provincial, central, rankings), by route and "
                  "whether kept since the views last changed or computed.", ["route", "source"])
for _route in ("provincial", "central", "rankings"):
    for _source in ("kept", "computed"):
        ANSWERS.labels(_route, _source)
ROLLUP_CHANGES = Counter(
    "chungtay_reporting_rollup_changes_total",
    "Facts changed by report submissions in the live consumer's batches, by how the rollups "
    "above them were brought up to date: by difference, or recomputed from the subtree.",
    ["how"])
for _how in ("difference", "recomputed"):
    ROLLUP_CHANGES.labels(_how)
