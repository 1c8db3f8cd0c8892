"""Settings of the reporting service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from chungtay_common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
