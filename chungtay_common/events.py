"""The event envelope every service publishes, and the registry of event types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

EventTypeName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$", max_length=80)
]


class Actor(BaseModel):
    """Who caused the event: the subject of the caller's token, and the roles it held."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=200)
    roles: list[str] = []


SYSTEM_ACTOR = Actor(subject="system", roles=["system"])


class EventPayload(BaseModel):
    """Base of every event payload; ``CATALOGUE.register`` names its type and version."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


class Envelope(BaseModel, Generic[P]):
    """What travels on Kafka: one JSON object, keyed by ``subject_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID
    event_type: EventTypeName
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1, max_length=80)
    subject_id: str = Field(min_length=1, max_length=200)
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    actor: Actor
    payload: P


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventCatalogue:
    """Maps ``(event_type, schema_version)`` to the payload model, for one or more topics."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[BaseModel]] = {}
        self._names: dict[type[BaseModel], tuple[str, int]] = {}
        self._owners: dict[str, str] = {}

    def register(self, owner: str, event_type: str, version: int = 1) -> Any:
        """Class decorator: ``model`` is the payload of ``event_type`` v``version``,
        published on the topic of service ``owner``."""

        def wrap(model: type[P]) -> type[P]:
            self._models[(event_type, version)] = model
            self._names[model] = (event_type, version)
            self._owners[event_type] = owner
            return model

        return wrap

    def name_of(self, model: type[BaseModel]) -> tuple[str, int]:
        return self._names[model]

    def model(self, event_type: str, version: int) -> type[BaseModel] | None:
        return self._models.get((event_type, version))

    def owner(self, event_type: str) -> str:
        return self._owners[event_type]

    def items(self) -> list[tuple[str, int, type[BaseModel]]]:
        return sorted((t, v, m) for (t, v), m in self._models.items())


CATALOGUE = EventCatalogue()


class InvalidEvent(ValueError):
    """A message that is not a valid event of a known type: it goes to the dead-letter topic."""


def new_envelope(
    *,
    payload: BaseModel,
    producer: str,
    subject_id: str,
    actor: Actor,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
) -> Envelope[BaseModel]:
    event_type, schema_version = CATALOGUE.name_of(type(payload))
    # built without validation: every field is the system's own, of its type, and the payload
    # is a model validated when it was made (validating again costs more than writing it)
    return _ANY_ENVELOPE.model_construct(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=schema_version,
        occurred_at=utcnow(),
        producer=producer,
        subject_id=subject_id,
        correlation_id=correlation_id or uuid.uuid4(),
        causation_id=causation_id,
        actor=actor,
        payload=payload,
    )


_ANY_ENVELOPE = Envelope[BaseModel]


class _RawEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: uuid.UUID
    event_type: EventTypeName
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str
    subject_id: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    actor: Actor
    payload: dict[str, Any]


class _Head(BaseModel):
    """What a message says it is: enough to pick the model of its payload."""

    event_type: str
    schema_version: int


_TYPED: dict[type[BaseModel], type[Envelope[Any]]] = {}


def parse_event(raw: bytes) -> Envelope[Any]:
    """Parse and validate a message; raise ``InvalidEvent`` with the reason when it is not one.

    A valid message is validated in one pass, as the envelope of its payload's model (pydantic
    reads the JSON itself); anything else is read again, part by part, so the reason names the
    part that is wrong (``_parse_by_parts``)."""
    from pydantic import ValidationError

    head = _head(raw)
    if head is None:
        try:
            parsed = _Head.model_validate_json(raw)
        except ValidationError:
            return _parse_by_parts(raw)
        head = parsed.event_type, parsed.schema_version
    model = CATALOGUE.model(*head)
    if model is None:
        return _parse_by_parts(raw)
    typed = _TYPED.get(model)
    if typed is None:
        typed = _TYPED[model] = Envelope[model]  # type: ignore[valid-type]
    try:
        env = typed.model_validate_json(raw)
    except ValidationError:
        return _parse_by_parts(raw)
    if (env.event_type, env.schema_version) != head:  # not what it seemed: read it again
        return _parse_by_parts(raw)
    return env


_TYPE_KEY, _VERSION_KEY = b'"event_type":"', b'"schema_version":'


def _head(raw: bytes) -> tuple[str, int] | None:
    """The event type and schema version as the services write them (``model_dump_json``:
    compact, these keys near the start), found without parsing the whole message (a sixth
    of a parse); None when the message is written otherwise. The envelope validated with
    the payload model they pick must say the same, or the message is read again in full."""
    start = raw.find(_TYPE_KEY, 0, 200)
    if start < 0:
        return None
    start += len(_TYPE_KEY)
    end = raw.find(b'"', start, start + 100)
    at = raw.find(_VERSION_KEY, 0, 300)
    if end < 0 or at < 0:
        return None
    at += len(_VERSION_KEY)
    stop = at
    while stop < len(raw) and stop < at + 6 and raw[stop:stop + 1].isdigit():
        stop += 1
    if stop == at:
        return None
    try:
        return raw[start:end].decode("ascii"), int(raw[at:stop])
    except (UnicodeDecodeError, ValueError):
        return None


def _parse_by_parts(raw: bytes) -> Envelope[Any]:
    from pydantic import ValidationError

    try:
        env = _RawEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"envelope: {_summary(exc)}") from exc
    model = CATALOGUE.model(env.event_type, env.schema_version)
    if model is None:
        raise InvalidEvent(f"unknown event type {env.event_type} v{env.schema_version}")
    try:
        payload = model.model_validate(env.payload)
    except ValidationError as exc:
        raise InvalidEvent(f"payload of {env.event_type}: {_summary(exc)}") from exc
    data = env.model_dump()
    data["payload"] = payload
    return Envelope[Any].model_construct(**data)


def _summary(exc: Any) -> str:
    errs = exc.errors()
    first = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errs[:3]
    )
    return first + (f" (+{len(errs) - 3} more)" if len(errs) > 3 else "")
