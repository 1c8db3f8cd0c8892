"""Idempotent event consumption with a dead-letter topic, on faust-streaming.

``EventProcessor.process`` handles one message: it parses and validates it (or sends it, as
received, to the dead-letter topic with the reason in headers, and goes on); then, in one
database transaction, it records the event id in ``processed_events`` and applies the handler.
A redelivered event finds its id already there and changes nothing. The offset is committed by
faust only after ``process`` returns, so nothing is acknowledged before its effect is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, cast

import asyncpg
import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.transport.drivers import aiokafka as faust_kafka
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from chungtay_common import metrics
from chungtay_common.db import Conn
from chungtay_common.events import Envelope, InvalidEvent, parse_event
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import TOPICS, topic_name

log = logging.getLogger(__name__)

# A handler applies one event inside the consumer's transaction. It may return an effect to run
# once that transaction has committed (metrics): a rolled-back or retried event never counts.
AfterCommit = Callable[[], object]
Handler = Callable[[Conn, Envelope[Any]], Awaitable[AfterCommit | None]]
# A message as the agent hands it over: value, key, topic, partition, offset.
Message = tuple[bytes | None, bytes | None, str, int, int]
# At most this many waiting messages are handed to ``process_batch`` at once.
BATCH_MAX = 500

# Errors that say the database is unreachable for now: retry, never dead-letter.
# A deadlock, a serialization failure or the server shutting down also passes: try again.
TRANSIENT = (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
              asyncpg.ConnectionDoesNotExistError, asyncpg.TooManyConnectionsError,
              asyncpg.TransactionRollbackError, asyncpg.OperatorInterventionError)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


class DeadLetters:
    """Publishes messages a consumer cannot use to the dead-letter topic, as received."""

    def __init__(self, bootstrap: str, topic: str, consumer: str, *,
                 security: Mapping[str, Any] | None = None) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
            client_id=f"{consumer}-dlq", **(security or {}),
        )
        self.topic = topic
        self._consumer = consumer

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, raw: bytes | None, key: bytes | None, reason: str, reason_class: str,
        source_topic: str, partition: int, offset: int,
    ) -> None:
        headers = [
            ("x-dlq-reason", reason[:1000].encode()),
            ("x-dlq-reason-class", reason_class.encode()),
            ("x-dlq-consumer", self._consumer.encode()),
            ("x-dlq-topic", source_topic.encode()),
            ("x-dlq-partition", str(partition).encode()),
            ("x-dlq-offset", str(offset).encode()),
        ]
        # Until the message is safely in the dead-letter topic its offset is not committed:
        # keep trying while Kafka is unreachable.
        async for attempt in AsyncRetrying(retry=retry_if_exception_type((KafkaError, OSError)),
                                           wait=wait_exponential(multiplier=0.2, max=5),
                                           reraise=True):
            with attempt:
                await self._producer.send_and_wait(self.topic, value=raw, key=key,
                                                   headers=headers)
        metrics.DEAD_LETTERS.labels(source_topic, reason_class).inc()


class EventProcessor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        handlers: Mapping[str, Handler],
        dead_letters: DeadLetters,
    ) -> None:
        self._pool = pool
        self._handlers = handlers
        self._dead_letters = dead_letters

    async def process(
        self, raw: bytes | None, key: bytes | None, topic: str, partition: int, offset: int
    ) -> Outcome:
        try:
            if raw is None:
                raise InvalidEvent("empty message")
            envelope = parse_event(raw)
        except InvalidEvent as exc:
            log.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, exc)
            await self._dead_letters.send(raw, key, str(exc), "invalid", topic, partition, offset)
            return Outcome.DEAD_LETTERED
        expected = publisher_of(topic)
        if expected is not None and envelope.producer != expected:
            # the topics are a trust boundary: only the topic's owner publishes on it
            reason = f"producer {envelope.producer!r} may not publish on {topic}"
            log.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, reason)
            await self._dead_letters.send(raw, key, reason, "untrusted_producer", topic,
                                          partition, offset)
            return Outcome.DEAD_LETTERED
        handler = self._handlers.get(envelope.event_type)
        if handler is None:
            metrics.EVENTS_CONSUMED.labels(envelope.event_type, Outcome.IGNORED).inc()
            return Outcome.IGNORED
        started = time.perf_counter()
        try:
            outcome = await self._apply_retrying(handler, envelope, topic, partition, offset)
        except Exception as exc:  # a handler that fails for this event would block the stream
            log.exception("handler failed on %s %s", envelope.event_type, envelope.event_id)
            await self._dead_letters.send(
                raw, key, f"handler failed: {exc!r}", "handler_error", topic, partition, offset
            )
            return Outcome.DEAD_LETTERED
        metrics.EVENT_PROCESSING.labels(envelope.event_type).observe(
            time.perf_counter() - started
        )
        metrics.EVENTS_CONSUMED.labels(envelope.event_type, outcome).inc()
        return outcome

    async def _apply_retrying(
        self, handler: Handler, envelope: Envelope[Any], topic: str, partition: int, offset: int
    ) -> Outcome:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        ):
            with attempt:
                return await self._apply(handler, envelope, topic, partition, offset)
        raise AssertionError("unreachable")

    async def _apply(
        self, handler: Handler, envelope: Envelope[Any], topic: str, partition: int, offset: int
    ) -> Outcome:
        async with self._pool.acquire() as conn, conn.transaction():
            await self.begin(conn)
            fresh = await conn.fetchval(
                "INSERT INTO processed_events (event_id, event_type, topic, partition, \"offset\")"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING"
                " RETURNING true",
                envelope.event_id, envelope.event_type, topic, partition, offset,
            )
            if not fresh:
                return Outcome.DUPLICATE
            effect = await handler(conn, envelope)
            await self.applied(conn, envelope, topic, partition, offset)
        if effect is not None:
            effect()
        return Outcome.APPLIED

    async def process_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Process messages in the order read (a subclass may apply them in one transaction,
        as long as the outcome is the same as one at a time)."""
        return [await self.process(*m) for m in messages]

    async def begin(self, conn: Conn) -> None:
        """First statement of every event's transaction (a subclass may take a lock here)."""

    async def applied(self, conn: Conn, envelope: Envelope[Any], topic: str, partition: int,
                      offset: int) -> None:
        """Last statement of an applied event's transaction (a subclass may record where it
        is)."""


def publisher_of(topic: str) -> str | None:
    """The service that may publish on ``topic`` (``<namespace>.<owner>.v<n>``); None for a
    topic that is not one of ours."""
    parts = topic.rsplit(".", 2)
    if len(parts) != 3:
        return None
    spec = TOPICS.get(parts[1])
    if spec is None or parts[2] != f"v{spec.version}":
        return None
    return spec.publisher or spec.owner


def broker_credentials(settings: ServiceSettings) -> faust.SASLCredentials | None:
    """faust's form of ``settings.kafka_security()`` (None: PLAINTEXT)."""
    security = settings.kafka_security()
    if "sasl_mechanism" not in security:
        return None
    return faust.SASLCredentials(
        username=security["sasl_plain_username"], password=security["sasl_plain_password"],
        mechanism=security["sasl_mechanism"], ssl_context=security["ssl_context"])


# How long the broker may hold a fetch that found nothing new is a setting
# (``kafka_fetch_max_wait_ms``). faust's driver asks for 1.5 s, and aiokafka leaves out of a
# fetch every partition whose fetched records are still unread after 0.1 s (the event loop busy
# that long: a batch's work, a collection): such a fetch, with only quiet partitions in it
# (another topic's), then held the busy ones back for 1.5 s, events included that came
# meanwhile (``make bench``'s freshness: stalls of 1.5-1.8 s). The reporting service asks for
# 250 ms; the others keep 1.5 s: with 100 or 250 ms in every service, an idle consumer asking
# several times a second, the ingest was 6-7 % slower side by side.


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_kafka.Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # read by ``AIOKafkaConsumer.start`` when it makes its fetcher
        # (tests/reporting/test_views.py checks that the running fetcher has it)
        consumer._fetch_max_wait_ms = cast(_Transport, transport).fetch_max_wait_ms
        return consumer


class _Consumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer
    fetch_max_wait_ms = 1500


def create_faust_app(settings: ServiceSettings, app_id: str) -> faust.App:
    """A faust app run inside the service's process (started from the FastAPI lifespan)."""
    datadir = settings.state_dir / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        datadir=str(datadir / app_id),
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_replication_factor=settings.kafka_replication_factor,
        topic_partitions=3,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        # stop only after the event in hand is processed (and acked)
        stream_wait_empty=True,
        # a killed instance's partitions go to the others within seconds, not a minute
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    transport = _Transport(app.conf.broker_consumer, app)
    transport.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    app.transport = transport
    return app


def subscribe(
    app: faust.App,
    settings: ServiceSettings,
    owner: str,
    processor: EventProcessor,
) -> Any:
    """Declare the agent that feeds ``owner``'s topic to ``processor`` (concurrency 1: with more,
    faust may commit an offset past an unprocessed message)."""
    name = topic_name(owner, settings.topic_namespace)
    topic = app.topic(name, value_serializer="raw", key_serializer="raw",
                      partitions=TOPICS[owner].partitions)

    async def agent(stream: Any) -> None:
        # Acked by hand, only once the event is applied, skipped or dead-lettered: an event
        # interrupted (shutdown, crash, rebalance) is delivered again, never committed past.
        manual = stream.noack()
        batch: list[Any] = []
        async for event in manual.events():
            batch.append(event)
            # what is already waiting joins the batch (one transaction for all of it); never
            # wait for more: an event alone is processed at once
            if len(batch) < BATCH_MAX and not manual.channel.empty():
                continue
            await processor.process_batch([
                (e.value, e.key, e.message.topic, e.message.partition, e.message.offset)
                for e in batch])
            for e in batch:
                await manual.ack(e)
            batch = []

    return app.agent(topic, name=f"{settings.service_name}-{owner}", concurrency=1)(agent)


class LagMonitor:
    """Consumer lag as Kafka's tools define it: per partition, the end offset minus the
    group's committed offset. Measured from outside the stream, so a stuck consumer shows."""

    def __init__(self, bootstrap: str, group_id: str, topics: list[str], *,
                 security: Mapping[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap
        self._security = security or {}
        self._group_id = group_id
        self._topics = topics
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    async def _connect(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            # short timeouts: a broker that does not answer is reported, not waited for
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                              request_timeout_ms=5000, **self._security)
            await self._admin.start()
            self._offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap,
                                             enable_auto_commit=False, group_id=None,
                                             request_timeout_ms=5000, **self._security)
            await self._offsets.start()
        if not self._partitions:
            described = await self._admin.describe_topics(self._topics)
            self._partitions = [TopicPartition(t["topic"], p["partition"])
                                for t in described if not t["error_code"]
                                for p in t["partitions"]]
        return self._admin, self._offsets

    async def ends(self) -> dict[TopicPartition, int]:
        """Each partition's end offset (the next offset to be written)."""
        try:
            _, offsets = await self._connect()
            ends: dict[TopicPartition, int] = await offsets.end_offsets(self._partitions)
        except Exception:
            await self.stop()
            raise
        return ends

    async def committed(self) -> dict[TopicPartition, int]:
        """The group's committed offset (the next message it will read) of each partition."""
        try:
            admin, _ = await self._connect()
            done = await admin.list_consumer_group_offsets(self._group_id)
        except Exception:
            await self.stop()
            raise
        return {tp: done[tp].offset if tp in done and done[tp].offset >= 0 else 0
                for tp in self._partitions}

    async def measure(self) -> None:
        committed = await self.committed()
        ends = await self.ends()
        for tp in self._partitions:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                max(0, ends[tp] - committed[tp]))

    async def stop(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        if admin is not None:
            await admin.close()
        if offsets is not None:
            await offsets.stop()


async def partitions_of(bootstrap: str, topics: list[str],
                        security: Mapping[str, Any] | None = None) -> list[TopicPartition]:
    """Every partition of ``topics`` (those that exist), as the broker describes them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(security or {}))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return sorted((TopicPartition(t["topic"], p["partition"])
                   for t in described if not t["error_code"] for p in t["partitions"]),
                  key=lambda tp: (tp.topic, tp.partition))
