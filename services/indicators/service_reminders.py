"""Use cases of the reminders (đôn đốc): contact points, each campaign's reminder policy, the
notices a unit reads in its inbox, and the periodic planning of who is reminded when
(``plan_reminders``). Sending them is ``channels.Deliverer``'s."""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import httpx

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.db import Conn
from chungtay_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from chungtay_common.messages import en_vi
from chungtay_common.settings import Environment
from services.indicators import domain
from services.indicators import domain_reminders as rules
from services.indicators import metrics as m
from services.indicators import repository as reports_repository
from services.indicators import repository_reminders as repository
from services.indicators import schemas as s
from services.indicators.settings import IndicatorsSettings

# the cycles planning looks at: due within a year and a month of now, either side
HORIZON = timedelta(days=400)

# --------------------------------------------------------------------------- contacts


def _contact_out(row: asyncpg.Record, secret: str | None = None) -> s.ContactOut:
    return s.ContactOut(**{k: row[k] for k in s.ContactOut.model_fields
                           if k != "webhook_secret"}, webhook_secret=secret)


def _audited(row: asyncpg.Record) -> dict[str, Any]:
    """What the audit log keeps of a contact: never its webhook secret."""
    return {k: str(row[k]) if isinstance(row[k], uuid.UUID) else row[k]
            for k in ("contact_id", "unit_id", *repository.CONTACT_FIELDS)}


def _reachable(body: s.ContactIn, environment: Environment) -> None:
    if body.email is None and body.phone is None and body.webhook_url is None:
        raise InvalidInput.on("email", "give at least one of email, phone or webhook_url")
    if body.webhook_url is not None:
        _check_webhook(body.webhook_url, environment)


def _check_webhook(url: str, environment: Environment) -> None:
    """A URL the service may post to: well formed; in production https, and not an address of
    the service's own network (loopback, private, link-local: the metadata service), which a
    registrar could otherwise make the service call."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise InvalidInput.on("webhook_url", "is not a valid URL") from None
    if not parsed.host:
        raise InvalidInput.on("webhook_url", "has no host")
    if environment is not Environment.PRODUCTION:
        return
    if parsed.scheme != "https":
        raise InvalidInput.on("webhook_url", "must be https")
    host = parsed.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise InvalidInput.on("webhook_url", "must be a public address") from None
        return
    if not address.is_global:
        raise InvalidInput.on("webhook_url", "must be a public address")


async def _unit_in_scope(conn: Conn, ctx: Context, unit_id: uuid.UUID) -> None:
    if await hierarchy.unit_on(conn, unit_id, clock.today()) is None:
        raise NotFound(en_vi(f"no active unit {unit_id}", f"không có đơn vị {unit_id}"))
    await hierarchy.ensure_authority(conn, ctx.principal, unit_id, clock.today(), "the unit")


async def _contact_in_scope(conn: Conn, ctx: Context, contact_id: uuid.UUID) -> asyncpg.Record:
    row = await repository.contact(conn, contact_id, lock=True)
    if row is None:
        raise NotFound(en_vi(f"no contact {contact_id}", f"không có đầu mối {contact_id}"))
    await hierarchy.ensure_authority(conn, ctx.principal, row["unit_id"], clock.today(),
                                     "the contact's unit")
    return row


async def add_contact(conn: Conn, ctx: Context, unit_id: uuid.UUID, body: s.ContactIn,
                      environment: Environment) -> s.ContactOut:
    """A contact point of a unit in the registrar's subtree; a webhook gets its secret,
    shown in this answer only."""
    _reachable(body, environment)
    await _unit_in_scope(conn, ctx, unit_id)
    secret = secrets.token_urlsafe(32) if body.webhook_url else None
    row = await repository.insert_contact(conn, uuid.uuid4(), unit_id, body.model_dump(),
                                          secret, ctx.principal.subject)
    await ctx.audit(conn, "contact.added", "contact", row["contact_id"], None, _audited(row))
    return _contact_out(row, secret)


async def list_contacts(conn: Conn, ctx: Context, unit_id: uuid.UUID) -> list[s.ContactOut]:
    """A unit's contact points: personal data, so read within scope and audited."""
    await _unit_in_scope(conn, ctx, unit_id)
    await ctx.audit(conn, "contact.list_read", "unit", unit_id, None, None)
    return [_contact_out(r) for r in await repository.contacts_of(conn, unit_id)]


async def replace_contact(conn: Conn, ctx: Context, contact_id: uuid.UUID,
                          body: s.ContactUpdate, environment: Environment) -> s.ContactOut:
    """The contact as it is to be. A webhook keeps its secret unless ``rotate_secret``; a new
    webhook gets one (shown in this answer only)."""
    _reachable(body, environment)
    before = await _contact_in_scope(conn, ctx, contact_id)
    secret: str | None = None
    if body.webhook_url is not None and (body.rotate_secret or before["webhook_secret"] is None):
        secret = secrets.token_urlsafe(32)
    kept = secret or (before["webhook_secret"] if body.webhook_url is not None else None)
    row = await repository.update_contact(conn, contact_id, body.model_dump(), kept)
    after = {**_audited(row), "secret_rotated": secret is not None}
    await ctx.audit(conn, "contact.changed", "contact", contact_id, _audited(before), after)
    return _contact_out(row, secret)


async def remove_contact(conn: Conn, ctx: Context, contact_id: uuid.UUID) -> s.ContactOut:
    """Stop using a contact point (kept for the deliveries that name it)."""
    row = await _contact_in_scope(conn, ctx, contact_id)
    await repository.remove_contact(conn, contact_id)
    cancelled = await repository.cancel_pending(conn, contact_id)
    await ctx.audit(conn, "contact.removed", "contact", contact_id, _audited(row),
                    {"deliveries_cancelled": cancelled})
    return _contact_out(row)


# --------------------------------------------------------------------------- policies


def policy_of(row: asyncpg.Record | dict[str, Any] | None) -> rules.Policy:
    if row is None or row["before_days"] is None:
        return rules.Policy()
    return rules.Policy(tuple(row["before_days"]), row["after_first_days"],
                        row["after_every_days"], row["stop_after_days"],
                        row["escalate_after_days"])


async def _campaign(conn: Conn, campaign_id: uuid.UUID) -> asyncpg.Record:
    row = await reports_repository.campaign(conn, campaign_id)
    if row is None:
        raise NotFound(en_vi(f"no campaign {campaign_id}", f"không có phong trào {campaign_id}"))
    return row


async def get_policy(conn: Conn, campaign_id: uuid.UUID) -> s.ReminderPolicyOut:
    """A campaign's reminder policy (the defaults until the board sets one)."""
    await _campaign(conn, campaign_id)
    row = await repository.policy(conn, campaign_id)
    policy = policy_of(row)
    return s.ReminderPolicyOut(
        campaign_id=campaign_id, before_days=list(policy.before_days),
        after_first_days=policy.after_first_days, after_every_days=policy.after_every_days,
        stop_after_days=policy.stop_after_days, escalate_after_days=policy.escalate_after_days,
        is_default=row is None, updated_by=row["updated_by"] if row else None,
        updated_at=row["updated_at"] if row else None)


async def set_policy(conn: Conn, ctx: Context, campaign_id: uuid.UUID,
                     body: s.ReminderPolicyIn) -> s.ReminderPolicyOut:
    """Set when a campaign's late units are reminded and when the level above is told."""
    if len(set(body.before_days)) != len(body.before_days):
        raise InvalidInput.on("before_days", "each day once")
    if body.after_first_days >= body.stop_after_days:
        raise InvalidInput.on("after_first_days", "must be fewer days than stop_after_days")
    if body.escalate_after_days >= body.stop_after_days:
        raise InvalidInput.on("escalate_after_days", "must be fewer days than stop_after_days")
    await _campaign(conn, campaign_id)
    before = await get_policy(conn, campaign_id)
    values = body.model_dump()
    values["before_days"] = sorted(set(body.before_days), reverse=True)
    await repository.set_policy(conn, campaign_id, values, ctx.principal.subject)
    after = await get_policy(conn, campaign_id)
    await ctx.audit(conn, "reminder_policy.set", "campaign", campaign_id,
                    before.model_dump(mode="json"), after.model_dump(mode="json"))
    return after


# --------------------------------------------------------------------------- the inbox


def _notice_out(row: asyncpg.Record) -> s.NoticeOut:
    return s.NoticeOut(**{k: row[k] for k in s.NoticeOut.model_fields})


async def inbox(conn: Conn, ctx: Context, unit_id: uuid.UUID, unread: bool, limit: int,
                offset: int) -> s.NoticePage:
    """A unit's notices, the newest first: for its own users and the levels above."""
    await _unit_in_scope(conn, ctx, unit_id)
    total, rows = await repository.inbox(conn, unit_id, unread, limit, offset)
    return s.NoticePage(total=total, items=[_notice_out(r) for r in rows])


async def mark_read(conn: Conn, ctx: Context, notice_id: uuid.UUID) -> s.NoticeOut:
    """Mark a notice read (the first reader and time are kept): by the unit's own users."""
    row = await repository.notice(conn, notice_id, lock=True)
    if row is None:
        raise NotFound(en_vi(f"no notice {notice_id}", f"không có thông báo {notice_id}"))
    if not (ctx.principal.has_any(Role.ADMIN) or ctx.principal.unit_id == row["unit_id"]):
        # the levels above read a unit's inbox; whether it was read is the unit's own
        raise Forbidden(en_vi("only the notice's unit marks it read",
                              "chỉ đơn vị nhận thông báo đánh dấu đã đọc"))
    after = await repository.mark_read(conn, notice_id, ctx.principal.subject)
    if row["read_at"] is None:
        await ctx.audit(conn, "notice.read", "notice", notice_id, None,
                        {"read_at": after["read_at"].isoformat()})
    return _notice_out(after)


# --------------------------------------------------------------------------- deliveries


def _delivery_out(row: asyncpg.Record) -> s.DeliveryOut:
    return s.DeliveryOut(**{k: row[k] for k in s.DeliveryOut.model_fields})


async def list_deliveries(conn: Conn, status: str | None, channel: str | None, limit: int,
                          offset: int) -> s.DeliveryPage:
    """Deliveries, the newest first (``status=dead``: the dead-letter list)."""
    total, rows = await repository.deliveries(conn, status, channel, limit, offset)
    return s.DeliveryPage(total=total, items=[_delivery_out(r) for r in rows])


async def retry_delivery(conn: Conn, ctx: Context, delivery_id: uuid.UUID) -> s.DeliveryOut:
    """Try a dead delivery again (its contact's address or URL mended, say) at the next round
    of sending, its tries counted afresh."""
    row = await repository.delivery(conn, delivery_id, lock=True)
    if row is None:
        raise NotFound(en_vi(f"no delivery {delivery_id}", f"không có lần gửi {delivery_id}"))
    if row["status"] != "dead":
        raise Conflict(en_vi(f"the delivery is {row['status']}: only a dead one is retried",
                             f"lần gửi đang ở trạng thái {row['status']}: chỉ thử lại lần gửi "
                             "đã thất bại hẳn"))
    await repository.retry(conn, delivery_id)
    await ctx.audit(conn, "delivery.retried", "delivery", delivery_id,
                    {"status": row["status"], "attempts": row["attempts"]}, {"status": "pending"})
    after = await repository.delivery(conn, delivery_id)
    assert after is not None
    return _delivery_out(after)


# --------------------------------------------------------------------------- planning


def channels(settings: IndicatorsSettings) -> list[str]:
    """The channels notices go out by: email only where an SMTP server is configured."""
    return [rules.Channel.WEBHOOK.value,
            *([rules.Channel.EMAIL.value] if settings.smtp_host else [])]


async def plan_reminders(conn: Conn, ctx: Context, settings: IndicatorsSettings) -> int:
    """Put a notice in the inbox of every unit due one now (and queue its deliveries): the
    current step's reminder to each unit still missing its report, the escalation to each
    parent of such units. One notice per unit, cycle and step, whatever runs it and how often
    (the notices' key); how many were added."""
    now = clock.now()
    added: Counter[str] = Counter()
    for cycle in await repository.cycles_to_remind(conn, now, HORIZON):
        policy, due = policy_of(cycle), cycle["due_at"]
        step = rules.current_step(now, due, policy)
        escalation = rules.escalation_step(now, due, policy)
        if step is None and escalation is None:
            continue
        missing = await repository.still_missing(
            conn, cycle["campaign_id"], cycle["year"], domain.eve_of(due),
            list(cycle["participating_kinds"]))
        if step is not None:
            added[step.kind] += await _remind(conn, ctx, settings, now, cycle, step, missing)
        if escalation is not None:
            added[escalation.kind] += await _escalate(conn, ctx, settings, now, cycle,
                                                      escalation, missing)
    for kind, n in added.items():
        ctx.after_commit(partial(m.REMINDER_NOTICES.labels(kind).inc, n))
    return sum(added.values())


def planner(settings: IndicatorsSettings) -> Callable[[Conn, Context], Awaitable[int]]:
    """``plan_reminders`` as a periodic job of the service (named so in its logs)."""

    async def plan_reminders_job(conn: Conn, ctx: Context) -> int:
        return await plan_reminders(conn, ctx, settings)

    return plan_reminders_job


def _link(settings: IndicatorsSettings, path: str) -> str:
    return settings.public_url.rstrip("/") + path


async def _remind(conn: Conn, ctx: Context, settings: IndicatorsSettings, now: datetime,
                  cycle: asyncpg.Record, step: rules.Step, missing: list[asyncpg.Record]) -> int:
    campaign_id, year = cycle["campaign_id"], cycle["year"]
    done = await repository.notices_exist(conn, campaign_id, year, step.key)
    added = 0
    for unit in missing:
        if unit["unit_id"] in done:
            continue
        message = rules.reminder(
            step, now=now, unit=unit["name"], campaign=cycle["campaign"], year=year,
            due=cycle["due_at"],
            link=_link(settings, f"/v1/campaigns/{campaign_id}/reports/{unit['unit_id']}/{year}"))
        added += await _notice(conn, ctx, settings, cycle, step, unit["unit_id"],
                               [unit["unit_id"]], message)
    return added


async def _escalate(conn: Conn, ctx: Context, settings: IndicatorsSettings, now: datetime,
                    cycle: asyncpg.Record, step: rules.Step,
                    missing: list[asyncpg.Record]) -> int:
    campaign_id, year = cycle["campaign_id"], cycle["year"]
    below: defaultdict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    for unit in missing:
        if unit["parent_id"] is not None:
            below[unit["parent_id"]].append(unit)
    done = await repository.notices_exist(conn, campaign_id, year, step.key)
    names = await repository.names_on(conn, list(below), domain.eve_of(cycle["due_at"]))
    added = 0
    for parent, units in sorted(below.items()):  # one order in every instance: no deadlock
        if parent in done or parent not in names:
            continue
        message = rules.escalation(
            step, now=now, parent=names[parent], missing=[u["name"] for u in units],
            campaign=cycle["campaign"], year=year, due=cycle["due_at"],
            link=_link(settings, f"/v1/campaigns/{campaign_id}/status?year={year}"
                                 f"&unit_id={parent}"))
        added += await _notice(conn, ctx, settings, cycle, step, parent,
                               [u["unit_id"] for u in units], message)
    return added


async def _notice(conn: Conn, ctx: Context, settings: IndicatorsSettings,
                  cycle: asyncpg.Record, step: rules.Step, unit_id: uuid.UUID,
                  about: list[uuid.UUID], message: rules.Message) -> int:
    notice_id = uuid.uuid4()
    if not await repository.add_notice(conn, {
            "notice_id": notice_id, "campaign_id": cycle["campaign_id"], "year": cycle["year"],
            "unit_id": unit_id, "kind": step.kind.value, "step": step.key, "about": about,
            "subject": message.subject, "body": message.body}):
        return 0
    queued = await repository.add_deliveries(conn, notice_id, unit_id, channels(settings))
    await ctx.audit(conn, "notice.created", "notice", notice_id, None, {
        "unit_id": str(unit_id), "campaign_id": str(cycle["campaign_id"]),
        "year": cycle["year"], "step": step.key, "deliveries": len(queued)})
    return 1
