"""Answers of the summary routes, kept until the views change.

Every change of the views commits with a new position of the topics it applied (the consumer
records one per batch), and a rebuild swaps in a schema of its own: so the views' version
(``repository.views_version``: the positions, and which table holds them) moves with every
change. An answer is kept with that version and with what it read from the clock (the day,
and whether the year's due instant had passed), and served while they are the same; the first
request after a change computes it again. Requests for an answer being computed wait for that
computation instead of repeating it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel
from pydantic_core import to_json

from chungtay_common import clock
from chungtay_common.auth import PrincipalDep
from chungtay_common.db import Conn
from chungtay_common.http import Database, DatabaseDep, EncodedJSON
from services.reporting import metrics as m
from services.reporting import repository

KEPT = 256  # answers kept (the oldest goes first): a province's pages, a year's summaries


class Answers:
    def __init__(self, size: int = KEPT) -> None:
        self._size = size
        self._kept: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._computing: dict[Hashable, asyncio.Lock] = {}

    async def answer(self, db: Database, route: str, params: tuple[Any, ...],
                     campaign_id: uuid.UUID, year: int,
                     compute: Callable[[Conn], Awaitable[BaseModel]]) -> EncodedJSON:
        """The answer of ``route`` to ``params``, computed by ``compute`` unless kept since
        the views last changed."""
        key = (route, *params)
        async with db.read() as conn:
            version, due = await repository.views_version(conn, campaign_id, year)
        state = (version, clock.today(), due is not None and clock.now() >= due)
        body = self._found(key, state)
        if body is None:
            lock = self._computing.setdefault((key, state), asyncio.Lock())
            async with lock:
                body = self._found(key, state)
                if body is None:
                    async with db.read() as conn:
                        body = to_json(await compute(conn))
                    m.ANSWERS.labels(route, "computed").inc()
                    self._keep(key, state, body)
                else:
                    m.ANSWERS.labels(route, "kept").inc()
            if not lock.locked():
                self._computing.pop((key, state), None)
        else:
            m.ANSWERS.labels(route, "kept").inc()
        return EncodedJSON(body)

    def _found(self, key: Hashable, state: Hashable) -> bytes | None:
        kept = self._kept.get(key)
        if kept is None or kept[0] != state:
            return None
        self._kept.move_to_end(key)
        return kept[1]

    def _keep(self, key: Hashable, state: Hashable, body: bytes) -> None:
        self._kept[key] = (state, body)
        self._kept.move_to_end(key)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)


async def _answers(request: Request, principal: PrincipalDep, db: DatabaseDep) -> Answered:
    """For a caller with a valid token, as any read. The app's answers are made on first use."""
    answers: Answers | None = getattr(request.app.state, "answers", None)
    if answers is None:
        answers = request.app.state.answers = Answers()
    return Answered(answers, db)


class Answered:
    """A route's way to its kept answer:
    ``await answered("rankings", (campaign_id, year, …), campaign_id, year, compute)``."""

    def __init__(self, answers: Answers, db: Database) -> None:
        self._answers = answers
        self._db = db

    async def __call__(self, route: str, params: tuple[Any, ...], campaign_id: uuid.UUID,
                       year: int, compute: Callable[[Conn], Awaitable[Any]]) -> EncodedJSON:
        return await self._answers.answer(self._db, route, params, campaign_id, year, compute)


AnswersDep = Annotated[Answered, Depends(_answers)]
