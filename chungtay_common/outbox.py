"""Transactional outbox: events are written with the state change and published afterwards.

``enqueue`` inserts the event in the caller's transaction. ``OutboxRelay`` publishes unpublished
rows in id order (so in order per key) with an idempotent producer (``acks=all``) and marks
them published. Kafka being down only delays publication: writes keep succeeding, and the relay
retries with back-off until the broker is back. It survives restarts because the rows are the
state. A redelivered duplicate is harmless: consumers skip event ids they have processed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from chungtay_common import metrics
from chungtay_common.db import Conn
from chungtay_common.events import Envelope

log = logging.getLogger(__name__)

_RELAY_LOCK = 0x4F555442  # one publishing relay per database at a time


def _body(envelope: Envelope[BaseModel]) -> str:
    # encoded once, here: the relay sends the stored text as it is
    return envelope.model_dump_json(serialize_as_any=True)


async def enqueue(conn: Conn, envelope: Envelope[BaseModel], topic: str) -> None:
    """Add ``envelope`` to the outbox in the caller's transaction."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, event_type, body)"
        " VALUES ($1, $2, $3, $4, $5::text::jsonb)",
        envelope.event_id, topic, envelope.subject_id, envelope.event_type, _body(envelope),
    )
    await conn.execute("NOTIFY outbox")


def insert_many(p: int, where: str = "true") -> str:
    """An INSERT of a batch of events into the outbox from the parameters ``$p`` to ``$p+4``
    (``many_args``), for a statement that writes a change and its events in one round trip.
    The statement also calls ``pg_notify('outbox', '')`` (``NOTIFY``), as ``enqueue`` does.
    Only if ``where`` holds."""
    return ("INSERT INTO outbox (event_id, topic, key, event_type, body)"
            f" SELECT e.event_id, ${p}::text, e.key, e.event_type, e.body::jsonb"
            f" FROM unnest(${p + 1}::uuid[], ${p + 2}::text[], ${p + 3}::text[], ${p + 4}::text[])"
            f" AS e(event_id, key, event_type, body) WHERE {where}")


def many_args(topic: str, envelopes: Sequence[Envelope[BaseModel]]) -> list[Any]:
    """The parameters of ``insert_many``."""
    return [topic, [e.event_id for e in envelopes], [e.subject_id for e in envelopes],
            [e.event_type for e in envelopes], [_body(e) for e in envelopes]]


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap: str,
        client_id: str,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap
        self._security = security or {}
        self._client_id = client_id
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._listener: PoolConnectionProxy | None = None
        self._stopping = False
        self.connected = False

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._run(), name=f"{self._client_id}-outbox-relay")
        self._watcher = asyncio.create_task(self._watch_backlog(),
                                            name=f"{self._client_id}-outbox-backlog")

    async def stop(self) -> None:
        # asyncpg may turn a cancellation in the middle of a statement into an error of its
        # own: the loops also end on ``_stopping``, and whatever a task ended with is not
        # the stop's concern
        self._stopping = True
        for task in (self._task, self._watcher):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:
                    log.debug("outbox relay %s: a task ended with an error while stopping",
                              self._client_id, exc_info=True)
        await self._drop_listener()
        await self._close_producer()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Open the connection that hears ``NOTIFY outbox`` (a write's wake-up call)."""
        conn = await self._pool.acquire()
        try:
            await conn.add_listener("outbox", self._on_notify)
        except BaseException:
            await self._pool.release(conn)
            raise
        self._listener = conn
        self._wake.set()  # what was written while nobody listened

    def _listening(self) -> bool:
        try:
            return self._listener is not None and not self._listener.is_closed()
        except asyncpg.InterfaceError:  # the pool took it back when its connection was lost
            return False

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            if not listener.is_closed():
                await listener.remove_listener("outbox", self._on_notify)
            await self._pool.release(listener)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
            log.debug("the outbox listener was gone already", exc_info=True)

    async def _run(self) -> None:
        while not self._stopping:
            async for attempt in AsyncRetrying(
                # Any failure (broker or database down, a timeout) is retried with back-off:
                # the rows stay unpublished until a batch goes through.
                retry=retry_if_exception_type(Exception),
                stop=lambda _: self._stopping,
                wait=wait_exponential(multiplier=0.2, max=5),
                before_sleep=self._on_failure,
                reraise=True,
            ):
                with attempt:
                    published = await self.publish_batch()
            if published < self._batch_size:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                except TimeoutError:
                    pass

    async def _on_failure(self, state: Any) -> None:
        metrics.OUTBOX_PUBLISH_FAILURES.inc()
        exc = state.outcome.exception() if state.outcome else None
        log.warning("outbox relay %s: publishing failed (%r); retrying", self._client_id, exc)
        await self._close_producer()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=5,
                request_timeout_ms=10_000,
                **self._security,
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError:
                log.debug("closing the producer failed", exc_info=True)

    async def publish_batch(self) -> int:
        """Publish the next batch of unpublished rows; return how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, event_type, body::text AS body FROM outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return 0
            producer = await self._ensure_producer()
            futures = [
                await producer.send(
                    r["topic"],
                    value=r["body"].encode(),
                    key=r["key"].encode(),
                    headers=[("event_type", r["event_type"].encode())],
                )
                for r in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
            for r in rows:
                metrics.OUTBOX_PUBLISHED.labels(r["event_type"]).inc()
            return len(rows)

    async def _watch_backlog(self) -> None:
        """Keep the backlog gauges fresh even while publishing is stuck (Kafka down), and the
        listener open: after the database restarted, a new one hears the writes again (the
        relay polls meanwhile)."""
        while not self._stopping:
            try:
                async with self._pool.acquire() as conn:
                    await self._update_backlog(conn)
                if not self._listening():
                    await self._drop_listener()
                    await self._listen()
                    log.info("outbox relay %s: listening again", self._client_id)
            except Exception:  # whatever it was, the watch goes on (the relay polls anyway)
                log.debug("could not read the outbox backlog or listen", exc_info=True)
            await asyncio.sleep(1.0)

    @staticmethod
    async def _update_backlog(conn: Conn) -> None:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age"
            " FROM outbox WHERE published_at IS NULL"
        )
        assert row is not None
        metrics.OUTBOX_BACKLOG.set(row["n"])
        metrics.OUTBOX_OLDEST_AGE.set(float(row["age"] or 0))
