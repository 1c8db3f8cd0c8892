"""Applying many events in one transaction: the live consumer's batches and the rebuild's.

One statement records which events are new (``processed_events``, the idempotent consumer's
record, in the same transaction as the views' change); the new ones are applied in the order
they came, consecutive events of a type that has a bulk form (report submissions) in one round
trip; each rollup they touch is refreshed once, at the end; one position per partition.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from chungtay_common.db import Conn
from chungtay_common.events import Envelope
from services.reporting import repository
from services.reporting.service import updates

log = logging.getLogger(__name__)

# applies one event's payload / the payloads of consecutive events of one type
Apply = Callable[[Conn, Any], Awaitable[None]]
ApplyMany = Callable[[Conn, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """An event as read from its topic."""

    envelope: Envelope[Any]
    topic: str
    partition: int
    offset: int

    @property
    def processed(self) -> tuple[Any, str, str, int, int]:
        e = self.envelope
        return e.event_id, e.event_type, self.topic, self.partition, self.offset


@dataclass(frozen=True)
class Appliers:
    """How each event type read by the views is applied, one at a time or in bulk."""

    one: Mapping[str, Apply]
    many: Mapping[str, ApplyMany]

    def reads(self, event_type: str) -> bool:
        return event_type in self.one


async def apply_batch(conn: Conn, deliveries: Sequence[Delivery], appliers: Appliers
                      ) -> list[Delivery]:
    """Apply, in the caller's transaction, the deliveries not processed before, in order;
    returns those applied. Any failure fails the whole batch (see ``apply_each``)."""
    recorded = await repository.record_processed_many(conn, [d.processed for d in deliveries])
    fresh = _first_of_each(d for d in deliveries if d.envelope.event_id in recorded)
    async with updates.refreshes_batched(conn):
        for event_type, run in groupby(fresh, key=lambda d: d.envelope.event_type):
            payloads = [d.envelope.payload for d in run]
            many = appliers.many.get(event_type)
            if many is not None:
                await many(conn, payloads)
                continue
            for payload in payloads:
                await appliers.one[event_type](conn, payload)
    await record_positions(conn, fresh)
    return fresh


async def apply_each(conn: Conn, deliveries: Sequence[Delivery], appliers: Appliers
                     ) -> list[Delivery]:
    """Apply the deliveries one at a time, each in a savepoint of the caller's transaction
    with its record as processed: one that fails is left out (and not recorded), the others
    are applied. Returns those applied."""
    applied: list[Delivery] = []
    for d in deliveries:
        try:
            async with conn.transaction():
                if not await repository.record_processed(conn, *d.processed):
                    continue
                await appliers.one[d.envelope.event_type](conn, d.envelope.payload)
        except Exception:
            log.exception("could not apply %s %s at %s[%d]@%d", d.envelope.event_type,
                          d.envelope.event_id, d.topic, d.partition, d.offset)
            continue
        applied.append(d)
    await record_positions(conn, applied)
    return applied


async def record_positions(conn: Conn, applied: Sequence[Delivery]) -> None:
    """The last applied event of each partition, as one at a time would leave it."""
    last: dict[tuple[str, int], Delivery] = {}
    for d in applied:
        key = (d.topic, d.partition)
        if key not in last or last[key].offset < d.offset:
            last[key] = d
    await repository.record_positions(conn, [
        (d.topic, d.partition, d.offset, d.envelope.event_type, d.envelope.occurred_at)
        for d in last.values()])


def _first_of_each(deliveries: Iterator[Delivery] | Sequence[Delivery]) -> list[Delivery]:
    """A redelivered event twice in one batch is applied once (its first delivery)."""
    seen: set[Any] = set()
    out = []
    for d in deliveries:
        if d.envelope.event_id not in seen:
            seen.add(d.envelope.event_id)
            out.append(d)
    return out
