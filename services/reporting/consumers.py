"""Kafka consumers of the reporting service: the registration, indicators and awards topics feed
the read models. A handler parses nothing itself: it calls the use case for its event and
returns what to count once the event's transaction has committed."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from chungtay_common import clock, metrics
from chungtay_common.consumer import (
    TRANSIENT,
    AfterCommit,
    EventProcessor,
    Handler,
    Message,
    Outcome,
    publisher_of,
)
from chungtay_common.contracts.registration import UnitEvent, UnitRegistered
from chungtay_common.db import Conn
from chungtay_common.events import Envelope, InvalidEvent, parse_event
from chungtay_common.hierarchy import UNIT_EVENT_TYPES
from services.reporting import metrics as m
from services.reporting import repository
from services.reporting.service import batches, updates
from services.reporting.service.batches import Appliers, Apply, ApplyMany, Delivery

log = logging.getLogger(__name__)


class ViewsProcessor(EventProcessor):
    """Applies events under the views' lock, whatever topic they come from, and records the
    position it reached: one at a time (``process``) or a batch per transaction
    (``process_batch``).

    Under the lock: a rollup is recomputed from the facts and the hierarchy, which events of
    different topics change; two such transactions side by side could each miss what the
    other writes (a report of a unit whose registration is being applied). The rebuild takes
    the same lock to swap its schema in while no event is being applied."""

    async def begin(self, conn: Conn) -> None:
        await repository.lock_views(conn)

    async def applied(self, conn: Conn, envelope: Envelope[Any], topic: str, partition: int,
                      offset: int) -> None:
        await repository.record_position(conn, topic, partition, offset, envelope.event_type,
                                         envelope.occurred_at)

    async def process_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Process messages in the order read, as ``process`` would one by one, with the
        events in one transaction: each rollup they touch is refreshed once. A message that
        is not an event the views apply goes through ``process`` (dead letter, ignored);
        when an event of the batch fails, every event of it does too (one by one, so only
        the failing one is dead-lettered)."""
        outcomes: dict[int, Outcome] = {}
        batch: list[tuple[int, Delivery]] = []
        for i, msg in enumerate(messages):
            delivery = self._delivery(*msg)
            if delivery is None:
                outcomes[i] = await self.process(*msg)
            else:
                batch.append((i, delivery))
        if not batch:
            return [outcomes[i] for i in range(len(messages))]
        started = time.perf_counter()
        try:
            applied = await self._apply_batch_retrying([d for _, d in batch])
        except Exception:
            log.exception("a batch of %d events failed: processing them one by one", len(batch))
            for i, _ in batch:
                outcomes[i] = await self.process(*messages[i])
        else:
            share = (time.perf_counter() - started) / max(1, len(batch))
            fresh = {id(d) for d in applied}
            for i, d in batch:
                outcomes[i] = Outcome.APPLIED if id(d) in fresh else Outcome.DUPLICATE
                _count(d.envelope, outcomes[i], share)
        return [outcomes[i] for i in range(len(messages))]

    def _delivery(self, raw: bytes | None, key: bytes | None, topic: str, partition: int,
                  offset: int) -> Delivery | None:
        """The message as an event this processor applies, from the topic's publisher; None
        otherwise."""
        if raw is None:
            return None
        try:
            envelope = parse_event(raw)
        except InvalidEvent:
            return None
        if envelope.event_type not in self._handlers or envelope.producer != publisher_of(topic):
            return None
        return Delivery(envelope, topic, partition, offset)

    async def _apply_batch_retrying(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        # the database unreachable for now: retried as the shared processor retries an event
        async for attempt in AsyncRetrying(retry=retry_if_exception_type(TRANSIENT),
                                           wait=wait_exponential(multiplier=0.2, max=5),
                                           reraise=True):
            with attempt:
                async with self._pool.acquire() as conn, conn.transaction():
                    await self.begin(conn)
                    return await batches.apply_batch(conn, deliveries, APPLIERS)
        raise AssertionError("unreachable")


def _count(env: Envelope[Any], outcome: Outcome, seconds: float) -> None:
    """What ``EventProcessor.process`` and ``_counted`` count of an event, once committed."""
    metrics.EVENT_PROCESSING.labels(env.event_type).observe(seconds)
    metrics.EVENTS_CONSUMED.labels(env.event_type, outcome).inc()
    if outcome == Outcome.APPLIED:
        m.EVENTS_APPLIED.labels(env.event_type).inc()
        m.FRESHNESS.labels(SOURCE[env.event_type]).observe(
            max(0.0, (clock.now() - env.occurred_at).total_seconds()))


def _counted(source: str, apply: Apply) -> Handler:
    async def handle(conn: Conn, env: Envelope[Any]) -> AfterCommit:
        await apply(conn, env.payload)

        def count() -> None:
            m.EVENTS_APPLIED.labels(env.event_type).inc()
            m.FRESHNESS.labels(source).observe(
                max(0.0, (clock.now() - env.occurred_at).total_seconds()))

        return count

    return handle


async def _unit_event(conn: Conn, ev: UnitEvent) -> None:
    if isinstance(ev, UnitRegistered):
        since = min(v.valid_from for s in ev.units for v in s.versions)
    else:
        since = ev.effective_date  # type: ignore[attr-defined]
    await updates.record_unit_change(conn, ev, since)


def _review(state: str) -> Apply:
    async def apply(conn: Conn, ev: Any) -> None:
        await updates.record_review(conn, ev, state)

    return apply


def _nomination(status: str) -> Apply:
    async def apply(conn: Conn, ev: Any) -> None:
        await updates.record_nomination(conn, ev, status)

    return apply


# nomination events and the status each leaves the nomination in
NOMINATION_STATUS = {
    "nomination.submitted": "submitted", "nomination.reviewed": "reviewed",
    "nomination.appraised": "appraised", "nomination.approved": "approved",
    "nomination.rejected": "rejected", "nomination.returned": "returned",
    "nomination.forwarded": "forwarded", "award.revoked": "revoked",
}
# the register of exemplary models: each event carries the model as it stands
EXEMPLARY_EVENTS = ("exemplary_model.registered", "exemplary_model.changed",
                    "exemplary_model.recognised", "exemplary_model.replicated",
                    "exemplary_model.award_linked")

# how each event read by the views is applied, by the owner of its topic
APPLY: dict[str, dict[str, Apply]] = {
    "registration": {t: _unit_event for t in UNIT_EVENT_TYPES},
    "indicators": {
        "campaign.created": updates.record_campaign,
        "indicator.defined": updates.record_indicator,
        "target.set": updates.record_target,
        "national_average.set": updates.record_national_average,
        "report.submitted": updates.record_submission,
        "report.returned": _review("returned"),
        "report.accepted": _review("accepted"),
        "report.reopened": _review("reopened"),
    },
    "awards": {
        **{t: _nomination(status) for t, status in NOMINATION_STATUS.items()},
        **{t: updates.record_exemplary_model for t in EXEMPLARY_EVENTS}},
}
# the types applied in bulk when consecutive in a batch (the bulk of the stream)
APPLY_MANY: dict[str, ApplyMany] = {"report.submitted": updates.record_submissions}
APPLIERS = Appliers(one={t: a for applies in APPLY.values() for t, a in applies.items()},
                    many=APPLY_MANY)
# the metrics' source of each type
SOURCE = {t: owner for owner, applies in APPLY.items() for t in applies}

REGISTRATION_HANDLERS: dict[str, Handler] = {
    t: _counted("registration", a) for t, a in APPLY["registration"].items()}
INDICATORS_HANDLERS: dict[str, Handler] = {
    t: _counted("indicators", a) for t, a in APPLY["indicators"].items()}
AWARDS_HANDLERS: dict[str, Handler] = {
    t: _counted("awards", a) for t, a in APPLY["awards"].items()}

SUBSCRIPTIONS: dict[str, dict[str, Handler]] = {
    "registration": REGISTRATION_HANDLERS, "indicators": INDICATORS_HANDLERS,
    "awards": AWARDS_HANDLERS}
