"""Kafka consumers of the indicators service: units come from registration events, into the
service's own copy of the dated hierarchy (it never reads another service's tables); award
rules from the awards service's ``award_rule.changed``, to know which indicators they read."""

from __future__ import annotations

from typing import Any

from chungtay_common import hierarchy
from chungtay_common.consumer import Handler
from chungtay_common.db import Conn
from chungtay_common.events import Envelope
from services.indicators import service

REGISTRATION_HANDLERS: dict[str, Handler] = hierarchy.unit_event_handlers()


async def on_award_rule_changed(conn: Conn, envelope: Envelope[Any]) -> None:
    await service.record_award_rule(conn, envelope.payload)


AWARDS_HANDLERS: dict[str, Handler] = {"award_rule.changed": on_award_rule_changed}
