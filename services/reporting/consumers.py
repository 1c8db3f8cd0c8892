"""Kafka consumers of the reporting service: the registration topic feeds the unit hierarchy."""

from __future__ import annotations

from chungtay_common import hierarchy
from chungtay_common.consumer import Handler

REGISTRATION_HANDLERS: dict[str, Handler] = hierarchy.unit_event_handlers()
