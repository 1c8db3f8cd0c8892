"""Kafka authentication and ACLs on the real local broker's SASL_PLAINTEXT listener.

The local broker (deploy/local/stack.sh) has the SCRAM-SHA-512 users of docker-compose.yml
(admin and one per service, passwords in .local/secrets/kafka_<user>) on a second listener, with
StandardAuthorizer. This run's ACLs are those of ``chungtay_common.kafka_acls`` for the run's
own namespace, applied as the admin (as `stack ready --acls` does in compose) and removed
afterwards. Every client is made from the project's settings (``kafka_security()``).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from chungtay_common import kafka_acls
from chungtay_common.auth import Role
from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import LOCAL_STATE, KafkaSecurityProtocol, ServiceSettings
from chungtay_common.stack import SERVICES as ALL_SERVICES
from chungtay_common.stack import ensure_topics
from chungtay_common.topics import TOPICS, topic_name
from tests.conftest import TestStack, delete_topics
from tests.harness import ServiceProcess, running
from tests.support import bearer, eventually, find, ok, register_unit

pytestmark = pytest.mark.deploy

SERVICES = tuple(kafka_acls.CONSUMES)


def _password(user: str) -> str:
    return (LOCAL_STATE / "secrets" / f"kafka_{user}").read_text().strip()


def _sasl_bootstrap(stack: TestStack) -> str:
    bootstrap = stack.env.get("CHUNGTAY_KAFKA_SASL_BOOTSTRAP")
    assert bootstrap, "no SASL listener in the local stack: restart Kafka (stack.sh kafka-stop; up)"
    return bootstrap


@pytest.fixture(scope="module")
async def ns(stack: TestStack) -> AsyncIterator[str]:
    """A topic namespace and databases of this module's own: its consumer groups must not meet
    those of the services other tests run in the session's namespace."""
    namespace = f"{stack.namespace}ka"
    settings = stack.settings(ServiceSettings, "registration")
    admin = settings.dsn("postgres")
    for service in ALL_SERVICES:
        await ensure_database(admin, f"{namespace}_{service}")
    await ensure_topics(settings, namespace)
    yield namespace
    for service in ALL_SERVICES:
        await drop_database(admin, f"{namespace}_{service}")
    await delete_topics(settings, namespace)


def _as(stack: TestStack, user: str, ns: str, password: str | None = None) -> ServiceSettings:
    """Settings of ``user`` on the SASL listener, as a service reads them from its environment."""
    return ServiceSettings(
        service_name=user, topic_namespace=ns,
        kafka_bootstrap=_sasl_bootstrap(stack),
        kafka_security_protocol=KafkaSecurityProtocol.SASL_PLAINTEXT,
        kafka_username=user, kafka_password=SecretStr(password or _password(user)))


@pytest.fixture(scope="module")
async def acls(stack: TestStack, ns: str) -> AsyncIterator[None]:
    admin = _as(stack, kafka_acls.ADMIN, ns)
    assert await kafka_acls.apply(admin, ns) == len(kafka_acls.all_acls(ns))
    yield
    await kafka_acls.remove(admin, ns)


async def _produce(settings: ServiceSettings, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True, request_timeout_ms=10_000,
                                **settings.kafka_security())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"acl-test")
    finally:
        await producer.stop()


async def _consume(settings: ServiceSettings, topic: str, group: str | None) -> None:
    """Read ``topic`` in ``group`` (or in none) and fetch once, committing nothing."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=10_000,
                                **settings.kafka_security())
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


def _published_by(service: str) -> list[str]:
    return [owner for owner, spec in TOPICS.items() if (spec.publisher or owner) == service]


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_writes_its_own_topic_and_no_other(
    stack: TestStack, acls: None, ns: str, service: str,
) -> None:
    settings = _as(stack, service, ns)
    own = kafka_acls.publishes(service)
    assert own == [o for o in _published_by(service) if o != "deadletter"] and len(own) == 1
    await _produce(settings, topic_name(own[0], ns))
    if kafka_acls.CONSUMES[service]:  # a consumer dead-letters what it cannot use
        await _produce(settings, topic_name("deadletter", ns))
    for owner in TOPICS:
        if owner in own or (owner == "deadletter" and kafka_acls.CONSUMES[service]):
            continue
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(settings, topic_name(owner, ns))


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_reads_only_the_topics_it_consumes(
    stack: TestStack, acls: None, ns: str, service: str,
) -> None:
    settings = _as(stack, service, ns)
    group = kafka_acls.group_id(ns, service)
    for owner in kafka_acls.CONSUMES[service]:
        await _consume(settings, topic_name(owner, ns), group)
    for owner in set(TOPICS) - set(kafka_acls.CONSUMES[service]):
        # with no group: what is refused is the topic itself (its own topic included)
        with pytest.raises(TopicAuthorizationFailedError):
            await _consume(settings, topic_name(owner, ns), None)


async def test_a_service_cannot_use_another_services_group(stack: TestStack, acls: None,
                                                           ns: str) -> None:
    awards = _as(stack, "awards", ns)
    with pytest.raises(GroupAuthorizationFailedError):
        await _consume(awards, topic_name("registration", ns),
                       kafka_acls.group_id(ns, "reporting"))


async def test_a_wrong_password_is_refused(stack: TestStack, acls: None, ns: str) -> None:
    stranger = _as(stack, "registration", ns, password=uuid.uuid4().hex)
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await _produce(stranger, topic_name("registration", ns))


def _plan_of(stack: TestStack, service: str,
             monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str | None]:
    """The ServicePlan and topic owner ``service``'s build_app gives to service_app."""
    api = importlib.import_module(f"services.{service}.api")
    settings_module = importlib.import_module(f"services.{service}.settings")
    cls = getattr(settings_module, f"{service.capitalize()}Settings")
    seen: dict[str, Any] = {}

    def capture(plan: Any, **kw: Any) -> Any:
        seen.update(plan=plan, topic_owner=kw.get("topic_owner"))
        return SimpleNamespace(state=SimpleNamespace())  # an app, as far as build_app goes

    monkeypatch.setattr(api, "service_app", capture)
    api.build_app(stack.settings(cls, service))
    return seen["plan"], seen["topic_owner"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_acls_follow_what_each_service_publishes_and_consumes(
    stack: TestStack, service: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan, topic_owner = _plan_of(stack, service, monkeypatch)
    assert set(plan.subscriptions) == set(kafka_acls.CONSUMES[service])
    assert kafka_acls.publishes(service) == ([topic_owner] if plan.publishes else [])


def _sasl_env(stack: TestStack, service: str, ns: str) -> dict[str, str]:
    return {
        "CHUNGTAY_TOPIC_NAMESPACE": ns,
        "CHUNGTAY_PG_DATABASE": f"{ns}_{service}",
        "CHUNGTAY_KAFKA_BOOTSTRAP": _sasl_bootstrap(stack),
        "CHUNGTAY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CHUNGTAY_KAFKA_USERNAME": service,
        "CHUNGTAY_KAFKA_PASSWORD": _password(service),
    }


async def _health(proc: ServiceProcess) -> dict[str, Any]:
    async with proc.client() as client:
        body: dict[str, Any] = ok(await client.get("/health"), 200)
        return body


async def test_the_services_run_under_their_acls(
    stack: TestStack, acls: None, ns: str, unique_code: Callable[[], str],
) -> None:
    """Every service over SASL as itself: consumers up; a registered unit goes through
    registration's outbox and topic to reporting."""
    procs = {s: ServiceProcess(stack, s, extra_env=_sasl_env(stack, s, ns)) for s in SERVICES}
    admin = bearer(stack.token(Role.ADMIN))
    async with running(*procs.values()):
        for proc in procs.values():
            await _health(proc)
        async with procs["registration"].client() as registration:
            province = await register_unit(registration, admin, kind="province",
                                           subkind="tinh", code=unique_code(),
                                           name=f"Tỉnh SASL {uuid.uuid4().hex[:6]}")
        async for attempt in eventually(30):
            with attempt:
                async with procs["reporting"].client() as reporting:
                    tree = ok(await reporting.get("/v1/units/tree",
                                                  params={"as_of": "2018-01-01"},
                                                  headers=admin), 200)
                assert find(tree, province["unit_id"]) is not None
        # A message no one can use, on every topic: each consumer must read it from every
        # topic it consumes and dead-letter it, as itself.
        marker = uuid.uuid4().hex.encode()
        consumed = {owner for owners in kafka_acls.CONSUMES.values() for owner in owners}
        plain = stack.settings(ServiceSettings, "registration")  # the unrestricted listener
        producer = AIOKafkaProducer(bootstrap_servers=plain.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for owner in consumed:
                await producer.send_and_wait(topic_name(owner, ns), b"not json",
                                             key=marker)
        finally:
            await producer.stop()
        expected = {(service, topic_name(owner, ns))
                    for service, owners in kafka_acls.CONSUMES.items() for owner in owners}
        assert await _dead_lettered(plain, ns, marker, len(expected)) == expected
        for proc in procs.values():  # still healthy
            await _health(proc)


async def _dead_lettered(settings: ServiceSettings, namespace: str, marker: bytes, count: int
                         ) -> set[tuple[str, str]]:
    """(consumer, source topic) of the dead letters keyed ``marker``, once there are ``count``."""
    consumer = AIOKafkaConsumer(topic_name("deadletter", namespace),
                                bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: set[tuple[str, str]] = set()
    try:
        async for attempt in eventually(30):
            with attempt:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for m in messages:
                        if m.key == marker:
                            headers = {k: v.decode() for k, v in m.headers}
                            found.add((headers["x-dlq-consumer"], headers["x-dlq-topic"]))
                assert len(found) >= count, found
    finally:
        await consumer.stop()
    return found


async def test_the_service_settings_refuse_sasl_without_credentials() -> None:
    with pytest.raises(ValueError, match="CHUNGTAY_KAFKA_USERNAME"):
        ServiceSettings(kafka_security_protocol=KafkaSecurityProtocol.SASL_PLAINTEXT,
                        kafka_password=SecretStr("x"))
    assert ServiceSettings().kafka_security() == {"security_protocol": "PLAINTEXT"}
