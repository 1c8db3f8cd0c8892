"""Kafka consumers of the indicators service: units come from registration events, into the
service's own copy of the dated hierarchy (it never reads another service's tables)."""

from __future__ import annotations

from chungtay_common import hierarchy
from chungtay_common.consumer import Handler

REGISTRATION_HANDLERS: dict[str, Handler] = hierarchy.unit_event_handlers()
