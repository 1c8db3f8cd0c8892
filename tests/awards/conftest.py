"""The awards service in this process on the real PostgreSQL and Kafka, fed the real way: units
registered through the registration API (also in this process) and consumed from the
registration topic; reported facts and targets published to the indicators topic as the
indicators service sends them, and consumed into the service's own copy."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from chungtay_common.auth import Role
from chungtay_common.contracts.indicators import ReportSubmitted, TargetSet
from chungtay_common.db import json_codecs
from chungtay_common.events import Actor, new_envelope
from chungtay_common.topics import topic_name
from services.awards.api import build_app as build_awards
from services.awards.settings import AwardsSettings
from services.registration.api import build_app as build_registration
from services.registration.settings import RegistrationSettings
from tests.conftest import TestStack, next_code
from tests.harness import in_process
from tests.support import assert_problem, bearer, eventually, ok, register_unit

Json = dict[str, Any]
YEAR = 2024
# Reported figures of every "eligible" commune: 10.00 % poor in 2023, 8.00 % in 2024, on time;
# its 2024 target is a reduction of 2.00 points, so it is met exactly.
HOUSEHOLDS = 10_000
POOR_BEFORE = 1_000
POOR_EXACT = 800
POOR_SHORT = 801  # 8.01 %: a reduction of 1.99 points, 0.01 short of the target
TARGET_PP = 2.0


def awards_settings(stack: TestStack) -> AwardsSettings:
    settings = stack.settings(AwardsSettings, "awards")
    assert isinstance(settings, AwardsSettings)
    return settings


@pytest.fixture(scope="session")
async def awards(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    """The awards API in this process (its outbox relay and consumers run too), no token."""
    async with in_process(build_awards(awards_settings(stack))) as client:
        yield client


@pytest.fixture(scope="session")
async def awards_registration(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    """The registration API in this process: the world's units are registered through it."""
    settings = cast(RegistrationSettings, stack.settings(RegistrationSettings, "registration"))
    async with in_process(build_registration(settings)) as client:
        yield client


@pytest.fixture(scope="session")
async def awards_db(stack: TestStack, awards: httpx.AsyncClient
                    ) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the service's database (migrated by ``awards``)."""
    conn = await asyncpg.connect(awards_settings(stack).dsn())
    await json_codecs(conn)
    try:
        yield conn
    finally:
        await conn.close()


def report_submitted(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int, poor: int, *,
                     version: int = 1, on_time: bool = True) -> ReportSubmitted:
    """The ``report.submitted`` payload the indicators service would send."""
    due = datetime(year + 1, 1, 15, tzinfo=UTC)
    submitted = datetime(year + 1, 1, 10 if on_time else 20, tzinfo=UTC)
    return ReportSubmitted(
        report_id=uuid.uuid5(campaign_id, f"{unit_id}:{year}"),
        campaign_id=campaign_id, unit_id=unit_id, year=year, version=version,
        values={"households_total": HOUSEHOLDS, "poor_households": poor},
        submitted_at=submitted, due_at=due, on_time=on_time, resubmission=version > 1,
        warnings=[])


def target_set(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
               reduction_pp_min: float) -> TargetSet:
    """The ``target.set`` payload of a reduction target."""
    return TargetSet(
        campaign_id=campaign_id, year=year, unit_id=unit_id, reduction_pp_min=reduction_pp_min,
        reduction_pp_max=None, households_out_min=None, households_out_max=None,
        at_most_national_average=False, source="test")


class FactFeed:
    """Reports and targets of one campaign, as the indicators service sends them."""

    def __init__(self) -> None:
        self.campaign_id = uuid.uuid4()

    async def report(self, unit_id: uuid.UUID, year: int, poor: int, *, version: int = 1,
                     on_time: bool = True) -> None:
        raise NotImplementedError

    async def target(self, unit_id: uuid.UUID, year: int, reduction_pp_min: float) -> None:
        raise NotImplementedError

    async def held(self, expected: dict[tuple[uuid.UUID, int], int],
                   targets: set[tuple[uuid.UUID, int]] | None = None) -> None:
        """Once this returns, the awards service holds the reports and targets sent."""

    async def eligible(self, *units: uuid.UUID, poor_now: int = POOR_EXACT,
                       on_time: bool = True) -> None:
        """2023 and 2024 reports and the 2024 target of each unit (met exactly, unless
        ``poor_now`` says otherwise), held by the service."""
        for u in units:
            await self.report(u, YEAR - 1, POOR_BEFORE)
            await self.report(u, YEAR, poor_now, on_time=on_time)
            await self.target(u, YEAR, TARGET_PP)
        await self.held({(u, y): 1 for u in units for y in (YEAR - 1, YEAR)},
                        {(u, YEAR) for u in units})


class Facts(FactFeed):
    """Publishes ``report.submitted`` and ``target.set`` to the indicators topic of the run,
    exactly as the indicators service does, and waits until the awards service holds them."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, db: asyncpg.Connection) -> None:
        super().__init__()
        self.producer = producer
        self.topic = topic
        self.db = db

    async def _send(self, unit_id: uuid.UUID, payload: BaseModel) -> None:
        env = new_envelope(payload=payload, producer="indicators", subject_id=str(unit_id),
                           actor=Actor(subject="indicators-test", roles=["reporter"]))
        body = json.dumps(env.model_dump(mode="json", serialize_as_any=True)).encode()
        await self.producer.send_and_wait(self.topic, body, key=str(unit_id).encode())

    async def report(self, unit_id: uuid.UUID, year: int, poor: int, *, version: int = 1,
                     on_time: bool = True) -> None:
        await self._send(unit_id, report_submitted(self.campaign_id, unit_id, year, poor,
                                                   version=version, on_time=on_time))

    async def target(self, unit_id: uuid.UUID, year: int, reduction_pp_min: float) -> None:
        await self._send(unit_id, target_set(self.campaign_id, unit_id, year, reduction_pp_min))

    async def held(self, expected: dict[tuple[uuid.UUID, int], int],
                   targets: set[tuple[uuid.UUID, int]] | None = None) -> None:
        """Wait until each (unit, year) report is held at its version, and each target."""
        async for attempt in eventually():
            with attempt:
                rows = await self.db.fetch(
                    "SELECT unit_id, year, version FROM reported_facts WHERE campaign_id = $1",
                    self.campaign_id)
                have = {(r["unit_id"], r["year"]): r["version"] for r in rows}
                assert all(have.get(k) == v for k, v in expected.items()), have
                rows = await self.db.fetch(
                    "SELECT unit_id, year FROM unit_targets WHERE campaign_id = $1",
                    self.campaign_id)
                assert (targets or set()) <= {(r["unit_id"], r["year"]) for r in rows}


@pytest.fixture(scope="session")
async def facts(stack: TestStack, awards_db: asyncpg.Connection) -> AsyncIterator[Facts]:
    producer = AIOKafkaProducer(bootstrap_servers=awards_settings(stack).kafka_bootstrap,
                                acks="all", enable_idempotence=True)
    await producer.start()
    try:
        yield Facts(producer, topic_name("indicators", stack.namespace), awards_db)
    finally:
        await producer.stop()


@dataclass
class World:
    """Province → district A (communes, one with a village) and district B (communes for the
    candidates list). The pool's communes and ``cand_eligible`` meet their 2024 target exactly;
    ``cand_short`` is 0.01 point short of it."""

    province: uuid.UUID
    district_a: uuid.UUID
    district_b: uuid.UUID
    commune: uuid.UUID  # a commune of A with a village, whose people and households are nominated
    village: uuid.UUID
    short: uuid.UUID  # another commune of A
    cand_eligible: uuid.UUID  # under B
    cand_short: uuid.UUID  # under B
    cand_nominated: uuid.UUID  # under B
    pool: list[uuid.UUID] = field(default_factory=list)  # eligible communes of A, one per test
    _next: Iterator[uuid.UUID] = field(init=False)

    def __post_init__(self) -> None:
        self._next = iter(self.pool)

    def eligible_commune(self) -> uuid.UUID:
        """A commune of district A that meets its 2024 target and is used by no other test."""
        return next(self._next)


@pytest.fixture(scope="session")
async def world(stack: TestStack, awards: httpx.AsyncClient,
                awards_registration: httpx.AsyncClient, awards_db: asyncpg.Connection,
                facts: Facts) -> World:
    admin = bearer(stack.token(Role.ADMIN, sub="admin"))
    tag = uuid.uuid4().hex[:6]

    async def register(kind: str, subkind: str, name: str,
                       parent: uuid.UUID | None = None) -> uuid.UUID:
        unit = await register_unit(awards_registration, admin, kind=kind, subkind=subkind,
                                   name=f"{name} {tag}", parent=parent,
                                   code=None if kind == "village" else next_code())
        return uuid.UUID(unit["unit_id"])

    province = await register("province", "tinh", "Tỉnh Thử")
    district_a = await register("district", "huyen", "Huyện Minh Hóa", province)
    district_b = await register("district", "huyen", "Huyện Tuyên Hóa", province)
    commune = await register("commune", "xa", "Xã Hóa Hợp", district_a)
    village = await register("village", "thon", "Thôn Yên Hợp", commune)
    short = await register("commune", "xa", "Xã Trọng Hóa", district_a)
    cand = [await register("commune", "xa", f"Xã Thanh {i}", district_b) for i in range(3)]
    pool = [await register("commune", "xa", f"Xã Dân Hóa {i}", district_a) for i in range(4)]
    w = World(province, district_a, district_b, commune, village, short,
              cand_eligible=cand[0], cand_short=cand[1], cand_nominated=cand[2], pool=pool)
    everyone = [province, district_a, district_b, commune, village, short, *cand, *pool]
    async for attempt in eventually():
        with attempt:
            held = await awards_db.fetchval(
                "SELECT count(*) FROM units WHERE unit_id = ANY($1)", everyone)
            assert held == len(everyone)
    await facts.eligible(w.cand_eligible, w.cand_nominated, *pool)
    await facts.eligible(w.cand_short, poor_now=POOR_SHORT)
    return w


class Tokens:
    """Headers for each role, scoped as the issue describes."""

    def __init__(self, stack: TestStack, world: World) -> None:
        self.stack, self.world = stack, world

    def __call__(self, role: Role, unit: uuid.UUID | None, sub: str | None = None
                 ) -> dict[str, str]:
        return bearer(self.stack.token(role, unit=unit, sub=sub or f"{role.value}-{unit}"))

    def reporter(self, unit: uuid.UUID) -> dict[str, str]:
        return self(Role.REPORTER, unit, "reporter")

    @property
    def council(self) -> dict[str, str]:
        return self(Role.COUNCIL, self.world.district_a, "council-a")

    @property
    def board(self) -> dict[str, str]:
        return self(Role.BOARD, self.world.province, "board")

    def chairman(self, unit: uuid.UUID) -> dict[str, str]:
        return self(Role.CHAIRMAN, unit, f"chairman-{unit}")

    @property
    def admin(self) -> dict[str, str]:
        return self(Role.ADMIN, None, "admin")


@pytest.fixture(scope="session")
def tokens(stack: TestStack, world: World) -> Tokens:
    return Tokens(stack, world)


DECISION: Json = {"number": "123/QĐ-UBND", "signed_on": "2025-01-20", "signer": "Nguyễn Văn A"}


class Flow:
    """Nominations taken through their steps over HTTP, each step asserted to succeed (or to
    be refused, with ``refused``)."""

    def __init__(self, client: httpx.AsyncClient, tokens: Tokens, world: World) -> None:
        self.client, self.t, self.w = client, tokens, world

    async def nominate(self, form_code: str, nominee: Json, proposing: uuid.UUID | None = None,
                       year: int = YEAR) -> Json:
        proposing = proposing or uuid.UUID(nominee["unit_id"])
        r = await self.client.post("/v1/nominations", headers=self.t.reporter(proposing), json={
            "form_code": form_code, "year": year, "nominee": nominee,
            "proposing_unit_id": str(proposing),
            "achievements": "Hoàn thành xuất sắc nhiệm vụ giảm nghèo."})
        result: Json = ok(r, 201)
        return result

    def person(self, unit: uuid.UUID | None = None) -> Json:
        return {"kind": "person", "unit_id": str(unit or self.w.commune),
                "name": f"Trần Thị {uuid.uuid4().hex[:8]}", "position": "cán bộ"}

    @staticmethod
    def unit(unit_id: uuid.UUID) -> Json:
        return {"kind": "unit", "unit_id": str(unit_id)}

    async def send(self, nomination: Json, step: str, headers: dict[str, str],
                   body: Json | None = None) -> httpx.Response:
        url = f"/v1/nominations/{nomination['nomination_id']}"
        if step == "edit":
            return await self.client.patch(url, headers=headers, json=body)
        return await self.client.post(f"{url}/{step}", headers=headers,
                                      json=body if body is not None else {})

    async def take(self, nomination: Json, step: str, headers: dict[str, str],
                   body: Json | None = None) -> Json:
        result: Json = ok(await self.send(nomination, step, headers, body), 200)
        return result

    async def refused(self, nomination: Json, step: str, headers: dict[str, str],
                      body: Json | None, status: int, field: str | None = None) -> Json:
        """The step refused with a problem of ``status`` (naming ``field``)."""
        return assert_problem(await self.send(nomination, step, headers, body), status, field)

    async def submit(self, n: Json) -> Json:
        return await self.take(n, "submit", self.t.reporter(uuid.UUID(n["proposing_unit_id"])))

    async def review(self, n: Json) -> Json:
        return await self.take(n, "review", self.t.council,
                               {"votes_for": 7, "votes_against": 1, "votes_abstain": 1,
                                "members": 9,
                                "comment": "Hội đồng nhất trí"})

    async def appraise(self, n: Json) -> Json:
        return await self.take(n, "appraise", self.t.board, {"comment": "Đủ điều kiện"})

    async def to(self, n: Json, status: str) -> Json:
        """Take a drafted nomination to ``status`` by the usual path."""
        path = ["submitted", "reviewed", "appraised"]
        steps = {"submitted": self.submit, "reviewed": self.review, "appraised": self.appraise}
        for s in path[: path.index(status) + 1]:
            n = await steps[s](n)
        return n


@pytest.fixture(scope="session")
def flow(awards: httpx.AsyncClient, tokens: Tokens, world: World) -> Flow:
    return Flow(awards, tokens, world)
