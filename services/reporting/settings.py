"""Settings of the reporting service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from pydantic import Field

from chungtay_common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    # campaign gauges refreshed this often: Prometheus scrapes every 15 s, and recomputing them
    # more often only spends the CPU the consumers need under load
    gauges_seconds: float = Field(default=15.0, gt=0)
    # the summaries' freshness: an event waits at most this behind a fetch of quiet partitions
    # (chungtay_common.consumer); the other services keep faust's 1.5 s, which costs less
    kafka_fetch_max_wait_ms: int = Field(default=250, ge=10, le=30_000)
