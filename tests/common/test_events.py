from __future__ import annotations

import json
import uuid
from datetime import date

import pytest

from chungtay_common import catalogue
from chungtay_common.contracts.registration import UnitRegistered, UnitSnapshot, UnitVersion
from chungtay_common.events import (
    CATALOGUE,
    SYSTEM_ACTOR,
    InvalidEvent,
    _head,
    new_envelope,
    parse_event,
)


def _registered() -> UnitRegistered:
    unit_id = uuid.uuid4()
    return UnitRegistered(unit_id=unit_id, units=[UnitSnapshot(
        unit_id=unit_id, kind="province", revision=1,
        versions=[UnitVersion(valid_from=date(2017, 1, 1), code="44", name="Tỉnh Quảng Bình")])])


def test_envelope_round_trips_with_its_payload_type() -> None:
    payload = _registered()
    env = new_envelope(payload=payload, producer="registration",
                       subject_id=str(payload.unit_id), actor=SYSTEM_ACTOR)
    assert env.event_type == "unit.registered" and env.schema_version == 1
    raw = json.dumps(env.model_dump(mode="json", serialize_as_any=True)).encode()
    parsed = parse_event(raw)
    assert parsed.payload == payload
    assert parsed.event_id == env.event_id and parsed.occurred_at.tzinfo is not None


# The reason is "<part>: <field>: <what is wrong>", the last from pydantic's own message.
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.pop("event_id"), "envelope: event_id: Field required"),
        (lambda e: e.update(occurred_at="2026-01-01T00:00:00"),
         "envelope: occurred_at: Input should have timezone info"),
        (lambda e: e.update(event_type="unit.teleported"),
         "unknown event type unit.teleported v1"),
        (lambda e: e.update(schema_version=9), "unknown event type unit.registered v9"),
        (lambda e: e["payload"].update(units=[]),
         "payload of unit.registered: units: List should have at least 1 item after "
         "validation, not 0"),
        (lambda e: e.update(extra=1), "envelope: extra: Extra inputs are not permitted"),
    ],
)
def test_invalid_messages_are_refused_with_a_reason(mutate: object, reason: str) -> None:
    payload = _registered()
    env = new_envelope(payload=payload, producer="registration",
                       subject_id=str(payload.unit_id), actor=SYSTEM_ACTOR)
    data = env.model_dump(mode="json", serialize_as_any=True)
    mutate(data)  # type: ignore[operator]
    with pytest.raises(InvalidEvent) as exc:
        parse_event(json.dumps(data).encode())
    assert str(exc.value) == reason


def test_the_head_is_read_without_a_parse_and_never_trusted_alone() -> None:
    """As the services write events (compact), the type and version are found by a look at the
    first bytes; a message whose first type is not its real one is read in full again."""
    payload = _registered()
    env = new_envelope(payload=payload, producer="registration",
                       subject_id=str(payload.unit_id), actor=SYSTEM_ACTOR)
    compact = env.model_dump_json(serialize_as_any=True).encode()
    assert _head(compact) == ("unit.registered", 1)
    assert parse_event(compact).payload == payload
    assert _head(json.dumps(env.model_dump(mode="json")).encode()) is None  # other spacing
    # a key given twice: JSON's last one is the real one, and its payload does not fit it
    lying = compact.replace(b'"producer":', b'"event_type":"report.submitted","producer":', 1)
    assert _head(lying) == ("unit.registered", 1)
    with pytest.raises(InvalidEvent, match=r"payload of report\.submitted"):
        parse_event(lying)


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="envelope"):
        parse_event(b"\xff not json")


def test_committed_event_schemas_match_the_models() -> None:
    """docs/events/ is generated from the models; regenerate with `make events`."""
    assert catalogue.main(["catalogue", "check"]) == 0


def test_every_event_schema_pins_its_type_and_requires_the_envelope() -> None:
    for event_type, version, _ in CATALOGUE.items():
        schema = catalogue.event_schema(event_type, version)
        assert schema["properties"]["event_type"] == {"const": event_type, "type": "string"}
        assert {"event_id", "occurred_at", "subject_id", "actor", "payload",
                "correlation_id"} <= set(schema["required"])
