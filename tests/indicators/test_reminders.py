"""Reminders (đôn đốc) end to end, on a namespace of their own: registration and two instances of
the indicators service in this process on one database, a real SMTP server (aiosmtpd) and a
real webhook receiver (aiohttp), the service's clock moved through a cycle."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from chungtay_common import clock
from chungtay_common.auth import Role
from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import ensure_topics
from services.indicators.api import build_app as build_indicators
from services.indicators.settings import IndicatorsSettings
from services.registration.api import build_app as build_registration
from services.registration.settings import RegistrationSettings
from tests.conftest import TestStack, delete_topics, next_code
from tests.harness import free_port, in_process
from tests.support import assert_problem, bearer, eventually, metric, ok, register_unit

YEAR = 2027
DUE = datetime(YEAR, 11, 19, 17, 0, tzinfo=UTC)  # before 20 November 2027, Vietnam time
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


class Mailbox:
    """aiosmtpd's handler: every message the server accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Receiver:
    """A subscriber's endpoint: what it received; it answers ``status``."""

    url: str = ""
    status: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.status >= 300:
            self.refused += 1
            return web.Response(status=self.status)
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)


@dataclass
class World:
    stack: TestStack
    registration: httpx.AsyncClient
    indicators: httpx.AsyncClient
    db: asyncpg.Connection
    mailbox: Mailbox
    receiver: Receiver
    failing: Receiver
    settings: IndicatorsSettings
    admin: dict[str, str]


@pytest.fixture(scope="module")
async def world(stack: TestStack) -> AsyncIterator[World]:
    namespace = f"{stack.namespace}rm"
    base = stack.settings(ServiceSettings, "registration")
    admin_dsn = base.dsn("postgres")
    for service in ("registration", "indicators"):
        await ensure_database(admin_dsn, f"{namespace}_{service}")
    await ensure_topics(base, namespace)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    receiver, failing = Receiver(), Receiver(status=500)
    app = web.Application()
    app.router.add_post("/ok", receiver.handle)
    app.router.add_post("/failing", failing.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url, failing.url = f"http://127.0.0.1:{port}/ok", f"http://127.0.0.1:{port}/failing"
    indicators = stack.settings(IndicatorsSettings, "indicators")
    assert isinstance(indicators, IndicatorsSettings)
    settings = indicators.model_copy(update={
        "topic_namespace": namespace, "pg_database": f"{namespace}_indicators",
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "public_url": "https://chungtay.example",
        "reminder_check_seconds": 0.2, "delivery_check_seconds": 0.2,
        "delivery_retry_seconds": 0.2, "delivery_max_attempts": 3})
    registration = stack.settings(RegistrationSettings, "registration").model_copy(update={
        "topic_namespace": namespace, "pg_database": f"{namespace}_registration"})
    try:
        async with AsyncExitStack() as apps:
            reg = await apps.enter_async_context(in_process(build_registration(registration)))
            first = await apps.enter_async_context(in_process(build_indicators(settings)))
            # a second instance on the same database: it plans and sends too
            await apps.enter_async_context(in_process(build_indicators(settings)))
            conn = await asyncpg.connect(settings.dsn())
            apps.push_async_callback(conn.close)
            yield World(stack, reg, first, conn, mailbox, receiver, failing, settings,
                        bearer(stack.token(Role.ADMIN, sub="admin")))
    finally:
        await runner.cleanup()
        smtp.stop()
        for service in ("registration", "indicators"):
            await drop_database(admin_dsn, f"{namespace}_{service}")
        await delete_topics(base, namespace)


async def _unit(w: World, kind: str, subkind: str, name: str, parent: uuid.UUID | None = None
                ) -> uuid.UUID:
    u = await register_unit(w.registration, w.admin, kind=kind, subkind=subkind, name=name,
                            code=next_code(), parent=parent)
    return uuid.UUID(u["unit_id"])


async def _notices(w: World) -> Counter[tuple[uuid.UUID, str]]:
    rows = await w.db.fetch("SELECT unit_id, step FROM notices")
    return Counter((r["unit_id"], r["step"]) for r in rows)


async def _settle(w: World, seconds: float = 1.5) -> None:
    """Let both instances plan and send a few rounds (0.2 s each) at the frozen time."""
    await asyncio.sleep(seconds)


async def test_late_units_are_reminded_once_by_email_webhook_and_inbox_and_escalated(
    world: World,
) -> None:
    w = world
    tag = uuid.uuid4().hex[:4]
    province = await _unit(w, "province", "tinh", f"Tỉnh Nhắc Nhở {tag}")
    district_a = await _unit(w, "district", "huyen", f"Huyện Minh Hóa {tag}", province)
    district_b = await _unit(w, "district", "huyen", f"Huyện Tuyên Hóa {tag}", province)
    a1 = await _unit(w, "commune", "xa", f"Xã Hóa Sơn {tag}", district_a)
    a2 = await _unit(w, "commune", "xa", f"Xã Dân Hóa {tag}", district_a)
    b1 = await _unit(w, "commune", "xa", f"Xã Lâm Hóa {tag}", district_b)
    units = [province, district_a, district_b, a1, a2, b1]
    async for attempt in eventually(30):
        with attempt:
            assert await w.db.fetchval("SELECT count(*) FROM units WHERE unit_id = ANY($1)",
                                       units) == len(units)
    board = bearer(w.stack.token(Role.BOARD, sub="can-bo-ban-tdkt", unit=province))
    campaign = ok(await w.indicators.post("/v1/campaigns", headers=board, json={
        "code": f"nhac-{tag}", "name": "Chung tay vì người nghèo", "first_year": YEAR,
        "last_year": YEAR}), 201)["campaign_id"]

    # contacts, kept by the registrar of district A (and of the province for B's commune)
    reg_a = bearer(w.stack.token(Role.REGISTRAR, sub="dang-ky-a", unit=district_a))
    reg_p = bearer(w.stack.token(Role.REGISTRAR, sub="dang-ky-tinh", unit=province))
    hook = ok(await w.indicators.post(f"/v1/units/{a1}/contacts", headers=reg_a, json={
        "name": "Nguyễn Thị Hoa", "role": "Công chức LĐ-TB&XH xã", "email": "hoa@a1.example",
        "webhook_url": w.receiver.url}), 201)
    secret = hook["webhook_secret"]
    assert secret and len(secret) >= 32
    ok(await w.indicators.post(f"/v1/units/{a2}/contacts", headers=reg_a, json={
        "name": "Trần Văn Bình", "email": "binh@a2.example", "phone": "+84 912 345 678"}), 201)
    ok(await w.indicators.post(f"/v1/units/{district_a}/contacts", headers=reg_p, json={
        "name": "Phòng LĐ-TB&XH huyện", "email": "phong@a.example"}), 201)
    dead_hook = ok(await w.indicators.post(f"/v1/units/{b1}/contacts", headers=reg_p, json={
        "name": "Hệ thống xã", "webhook_url": w.failing.url}), 201)
    # who may not, and what is refused, naming the field
    r = await w.indicators.post(f"/v1/units/{b1}/contacts", headers=reg_a,
                                json={"name": "X", "email": "x@b1.example"})
    assert_problem(r, 403)
    r = await w.indicators.post(
        f"/v1/units/{a1}/contacts", json={"name": "X", "email": "x@a1.example"},
        headers=bearer(w.stack.token(Role.REPORTER, unit=a1)))
    assert_problem(r, 403)
    assert_problem(await w.indicators.post(f"/v1/units/{a1}/contacts", headers=reg_a,
                                           json={"name": "X", "email": "không-phải-email"}),
                   422, field="email")
    assert_problem(await w.indicators.post(f"/v1/units/{a1}/contacts", headers=reg_a,
                                           json={"name": "X"}), 422, field="email")
    listed = ok(await w.indicators.get(f"/v1/units/{a1}/contacts", headers=reg_a), 200)
    assert [c["webhook_secret"] for c in listed] == [None]  # shown once, at creation
    policy = ok(await w.indicators.get(f"/v1/campaigns/{campaign}/reminder-policy",
                                       headers=board), 200)
    assert policy["is_default"] and policy["before_days"] == [7, 1]
    assert_problem(await w.indicators.put(
        f"/v1/campaigns/{campaign}/reminder-policy", headers=board,
        json={"escalate_after_days": 60}), 422, field="escalate_after_days")

    # 7 days before the due instant: every unit without a report is reminded, once
    with clock.frozen(DUE - 7 * DAY + HOUR):
        async for attempt in eventually(20):
            with attempt:
                assert len(w.mailbox.messages) == 3 and len(w.receiver.received) == 1
        await _settle(w)
    assert await _notices(w) == Counter({(u, "before:7"): 1 for u in units[1:]})
    first = w.mailbox.to("hoa@a1.example")
    assert len(first) == 1
    message = first[0]
    assert message["Subject"] == \
        f"[Chung tay vì người nghèo] Nhắc nộp báo cáo năm {YEAR}: còn 7 ngày"
    text = message.get_content()
    assert f"Kính gửi: Xã Hóa Sơn {tag}" in text and "“Chung tay vì người nghèo”" in text
    assert "trước 00:00 ngày 20/11/2027 (giờ Việt Nam), còn 7 ngày" in text
    assert f"https://chungtay.example/v1/campaigns/{campaign}/reports/{a1}/{YEAR}" in text
    # the webhook: signed with the contact's secret, its delivery id in a header
    headers, body = w.receiver.received[0]
    t, v1 = (part.split("=", 1)[1] for part in headers["X-Chungtay-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)
    assert int(t) == int((DUE - 7 * DAY + HOUR).timestamp())  # the service's clock
    sent_body = json.loads(body)
    assert headers["X-Chungtay-Delivery"] == sent_body["delivery_id"]
    assert sent_body["notice"]["unit_id"] == str(a1) and sent_body["notice"]["step"] == "before:7"
    assert f"Xã Hóa Sơn {tag}" in sent_body["notice"]["body"]

    # the failing webhook: tried, tried again, then dead; listed; a retry by hand delivers
    async for attempt in eventually(20):
        with attempt:
            dead = ok(await w.indicators.get("/v1/deliveries", headers=board,
                                             params={"status": "dead", "channel": "webhook"}))
            assert [d["contact_id"] for d in dead["items"]] == [dead_hook["contact_id"]]
    assert dead["items"][0]["attempts"] == 3 and "500" in dead["items"][0]["last_error"]
    assert w.failing.refused == 3
    assert await metric(w.indicators, "chungtay_indicators_reminder_deliveries_total",
                        channel="webhook", outcome="dead") >= 1
    assert await metric(w.indicators, "chungtay_indicators_reminder_deliveries_total",
                        channel="webhook", outcome="retried") >= 2
    w.failing.status = 200
    ok(await w.indicators.post(f"/v1/deliveries/{dead['items'][0]['delivery_id']}/retry",
                               headers=board))
    # only a dead delivery is retried by hand
    sent_one = ok(await w.indicators.get("/v1/deliveries", headers=board,
                                         params={"status": "sent", "limit": 1}))["items"][0]
    assert_problem(await w.indicators.post(f"/v1/deliveries/{sent_one['delivery_id']}/retry",
                                           headers=board), 409)
    async for attempt in eventually(10):
        with attempt:
            assert len(w.failing.received) == 1

    # commune a1 reports on time: it is told nothing more
    with clock.frozen(DUE - 2 * DAY):
        reporter = bearer(w.stack.token(Role.REPORTER, unit=a1))
        ok(await w.indicators.post(f"/v1/campaigns/{campaign}/reports/{a1}/{YEAR}/submit",
                                   headers=reporter, json={"values": {
                                       "households_total": 1000, "poor_households": 80,
                                       "near_poor_households": 40, "escaped_poverty": 20,
                                       "newly_poor": 2, "fell_back_into_poverty": 1}}))
    # commune a2's contact is removed: its notices stay in its inbox, no email goes out
    a2_contact = ok(await w.indicators.get(f"/v1/units/{a2}/contacts", headers=reg_a))[0]
    ok(await w.indicators.post(f"/v1/contacts/{a2_contact['contact_id']}/remove",
                               headers=reg_a))
    with clock.frozen(DUE - DAY + HOUR):
        async for attempt in eventually(20):
            with attempt:
                assert len(w.mailbox.messages) == 4  # district A's 1-day reminder
        await _settle(w)
    assert len(w.mailbox.to("binh@a2.example")) == 1  # the 7-day one, before the removal
    assert {u for (u, step) in await _notices(w) if step == "before:1"} == \
        {district_a, district_b, a2, b1}

    # a week after: the 1-day reminder (the 8-day one is not due yet) and the escalation, one
    # message per parent naming its units still missing
    with clock.frozen(DUE + 7 * DAY + HOUR):
        async for attempt in eventually(20):
            with attempt:
                steps = await _notices(w)
                assert {u for (u, s) in steps if s == "escalation:7"} == \
                    {province, district_a, district_b}
                assert len(w.mailbox.to("phong@a.example")) == 4  # 7, 1 days; after 1; up
        await _settle(w)
    notices = await _notices(w)
    assert all(n == 1 for n in notices.values()), notices
    assert {u for (u, s) in notices if s == "after:1"} == {district_a, district_b, a2, b1}
    escalated = [m for m in w.mailbox.to("phong@a.example") if "trực thuộc" in m["Subject"]]
    assert len(escalated) == 1
    assert f"- Xã Dân Hóa {tag}" in escalated[0].get_content()
    assert f"Xã Hóa Sơn {tag}" not in escalated[0].get_content()  # it reported
    # exactly once on the wire too: no address got the same subject twice
    sent = Counter((m["To"], m["Subject"]) for m in w.mailbox.messages)
    assert all(n == 1 for n in sent.values()), sent
    assert len({m["Message-ID"] for m in w.mailbox.messages}) == len(w.mailbox.messages)

    # the inbox: each unit reads its own (and the levels above it); not another's
    mine = bearer(w.stack.token(Role.REPORTER, unit=a2))
    page = ok(await w.indicators.get(f"/v1/units/{a2}/notices", headers=mine), 200)
    assert [n["step"] for n in page["items"]] == ["after:1", "before:1", "before:7"]
    assert_problem(await w.indicators.get(f"/v1/units/{a1}/notices", headers=mine), 403)
    # whether a notice was read is the unit's own: the board above reads, does not mark
    assert_problem(await w.indicators.post(
        f"/v1/notices/{page['items'][0]['notice_id']}/read", headers=board), 403)
    read = ok(await w.indicators.post(f"/v1/notices/{page['items'][0]['notice_id']}/read",
                                      headers=mine))
    assert read["read_at"] is not None and read["read_by"] == "tester"
    unread = ok(await w.indicators.get(f"/v1/units/{a2}/notices", headers=mine,
                                       params={"unread": "true"}))
    assert unread["total"] == 2
    above = ok(await w.indicators.get(f"/v1/units/{a2}/notices", headers=board))
    assert above["total"] == 3


async def test_a_restarted_instance_sends_nothing_twice(world: World, stack: TestStack) -> None:
    """After the first test's cycle, a third instance started at the same instant plans the
    same steps: the notices' key makes every one of them there already."""
    w = world
    before = await _notices(w)
    mails = len(w.mailbox.messages)
    assert before, "runs after the cycle of the test above"
    with clock.frozen(DUE + 7 * DAY + 2 * HOUR):
        async with in_process(build_indicators(w.settings)):
            await _settle(w, 2.0)
    assert await _notices(w) == before
    assert len(w.mailbox.messages) == mails
