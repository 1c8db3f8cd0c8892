"""Kafka consumers of the reporting service: the registration, indicators and awards topics feed
the read models. A handler parses nothing itself: it calls the use case for its event and
returns what to count once the event's transaction has committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chungtay_common import clock
from chungtay_common.consumer import AfterCommit, EventProcessor, Handler
from chungtay_common.contracts.registration import UnitEvent, UnitRegistered
from chungtay_common.db import Conn
from chungtay_common.events import Envelope
from chungtay_common.hierarchy import UNIT_EVENT_TYPES
from services.reporting import metrics as m
from services.reporting import repository
from services.reporting.service import updates


class ViewsProcessor(EventProcessor):
    """Applies events one at a time under the views' lock, whatever topic they come from, and
    records the position it reached.

    One at a time: a rollup is recomputed from the facts and the hierarchy, which events of
    different topics change; two such transactions side by side could each miss what the
    other writes (a report of a unit whose registration is being applied). The rebuild takes
    the same lock to swap its schema in while no event is being applied."""

    async def begin(self, conn: Conn) -> None:
        await repository.lock_views(conn)

    async def applied(self, conn: Conn, envelope: Envelope[Any], topic: str, partition: int,
                      offset: int) -> None:
        await repository.record_position(conn, topic, partition, offset, envelope.event_type,
                                         envelope.occurred_at)


def _counted(source: str, apply: Callable[[Conn, Any], Awaitable[None]]) -> Handler:
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


def _review(state: str) -> Callable[[Conn, Any], Awaitable[None]]:
    async def apply(conn: Conn, ev: Any) -> None:
        await updates.record_review(conn, ev, state)

    return apply


def _nomination(status: str) -> Callable[[Conn, Any], Awaitable[None]]:
    async def apply(conn: Conn, ev: Any) -> None:
        await updates.record_nomination(conn, ev, status)

    return apply


REGISTRATION_HANDLERS: dict[str, Handler] = {
    t: _counted("registration", _unit_event) for t in UNIT_EVENT_TYPES}

INDICATORS_HANDLERS: dict[str, Handler] = {
    "campaign.created": _counted("indicators", updates.record_campaign),
    "indicator.defined": _counted("indicators", updates.record_indicator),
    "target.set": _counted("indicators", updates.record_target),
    "national_average.set": _counted("indicators", updates.record_national_average),
    "report.submitted": _counted("indicators", updates.record_submission),
    "report.returned": _counted("indicators", _review("returned")),
    "report.accepted": _counted("indicators", _review("accepted")),
    "report.reopened": _counted("indicators", _review("reopened")),
}

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
AWARDS_HANDLERS: dict[str, Handler] = {
    **{t: _counted("awards", _nomination(status)) for t, status in NOMINATION_STATUS.items()},
    **{t: _counted("awards", updates.record_exemplary_model) for t in EXEMPLARY_EVENTS}}

SUBSCRIPTIONS: dict[str, dict[str, Handler]] = {
    "registration": REGISTRATION_HANDLERS, "indicators": INDICATORS_HANDLERS,
    "awards": AWARDS_HANDLERS}
