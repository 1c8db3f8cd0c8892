"""Settings of the indicators service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from chungtay_common.settings import ServiceSettings


class IndicatorsSettings(ServiceSettings):
    service_name: str = "indicators"
    # the report steps' statements read and write over parameter arrays: planned once per
    # connection instead of on every request (measured: 1.3 ms a read planned anew, 0.25 ms
    # with its generic plan, on the national data set)
    pg_plan_cache_mode: Literal["auto", "force_generic_plan", "force_custom_plan"] = (
        "force_generic_plan")
    overdue_check_seconds: float = Field(default=30.0, gt=0)
    import_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    import_max_rows: int = Field(default=50_000, ge=1)

    @model_validator(mode="after")
    def _body_limit_fits_imports(self) -> IndicatorsSettings:
        # The body limit applies to every route before any of them runs; the import route
        # needs files up to import_max_bytes (and then says so itself with a clear 413).
        self.max_body_bytes = max(self.max_body_bytes, self.import_max_bytes + 64 * 1024)
        return self
