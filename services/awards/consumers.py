"""Kafka consumers of the awards service: its own copies of the unit hierarchy (registration
events) and of reported facts and targets (indicators events), to check award criteria. Each
handler parses nothing itself (the envelope's payload is typed) and calls a use case."""

from __future__ import annotations

from typing import Any

from chungtay_common import hierarchy
from chungtay_common.consumer import AfterCommit, Handler
from chungtay_common.context import Context
from chungtay_common.db import Conn
from chungtay_common.events import Envelope
from services.awards import service
from services.awards.settings import AwardsSettings

REGISTRATION_HANDLERS: dict[str, Handler] = hierarchy.unit_event_handlers()


def indicator_handlers(settings: AwardsSettings) -> dict[str, Handler]:
    """Handlers of the indicators topic; what they change is the system's doing, tied to the
    event that caused it."""

    async def on_report_submitted(conn: Conn, envelope: Envelope[Any]) -> AfterCommit:
        ctx = Context.system(settings, envelope.correlation_id)
        await service.record_report(conn, ctx, envelope.payload, envelope.event_id)
        return ctx.committed  # its metrics count once the event's transaction has committed

    async def on_report_status(conn: Conn, envelope: Envelope[Any]) -> None:
        await service.record_report_status(conn, envelope.payload,
                                           envelope.event_type.removeprefix("report."))

    async def on_target_set(conn: Conn, envelope: Envelope[Any]) -> None:
        await service.record_target(conn, envelope.payload)

    return {
        "report.submitted": on_report_submitted,
        "report.accepted": on_report_status,
        "report.returned": on_report_status,
        "report.reopened": on_report_status,
        "target.set": on_target_set,
    }
