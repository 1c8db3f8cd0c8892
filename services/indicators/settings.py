"""Settings of the indicators service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from chungtay_common.settings import Environment, ServiceSettings


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

    # Reminders (đôn đốc): who is due a notice is worked out every reminder_check_seconds, and
    # deliveries whose time has come are sent every delivery_check_seconds.
    reminder_check_seconds: float = Field(default=60.0, gt=0)
    delivery_check_seconds: float = Field(default=2.0, gt=0)
    # where the links in reminders point (this service's API as its users reach it)
    public_url: str = "http://127.0.0.1:8003"
    # email through SMTP; without a host, notices go to the inbox and to webhooks only
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Hệ thống chungtay <khong-tra-loi@chungtay.invalid>"
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # a failed delivery is tried again after delivery_retry_seconds, then four times longer
    # each time (at most 6 hours); after delivery_max_attempts tries it is listed as dead
    delivery_retry_seconds: float = Field(default=30.0, gt=0)
    delivery_max_attempts: int = Field(default=6, ge=1, le=50)

    @property
    def smtp_from_address(self) -> str:
        """The envelope sender: the address in ``smtp_from``."""
        return parseaddr(self.smtp_from)[1]

    @model_validator(mode="after")
    def _links_say_where(self) -> IndicatorsSettings:
        # reminders carry links: in production to where users reach the service, never a default
        if self.environment is Environment.PRODUCTION and "public_url" not in self.model_fields_set:
            raise ValueError("CHUNGTAY_PUBLIC_URL must be set when CHUNGTAY_ENVIRONMENT=production "
                             "(the links in reminders point there)")
        return self

    @model_validator(mode="after")
    def _body_limit_fits_imports(self) -> IndicatorsSettings:
        # The body limit applies to every route before any of them runs; the import route
        # needs files up to import_max_bytes (and then says so itself with a clear 413).
        self.max_body_bytes = max(self.max_body_bytes, self.import_max_bytes + 64 * 1024)
        return self
