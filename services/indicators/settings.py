"""Settings of the indicators service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from pydantic import Field

from chungtay_common.settings import ServiceSettings


class IndicatorsSettings(ServiceSettings):
    service_name: str = "indicators"
    overdue_check_seconds: float = Field(default=30.0, gt=0)
    import_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    import_max_rows: int = Field(default=50_000, ge=1)
