"""The context of one request in a service's use cases: who acts, and where events go."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from chungtay_common import audit, outbox
from chungtay_common.audit import Change
from chungtay_common.auth import Principal
from chungtay_common.db import Conn
from chungtay_common.events import SYSTEM_ACTOR, Actor, new_envelope
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name


async def publish(conn: Conn, *, topic: str, producer: str, actor: Actor, subject: object,
                  payload: BaseModel, correlation_id: uuid.UUID | None = None) -> None:
    """Put an event in the outbox, in the caller's transaction (never straight to Kafka)."""
    await outbox.enqueue(conn, new_envelope(payload=payload, producer=producer,
                                            subject_id=str(subject), actor=actor,
                                            correlation_id=correlation_id), topic)


@dataclass(frozen=True)
class Context:
    """Who acts (a caller, or the service itself) and where the service's events go."""

    principal: Principal
    producer: str  # the service
    topic: str  # the service's topic
    correlation_id: uuid.UUID
    _system: bool = field(default=False, compare=False, repr=False)
    # side effects that must wait for the commit (metrics): run by ``committed``
    _after_commit: list[Callable[[], object]] = field(default_factory=list, compare=False,
                                                      repr=False)

    @classmethod
    def system(cls, settings: ServiceSettings, correlation_id: uuid.UUID | None = None
               ) -> Context:
        """The context of what no request caused (seeding, deadlines, consumed events): the
        service acts as ``system``, holds no role, and publishes on its own topic. A consumer
        passes the event's correlation id, so what it records stays tied to the event."""
        return cls(principal=Principal(subject=SYSTEM_ACTOR.subject, roles=frozenset()),
                   producer=settings.service_name,
                   topic=topic_name(settings.service_name, settings.topic_namespace),
                   correlation_id=correlation_id or uuid.uuid4(), _system=True)

    def after_commit(self, effect: Callable[[], object]) -> None:
        self._after_commit.append(effect)

    def effects_mark(self) -> int:
        """Where the after-commit effects stand: an attempt that may be given up (and tried
        again) takes a mark first, and drops what it added (``drop_effects``)."""
        return len(self._after_commit)

    def drop_effects(self, mark: int) -> None:
        del self._after_commit[mark:]

    def committed(self) -> None:
        """Called by the edge once the request's transaction has committed."""
        effects, self._after_commit[:] = list(self._after_commit), []
        for effect in effects:
            effect()

    @property
    def actor(self) -> Actor:
        return SYSTEM_ACTOR if self._system else self.principal.actor

    async def publish(self, conn: Conn, subject: object, payload: BaseModel) -> None:
        await publish(conn, topic=self.topic, producer=self.producer, actor=self.actor,
                      subject=subject, payload=payload, correlation_id=self.correlation_id)

    async def audit(self, conn: Conn, action: str, entity_type: str, entity_id: object,
                    before: Any, after: Any) -> None:
        await audit.record(conn, actor=self.actor, action=action, entity_type=entity_type,
                           entity_id=str(entity_id), before=before, after=after,
                           correlation_id=self.correlation_id,
                           actor_unit_id=None if self._system else self.principal.unit_id)

    def audit_args(self, changes: Sequence[Change]) -> list[Any]:
        """The parameters of ``audit.insert_many`` for ``changes`` made by this context's
        actor: a use case that writes many rows in one statement records them so."""
        return audit.many_args(self.actor, self.correlation_id,
                               None if self._system else self.principal.unit_id, changes)

    def outbox_args(self, events: Sequence[tuple[object, BaseModel]]) -> list[Any]:
        """The parameters of ``outbox.insert_many`` for ``events`` (subject, payload), as
        ``publish`` would enqueue them one by one."""
        return outbox.many_args(self.topic, [
            new_envelope(payload=payload, producer=self.producer, subject_id=str(subject),
                         actor=self.actor, correlation_id=self.correlation_id)
            for subject, payload in events])
