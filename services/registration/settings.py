"""Settings of the registration service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from pydantic import Field

from chungtay_common.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    service_name: str = "registration"
    import_max_rows: int = Field(default=5000, ge=1)
