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
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from pydantic import BaseModel
from pydantic_core import to_json

from chungtay_common import clock
from chungtay_common.auth import PrincipalDep
from chungtay_common.db import Conn
from chungtay_common.http import Database, DatabaseDep, EncodedJSON
from services.reporting import metrics as m
from services.reporting import repository

log = logging.getLogger(__name__)
KEPT = 256  # answers kept (the oldest goes first): a province's pages, a year's summaries
PROBE_SECONDS = 5.0  # how often the listening connection is checked


class ViewsChanges:
    """The changes of the views as the database announces them: every transaction that changes
    them sends ``repository.VIEWS_CHANNEL`` at its commit (``record_positions``, the rebuild's
    swap), and each one received moves ``generation`` on. So a kept answer is served without
    asking the database whether it still holds. While not listening (not yet, or the
    connection lost: a change may have gone unheard) ``generation`` is None, and answers ask
    the database; a new connection moves it on too (what was kept before it is not served).

    ``keep`` is the service's periodic job: it connects when not listening and checks a
    listening connection every ``PROBE_SECONDS`` with a query."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._count = 0
        self._probed = 0.0
        self._listening = False
        self._failing = False

    @property
    def generation(self) -> int | None:
        return self._count if self._listening else None

    def _changed(self, *_: Any) -> None:
        self._count += 1

    def _lost(self, *_: Any) -> None:
        self._listening = False

    async def keep(self, _: Database | None = None) -> None:
        loop = asyncio.get_running_loop()
        if self._conn is not None and not self._conn.is_closed() and self._listening:
            if loop.time() - self._probed < PROBE_SECONDS:
                return
            try:
                await self._conn.fetchval("SELECT 1", timeout=PROBE_SECONDS)
                self._probed = loop.time()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                self._listening = False
        await self.close()
        try:
            conn = await asyncpg.connect(self._dsn, timeout=PROBE_SECONDS)
            conn.add_termination_listener(self._lost)
            await conn.add_listener(repository.VIEWS_CHANNEL, self._changed)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            if not self._failing:  # once an outage; the answers ask the database meanwhile
                log.warning("not listening to the views' changes: %r", exc)
            self._failing = True
            return
        if self._failing:
            log.info("listening to the views' changes again")
        self._conn, self._probed, self._failing = conn, loop.time(), False
        self._count += 1
        self._listening = True

    async def close(self, _: Database | None = None) -> None:
        self._listening = False
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


class Answers:
    def __init__(self, size: int = KEPT, changes: ViewsChanges | None = None) -> None:
        self._size = size
        self._changes = changes
        self._kept: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._computing: dict[Hashable, asyncio.Lock] = {}
        # the year's due instant of a campaign, read once a generation of the views
        self._dues: dict[tuple[uuid.UUID, int], tuple[int, datetime | None]] = {}

    async def _version(self, db: Database, campaign_id: uuid.UUID, year: int
                       ) -> tuple[Hashable, datetime | None]:
        """Where the views stand, and the year's due instant: from what the database
        announced when listening, else read from it."""
        generation = self._changes.generation if self._changes is not None else None
        if generation is None:
            async with db.read() as conn:
                return await repository.views_version(conn, campaign_id, year)
        kept = self._dues.get((campaign_id, year))
        if kept is None or kept[0] != generation:
            async with db.read() as conn:
                kept = (generation, await repository.cycle_due(conn, campaign_id, year))
            if len(self._dues) >= self._size:
                self._dues.clear()
            self._dues[(campaign_id, year)] = kept
        return ("notified", generation), kept[1]

    async def answer(self, db: Database, route: str, params: tuple[Any, ...],
                     campaign_id: uuid.UUID, year: int,
                     compute: Callable[[Conn], Awaitable[BaseModel]]) -> EncodedJSON:
        """The answer of ``route`` to ``params``, computed by ``compute`` unless kept since
        the views last changed."""
        key = (route, *params)
        version, due = await self._version(db, campaign_id, year)
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
        answers = request.app.state.answers = Answers(
            changes=getattr(request.app.state, "views_changes", None))
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
