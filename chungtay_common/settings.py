"""Typed settings read from the environment (prefix ``CHUNGTAY_``), one object per service."""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_STATE = REPO_ROOT / ".local"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class KafkaSecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"  # no authentication: the local stack and the tests
    SASL_PLAINTEXT = "SASL_PLAINTEXT"  # SCRAM on a private network (docker-compose.yml)
    SASL_SSL = "SASL_SSL"  # SCRAM over TLS


class ServiceSettings(BaseSettings):
    """Settings every service has; a service subclasses it and sets ``service_name``."""

    model_config = SettingsConfigDict(env_prefix="CHUNGTAY_", extra="ignore")

    service_name: str = "chungtay"
    environment: Environment = Environment.DEVELOPMENT

    kafka_bootstrap: str = "127.0.0.1:19092"
    # Topics are named "<namespace>.<owner>.v<version>"; tests use a namespace per run.
    topic_namespace: str = "chungtay"
    # replicas of each topic the services create (theirs, faust's own): 1 on a single broker,
    # 3 on a cluster (docs/scaling.md), with the brokers' min.insync.replicas at 2
    kafka_replication_factor: int = Field(default=1, ge=1, le=5)
    # how long the broker may hold a fetch of the service's consumer that found nothing new
    # (``chungtay_common.consumer``): faust's 1.5 s, shorter where events must not wait
    kafka_fetch_max_wait_ms: int = Field(default=1500, ge=10, le=30_000)
    # Who the service is to Kafka: with SASL the broker's ACLs let each service write only its
    # own topic and read only the topics it consumes (chungtay_common/kafka_acls.py).
    kafka_security_protocol: KafkaSecurityProtocol = KafkaSecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # SASL_SSL: the brokers' CA (default: the system's)

    pg_host: str = "127.0.0.1"
    pg_port: int = 15432
    pg_user: str = "chungtay"
    pg_password: SecretStr | None = None
    pg_database: str | None = None  # defaults to "chungtay_<service_name>"
    pg_pool_max: int = Field(default=10, ge=1, le=100)
    # PostgreSQL's plan_cache_mode for the pool's sessions: "auto" plans a prepared statement
    # anew for its parameters while a generic plan looks costlier, which for the statements
    # over parameter arrays (unnest) is every time; see the README's Performance section
    pg_plan_cache_mode: Literal["auto", "force_generic_plan", "force_custom_plan"] = "auto"

    jwt_issuer: str = "chungtay-dev"
    jwt_audience: str = "chungtay"
    # the longest a token may live (exp - iat): hours for people; a deployment whose service
    # accounts hold longer tokens raises it
    jwt_max_lifetime_hours: float = Field(default=12.0, gt=0, le=24 * 366)
    jwt_public_key_file: Path | None = None
    jwt_public_key: SecretStr | None = None

    # where a service may keep local files (faust's data folder); git-ignored in a checkout
    state_dir: Path = LOCAL_STATE
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    outbox_poll_seconds: float = Field(default=0.2, gt=0)
    lag_check_seconds: float = Field(default=5.0, gt=0)
    # how long a write's response is kept for its retries (Idempotency-Key): it holds personal
    # data, so it is forgotten afterwards
    idempotency_hours: float = Field(default=24.0, gt=0, le=24 * 31)
    # Housekeeping (chungtay_common/housekeeping.py) sweeps every so many seconds: published
    # outbox rows kept outbox_keep_hours after publication (to look into), processed-event
    # records kept events_retention_hours, which must be at least the brokers' retention
    # (log.retention.hours + segment.ms: a segment goes when its newest record expires) so that
    # a redelivered event is still recognised as applied
    housekeeping_seconds: float = Field(default=3600.0, gt=0)
    outbox_keep_hours: float = Field(default=24.0, ge=0)
    events_retention_hours: float = Field(default=168.0, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _kafka_credentials(self) -> ServiceSettings:
        if self.kafka_security_protocol is not KafkaSecurityProtocol.PLAINTEXT:
            missing = [f"CHUNGTAY_{name.upper()}" for name in ("kafka_username", "kafka_password")
                       if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set when "
                                 f"CHUNGTAY_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}")
        return self

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> ServiceSettings:
        if self.environment is Environment.DEVELOPMENT:
            if self.pg_password is None:
                pw_file = LOCAL_STATE / "secrets" / "pg_password"
                if pw_file.exists():
                    self.pg_password = SecretStr(pw_file.read_text().strip())
            if self.jwt_public_key is None and self.jwt_public_key_file is None:
                self.jwt_public_key_file = LOCAL_STATE / "keys" / "jwt_public.pem"
            return self
        missing = []
        if self.pg_password is None:
            missing.append("CHUNGTAY_PG_PASSWORD")
        if self.jwt_public_key is None and self.jwt_public_key_file is None:
            missing.append("CHUNGTAY_JWT_PUBLIC_KEY or CHUNGTAY_JWT_PUBLIC_KEY_FILE")
        if self.environment is Environment.PRODUCTION:  # whose tokens: no silent defaults
            missing += [f"CHUNGTAY_{name.upper()}" for name in ("jwt_issuer", "jwt_audience")
                        if name not in self.model_fields_set]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} must be set when CHUNGTAY_ENVIRONMENT={self.environment}"
            )
        return self

    @property
    def database(self) -> str:
        return self.pg_database or f"chungtay_{self.service_name}"

    def dsn(self, database: str | None = None) -> str:
        password = self.pg_password.get_secret_value() if self.pg_password else ""
        db = database or self.database
        return (f"postgresql://{quote(self.pg_user, safe='')}:{quote(password, safe='')}"
                f"@{self.pg_host}:{self.pg_port}/{quote(db, safe='')}")

    def kafka_security(self) -> dict[str, Any]:
        """The security keyword arguments of every aiokafka client (producer, consumer, admin)
        the service makes; faust gets the same through ``consumer.broker_credentials``."""
        protocol = self.kafka_security_protocol
        if protocol is KafkaSecurityProtocol.PLAINTEXT:
            return {"security_protocol": protocol.value}
        assert self.kafka_password is not None  # _kafka_credentials
        return {
            "security_protocol": protocol.value,
            "sasl_mechanism": self.kafka_sasl_mechanism,
            "sasl_plain_username": self.kafka_username,
            "sasl_plain_password": self.kafka_password.get_secret_value(),
            "ssl_context": (ssl.create_default_context(cafile=self.kafka_ssl_cafile)
                            if protocol is KafkaSecurityProtocol.SASL_SSL else None),
        }

    def public_key_pem(self) -> str:
        if self.jwt_public_key is not None:
            return self.jwt_public_key.get_secret_value()
        assert self.jwt_public_key_file is not None
        return self.jwt_public_key_file.read_text()
