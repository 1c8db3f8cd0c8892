"""Test session wiring: the real local stack (started by ``make test``), a topic namespace and
databases of their own for this run, and tokens signed by a key made for the run."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from chungtay_common.auth import Role
from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import Environment, ServiceSettings
from chungtay_common.stack import (
    SERVICES,
    ensure_topics,
    stack_env,
    wait_for_kafka,
    wait_for_postgres,
)
from chungtay_common.tokens import mint
from chungtay_common.topics import TOPICS


@dataclass(frozen=True)
class TestStack:
    __test__ = False  # not a test class, for pytest

    run_id: str
    namespace: str
    env: dict[str, str]
    public_key: str
    private_key: bytes

    def database(self, service: str) -> str:
        return f"{self.namespace}_{service}"

    def settings_env(self, service: str) -> dict[str, str]:
        """Environment for a service process of this test run."""
        return {
            **self.env,
            "CHUNGTAY_ENVIRONMENT": "test",
            "CHUNGTAY_TOPIC_NAMESPACE": self.namespace,
            "CHUNGTAY_PG_DATABASE": self.database(service),
            "CHUNGTAY_JWT_PUBLIC_KEY": self.public_key,
            "CHUNGTAY_OUTBOX_POLL_SECONDS": "0.1",
        }

    def settings(self, cls: type[ServiceSettings], service: str) -> ServiceSettings:
        env = self.settings_env(service)
        return cls(
            environment=Environment.TEST,
            kafka_bootstrap=env.get("CHUNGTAY_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            topic_namespace=self.namespace,
            pg_host=env.get("CHUNGTAY_PG_HOST", "127.0.0.1"),
            pg_port=int(env.get("CHUNGTAY_PG_PORT", "15432")),
            pg_user=env.get("CHUNGTAY_PG_USER", "chungtay"),
            pg_password=SecretStr(env["CHUNGTAY_PG_PASSWORD"]),
            pg_database=self.database(service),
            jwt_public_key=SecretStr(self.public_key),
            outbox_poll_seconds=0.1,
        )

    def token(self, *roles: Role | str, unit: uuid.UUID | None = None, sub: str = "tester",
              **kw: object) -> str:
        return mint(self.private_key, subject=sub, roles=[str(r) for r in roles], unit_id=unit,
                    **kw)  # type: ignore[arg-type]




@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[TestStack]:
    run_id = uuid.uuid4().hex[:8]
    key = Ed25519PrivateKey.generate()
    env = stack_env({k: v for k, v in os.environ.items() if k.startswith("CHUNGTAY_")})
    if "CHUNGTAY_PG_PASSWORD" not in env:
        pytest.exit("the local stack is not up: run the tests with `make test`", returncode=2)
    stack = TestStack(
        run_id=run_id,
        namespace=f"t{run_id}",
        env=env,
        public_key=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        private_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    admin_settings = stack.settings(ServiceSettings, "registration")
    await wait_for_postgres(admin_settings)
    await wait_for_kafka(admin_settings)
    admin_dsn = admin_settings.dsn("postgres")
    for service in SERVICES:
        await ensure_database(admin_dsn, stack.database(service))
    await ensure_topics(admin_settings, stack.namespace)
    yield stack
    for service in SERVICES:
        await drop_database(admin_dsn, stack.database(service))
    await delete_topics(admin_settings, stack.namespace)


async def delete_topics(settings: ServiceSettings, namespace: str) -> None:
    """Delete a namespace's topics, faust's own ones included."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        ours = [t for t in names if t.startswith(namespace + ".")
                or t.startswith(namespace + "-")]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


# One counter for the whole run: every test's codes differ from every other test's (a random
# start per test let two tests' ranges overlap). Each run has databases of its own.
_CODES = itertools.count(1)


def next_code() -> str:
    """An official-looking code unique in this test run."""
    return f"9{next(_CODES):06d}"


@pytest.fixture
def unique_code() -> Iterator[Callable[[], str]]:
    """Official-looking codes unique to this test run, so tests never collide."""
    yield next_code


REPO = Path(__file__).resolve().parent.parent
assert {*TOPICS} >= {"registration", "deadletter"}
