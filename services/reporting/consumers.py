"""Kafka consumers of the reporting service: the registration topic feeds the unit hierarchy."""

from __future__ import annotations

from typing import Any

from chungtay_common import hierarchy
from chungtay_common.consumer import Handler
from chungtay_common.contracts.registration import UnitEvent
from chungtay_common.db import Conn
from chungtay_common.events import Envelope


async def apply_unit_event(conn: Conn, envelope: Envelope[Any]) -> None:
    """Every unit event carries the snapshots of the units it changed: store the newer ones."""
    payload: UnitEvent = envelope.payload
    for snap in payload.units:
        await hierarchy.apply_snapshot(conn, snap)


REGISTRATION_HANDLERS: dict[str, Handler] = {
    name: apply_unit_event
    for name in ("unit.registered", "unit.renamed", "unit.moved", "unit.closed", "unit.merged",
                 "unit.split")
}
