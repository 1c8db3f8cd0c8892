"""Metrics of the reporting service (the shared ones are in ``chungtay_common.metrics``)."""

from __future__ import annotations

from prometheus_client import Gauge

UNITS_KNOWN = Gauge(
    "chungtay_reporting_units_known", "Units in the reporting service's copy of the hierarchy."
)
