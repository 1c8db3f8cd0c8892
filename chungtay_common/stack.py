"""Make the local stack ready: wait for PostgreSQL and Kafka, create databases and topics.

    python -m chungtay_common.stack ready [--namespace chungtay] [--acls]

Called by ``deploy/local/stack.sh up`` and by the test session. Idempotent. ``--acls`` also
creates the services' Kafka ACLs (``chungtay_common.kafka_acls``): it needs a super user.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Mapping

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import SecurityDisabled, TopicAlreadyExistsError
from tenacity import AsyncRetrying, before_sleep_log, stop_after_delay, wait_fixed

from chungtay_common import kafka_acls
from chungtay_common.db import ensure_database
from chungtay_common.settings import LOCAL_STATE, Environment, ServiceSettings
from chungtay_common.tokens import keygen
from chungtay_common.topics import TOPICS

log = logging.getLogger("chungtay.stack")

SERVICES = ("registration", "indicators", "awards", "reporting")


def stack_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (an environment) with the local stack's connection settings added from
    ``.local/stack.env`` (written by ``deploy/local/stack.sh up``); ``base`` wins."""
    env: dict[str, str] = {}
    path = LOCAL_STATE / "stack.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                env[key] = value
    return {**env, **base}


def _waiting(timeout: float) -> AsyncRetrying:
    return AsyncRetrying(
        wait=wait_fixed(0.5),
        stop=stop_after_delay(timeout),
        before_sleep=before_sleep_log(log, logging.INFO),
        reraise=True,
    )


async def wait_for_postgres(settings: ServiceSettings, timeout: float = 60) -> None:
    async for attempt in _waiting(timeout):
        with attempt:
            conn = await asyncpg.connect(settings.dsn("postgres"), timeout=5)
            await conn.fetchval("SELECT 1")
            await conn.close()


async def wait_for_kafka(settings: ServiceSettings, timeout: float = 90) -> None:
    async for attempt in _waiting(timeout):
        with attempt:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000,
                **settings.kafka_security(),
            )
            await admin.start()
            try:
                await admin.list_topics()
            finally:
                await admin.close()


async def ensure_topics(settings: ServiceSettings, namespace: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                **settings.kafka_security())
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for spec in TOPICS.values():
            name = spec.name(namespace)
            if name in existing:
                continue
            try:
                await admin.create_topics(
                    [NewTopic(name, num_partitions=spec.partitions,
                              replication_factor=settings.kafka_replication_factor)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return created


async def ready(namespace: str, database_prefix: str = "chungtay", acls: bool = False) -> None:
    settings = ServiceSettings()
    if settings.environment is Environment.DEVELOPMENT:
        keygen()  # development signing key; elsewhere only a public key is configured
    await wait_for_postgres(settings)
    await wait_for_kafka(settings)
    for service in SERVICES:
        if await ensure_database(settings.dsn("postgres"), f"{database_prefix}_{service}"):
            log.info("created database %s_%s", database_prefix, service)
    for name in await ensure_topics(settings, namespace):
        log.info("created topic %s", name)
    if acls:
        try:
            log.info("%d Kafka ACLs in place for %s", await kafka_acls.apply(settings, namespace),
                     namespace)
        except SecurityDisabled:
            log.warning("Kafka runs without an authorizer: no ACLs created")
    log.info("stack ready: kafka %s, postgres %s:%s", settings.kafka_bootstrap,
             settings.pg_host, settings.pg_port)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m chungtay_common.stack")
    parser.add_argument("command", choices=["ready"])
    parser.add_argument("--namespace", default=ServiceSettings().topic_namespace)
    parser.add_argument("--acls", action="store_true",
                        help="also create the services' Kafka ACLs (as a super user)")
    args = parser.parse_args()
    asyncio.run(ready(args.namespace, acls=args.acls))


if __name__ == "__main__":
    main()
