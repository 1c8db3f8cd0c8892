"""Kafka consumers of the awards service: its own copies of the unit hierarchy (registration
events) and of reported facts and targets (indicators events), to check award criteria."""

from __future__ import annotations

from typing import Any

from chungtay_common import audit, hierarchy
from chungtay_common.consumer import Handler
from chungtay_common.contracts import indicators as ev
from chungtay_common.db import Conn
from chungtay_common.events import SYSTEM_ACTOR, Envelope
from services.awards import metrics as m
from services.awards import repository


async def on_report_submitted(conn: Conn, envelope: Envelope[Any]) -> None:
    """Replace the unit-year's facts; a correction after appraisal flags the nominations that
    used them for re-appraisal."""
    p: ev.ReportSubmitted = envelope.payload
    replaced = await repository.save_report_facts(
        conn, p.campaign_id, p.unit_id, p.year, p.version, dict(p.values), p.on_time,
        "submitted")
    if replaced is not None and replaced < p.version:
        reason = f"the {p.year} report was corrected (version {replaced} → {p.version})"
        flagged = await repository.flag_reappraisal(conn, p.unit_id, p.year, reason)
        # the flag changes the nomination: recorded like every other change, by the system
        details = {"event_id": str(envelope.event_id), "unit_id": str(p.unit_id),
                   "year": p.year, "from_version": replaced, "to_version": p.version}
        for nomination_id, status in flagged:
            await repository.add_step(conn, nomination_id, "flag_reappraisal", status,
                                      SYSTEM_ACTOR.subject, SYSTEM_ACTOR.roles, reason, details)
            await audit.record(conn, actor=SYSTEM_ACTOR, action="nomination.flag_reappraisal",
                               entity_type="nomination", entity_id=str(nomination_id),
                               before={"needs_reappraisal": False},
                               after={"needs_reappraisal": True, **details},
                               correlation_id=envelope.correlation_id)
        m.REAPPRAISAL_FLAGS.inc(len(flagged))


async def on_report_status(conn: Conn, envelope: Envelope[Any]) -> None:
    p = envelope.payload
    status = envelope.event_type.removeprefix("report.")
    await repository.set_report_status(conn, p.campaign_id, p.unit_id, p.year, p.version,
                                       status)


async def on_target_set(conn: Conn, envelope: Envelope[Any]) -> None:
    p: ev.TargetSet = envelope.payload
    await repository.save_target(conn, p.campaign_id, p.unit_id, p.year, p.reduction_pp_min,
                                 p.households_out_min)


REGISTRATION_HANDLERS: dict[str, Handler] = hierarchy.unit_event_handlers()
INDICATOR_HANDLERS: dict[str, Handler] = {
    "report.submitted": on_report_submitted,
    "report.accepted": on_report_status,
    "report.returned": on_report_status,
    "report.reopened": on_report_status,
    "target.set": on_target_set,
}
