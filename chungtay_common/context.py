"""The context of one request in a service's use cases: who acts, and where events go."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from chungtay_common import audit, outbox
from chungtay_common.auth import Principal
from chungtay_common.db import Conn
from chungtay_common.events import Actor, new_envelope


async def publish(conn: Conn, *, topic: str, producer: str, actor: Actor, subject: object,
                  payload: BaseModel, correlation_id: uuid.UUID | None = None) -> None:
    """Put an event in the outbox, in the caller's transaction (never straight to Kafka)."""
    await outbox.enqueue(conn, new_envelope(payload=payload, producer=producer,
                                            subject_id=str(subject), actor=actor,
                                            correlation_id=correlation_id), topic)


@dataclass(frozen=True)
class Context:
    principal: Principal
    producer: str  # the service
    topic: str  # the service's topic
    correlation_id: uuid.UUID
    # side effects that must wait for the commit (metrics): run by ``committed``
    _after_commit: list[Callable[[], object]] = field(default_factory=list, compare=False,
                                                      repr=False)

    def after_commit(self, effect: Callable[[], object]) -> None:
        self._after_commit.append(effect)

    def committed(self) -> None:
        """Called by the edge once the request's transaction has committed."""
        effects, self._after_commit[:] = list(self._after_commit), []
        for effect in effects:
            effect()

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    async def publish(self, conn: Conn, subject: object, payload: BaseModel) -> None:
        await publish(conn, topic=self.topic, producer=self.producer, actor=self.actor,
                      subject=subject, payload=payload, correlation_id=self.correlation_id)

    async def audit(self, conn: Conn, action: str, entity_type: str, entity_id: object,
                    before: Any, after: Any) -> None:
        await audit.record(conn, actor=self.actor, action=action, entity_type=entity_type,
                           entity_id=str(entity_id), before=before, after=after,
                           correlation_id=self.correlation_id)
