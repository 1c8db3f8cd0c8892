"""Settings of the reporting service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from pydantic import Field

from chungtay_common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    gauges_seconds: float = Field(default=5.0, gt=0)  # campaign gauges refreshed this often
