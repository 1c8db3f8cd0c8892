"""All SQL of the reminders: contacts, policies, notices (the inbox) and deliveries."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from chungtay_common.db import Conn

# --------------------------------------------------------------------------- contacts

CONTACT_FIELDS = ("name", "role", "email", "phone", "webhook_url")


async def insert_contact(conn: Conn, contact_id: uuid.UUID, unit_id: uuid.UUID,
                         fields: dict[str, Any], secret: str | None, actor: str
                         ) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO contacts (contact_id, unit_id, name, role, email, phone, webhook_url,"
        " webhook_secret, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        contact_id, unit_id, *(fields.get(f) for f in CONTACT_FIELDS), secret, actor)
    assert row is not None
    return row


async def contact(conn: Conn, contact_id: uuid.UUID, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM contacts WHERE contact_id = $1 AND removed_at IS NULL"
        + (" FOR UPDATE" if lock else ""), contact_id)


async def contacts_of(conn: Conn, unit_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM contacts WHERE unit_id = $1 AND removed_at IS NULL"
        " ORDER BY created_at, contact_id", unit_id))


async def update_contact(conn: Conn, contact_id: uuid.UUID, fields: dict[str, Any],
                         secret: str | None) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE contacts SET name = $2, role = $3, email = $4, phone = $5, webhook_url = $6,"
        " webhook_secret = $7, updated_at = now() WHERE contact_id = $1 RETURNING *",
        contact_id, *(fields.get(f) for f in CONTACT_FIELDS), secret)
    assert row is not None
    return row


async def remove_contact(conn: Conn, contact_id: uuid.UUID) -> None:
    await conn.execute("UPDATE contacts SET removed_at = now(), updated_at = now()"
                       " WHERE contact_id = $1", contact_id)


# --------------------------------------------------------------------------- policies


async def policy(conn: Conn, campaign_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM reminder_policies WHERE campaign_id = $1",
                               campaign_id)


async def set_policy(conn: Conn, campaign_id: uuid.UUID, values: dict[str, Any], actor: str
                     ) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO reminder_policies (campaign_id, before_days, after_first_days,"
        " after_every_days, stop_after_days, escalate_after_days, updated_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (campaign_id) DO UPDATE SET"
        " before_days = EXCLUDED.before_days, after_first_days = EXCLUDED.after_first_days,"
        " after_every_days = EXCLUDED.after_every_days,"
        " stop_after_days = EXCLUDED.stop_after_days,"
        " escalate_after_days = EXCLUDED.escalate_after_days,"
        " updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING *",
        campaign_id, values["before_days"], values["after_first_days"],
        values["after_every_days"], values["stop_after_days"], values["escalate_after_days"],
        actor)
    assert row is not None
    return row


# --------------------------------------------------------------------------- planning


async def cycles_to_remind(conn: Conn, now: datetime, horizon: timedelta
                           ) -> list[asyncpg.Record]:
    """Cycles due within ``horizon`` of ``now`` (either side) whose due date came after their
    campaign was set up (a campaign created afterwards, with back-filled years, reminds
    nobody of them), with the campaign's policy when it has one."""
    return list(await conn.fetch(
        "SELECT c.campaign_id, c.name AS campaign, c.participating_kinds, rc.year, rc.due_at,"
        "       p.before_days, p.after_first_days, p.after_every_days, p.stop_after_days,"
        "       p.escalate_after_days"
        " FROM reporting_cycles rc JOIN campaigns c USING (campaign_id)"
        " LEFT JOIN reminder_policies p USING (campaign_id)"
        " WHERE rc.due_at > c.created_at AND rc.due_at BETWEEN $1::timestamptz - $2::interval"
        "   AND $1::timestamptz + $2::interval ORDER BY rc.due_at, c.campaign_id",
        now, horizon))


async def still_missing(conn: Conn, campaign_id: uuid.UUID, year: int, on: date,
                        kinds: list[str]) -> list[asyncpg.Record]:
    """Units of the participating kinds active on ``on`` (the due day) that have not
    submitted their report, with their name and parent on that day."""
    return list(await conn.fetch(
        "SELECT u.unit_id, v.name, v.parent_id FROM units u JOIN unit_versions v USING (unit_id)"
        " WHERE u.kind = ANY($4) AND v.valid_from <= $3 AND (v.valid_to IS NULL OR v.valid_to > $3)"
        "   AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.campaign_id = $1 AND r.year = $2"
        "                   AND r.unit_id = u.unit_id AND r.first_submitted_at IS NOT NULL)"
        " ORDER BY v.name, u.unit_id", campaign_id, year, on, kinds))


async def names_on(conn: Conn, unit_ids: list[uuid.UUID], on: date) -> dict[uuid.UUID, str]:
    rows = await conn.fetch(
        "SELECT unit_id, name FROM unit_versions WHERE unit_id = ANY($1) AND valid_from <= $2"
        " AND (valid_to IS NULL OR valid_to > $2)", unit_ids, on)
    return {r["unit_id"]: r["name"] for r in rows}


async def notices_exist(conn: Conn, campaign_id: uuid.UUID, year: int, step: str
                        ) -> set[uuid.UUID]:
    rows = await conn.fetch("SELECT unit_id FROM notices WHERE campaign_id = $1 AND year = $2"
                            " AND step = $3", campaign_id, year, step)
    return {r["unit_id"] for r in rows}


async def add_notice(conn: Conn, notice: dict[str, Any]) -> bool:
    """Insert the notice unless one of its unit, cycle and step exists (whoever wrote it:
    another instance, an earlier run); whether this one was inserted."""
    inserted = await conn.fetchval(
        "INSERT INTO notices (notice_id, campaign_id, year, unit_id, kind, step, about, subject,"
        " body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (campaign_id, year, unit_id, step) DO NOTHING RETURNING true",
        notice["notice_id"], notice["campaign_id"], notice["year"], notice["unit_id"],
        notice["kind"], notice["step"], notice["about"], notice["subject"], notice["body"])
    return bool(inserted)


async def add_deliveries(conn: Conn, notice_id: uuid.UUID, unit_id: uuid.UUID,
                         channels: list[str]) -> list[asyncpg.Record]:
    """A delivery of the notice to each of the unit's contacts by each of ``channels`` it
    has an address for; what was added (channel)."""
    return list(await conn.fetch(
        "INSERT INTO deliveries (delivery_id, notice_id, contact_id, channel)"
        " SELECT gen_random_uuid(), $1, c.contact_id, ch.channel"
        " FROM contacts c CROSS JOIN unnest($3::text[]) AS ch(channel)"
        " WHERE c.unit_id = $2 AND c.removed_at IS NULL"
        "   AND ((ch.channel = 'email' AND c.email IS NOT NULL)"
        "        OR (ch.channel = 'webhook' AND c.webhook_url IS NOT NULL))"
        " ON CONFLICT DO NOTHING RETURNING channel", notice_id, unit_id, channels))


# --------------------------------------------------------------------------- the inbox


async def inbox(conn: Conn, unit_id: uuid.UUID, unread: bool, limit: int, offset: int
                ) -> tuple[int, list[asyncpg.Record]]:
    where = "unit_id = $1" + (" AND read_at IS NULL" if unread else "")
    total = await conn.fetchval(f"SELECT count(*) FROM notices WHERE {where}", unit_id)
    rows = await conn.fetch(
        f"SELECT * FROM notices WHERE {where} ORDER BY created_at DESC, notice_id"
        " LIMIT $2 OFFSET $3", unit_id, limit, offset)
    return int(total), list(rows)


async def notice(conn: Conn, notice_id: uuid.UUID, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM notices WHERE notice_id = $1"
                               + (" FOR UPDATE" if lock else ""), notice_id)


async def mark_read(conn: Conn, notice_id: uuid.UUID, actor: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE notices SET read_at = coalesce(read_at, now()), read_by = coalesce(read_by, $2)"
        " WHERE notice_id = $1 RETURNING *", notice_id, actor)
    assert row is not None
    return row


# --------------------------------------------------------------------------- deliveries


async def lease_due(conn: Conn, limit: int, lease: timedelta) -> list[asyncpg.Record]:
    """Deliveries whose time has come, to contacts still in use, leased: their next try moved
    ``lease`` on; ``lease`` in each row is that instant, the round's token for recording the
    outcome. Rows another instance holds locked are skipped."""
    return list(await conn.fetch(
        "WITH due AS (SELECT d.delivery_id FROM deliveries d JOIN contacts c USING (contact_id)"
        "             WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
        "               AND c.removed_at IS NULL"
        "             ORDER BY d.next_attempt_at, d.delivery_id LIMIT $1"
        "             FOR UPDATE OF d SKIP LOCKED),"
        " leased AS (UPDATE deliveries d SET next_attempt_at = now() + $2::interval"
        "            FROM due WHERE d.delivery_id = due.delivery_id"
        "            RETURNING d.delivery_id, d.notice_id, d.contact_id, d.channel, d.attempts,"
        "                      d.next_attempt_at AS lease)"
        " SELECT l.*, c.email, c.webhook_url, c.webhook_secret, n.campaign_id, n.year,"
        "        n.unit_id, n.kind, n.step, n.about, n.subject, n.body, n.created_at"
        " FROM leased l JOIN contacts c USING (contact_id) JOIN notices n USING (notice_id)"
        " ORDER BY l.lease, l.delivery_id", limit, lease))


async def delivered(conn: Conn, delivery_id: uuid.UUID, lease: datetime) -> bool:
    """Record a delivery sent, if its lease is still ``lease``; whether it was."""
    status: str = await conn.execute(
        "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = now(),"
        " last_error = NULL WHERE delivery_id = $1 AND status = 'pending'"
        " AND next_attempt_at = $2", delivery_id, lease)
    return status.endswith(" 1")


async def failed(conn: Conn, delivery_id: uuid.UUID, lease: datetime, error: str,
                 retry_in: timedelta | None) -> bool:
    """Record a failed try, if the lease is still ``lease``: tried again in ``retry_in``, or
    (None) listed as dead; whether it was recorded."""
    status: str = await conn.execute(
        "UPDATE deliveries SET attempts = attempts + 1, last_error = $3,"
        " status = CASE WHEN $4::interval IS NULL THEN 'dead' ELSE 'pending' END,"
        " next_attempt_at = now() + coalesce($4::interval, interval '0')"
        " WHERE delivery_id = $1 AND status = 'pending' AND next_attempt_at = $2",
        delivery_id, lease, error[:1000], retry_in)
    return status.endswith(" 1")


async def cancel_pending(conn: Conn, contact_id: uuid.UUID) -> int:
    """A removed contact's deliveries not sent yet: cancelled."""
    status: str = await conn.execute(
        "UPDATE deliveries SET status = 'cancelled', last_error = 'contact removed'"
        " WHERE contact_id = $1 AND status IN ('pending', 'dead')", contact_id)
    return int(status.split()[-1])


async def deliveries(conn: Conn, status: str | None, channel: str | None, limit: int,
                     offset: int) -> tuple[int, list[asyncpg.Record]]:
    where = "($1::text IS NULL OR d.status = $1) AND ($2::text IS NULL OR d.channel = $2)"
    total = await conn.fetchval(f"SELECT count(*) FROM deliveries d WHERE {where}",
                                status, channel)
    rows = await conn.fetch(
        "SELECT d.*, n.unit_id, n.campaign_id, n.year, n.step, n.subject"
        f" FROM deliveries d JOIN notices n USING (notice_id) WHERE {where}"
        " ORDER BY d.created_at DESC, d.delivery_id LIMIT $3 OFFSET $4",
        status, channel, limit, offset)
    return int(total), list(rows)


async def delivery(conn: Conn, delivery_id: uuid.UUID, lock: bool = False
                   ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT d.*, n.unit_id, n.campaign_id, n.year, n.step, n.subject"
        " FROM deliveries d JOIN notices n USING (notice_id) WHERE d.delivery_id = $1"
        + (" FOR UPDATE OF d" if lock else ""), delivery_id)


async def retry(conn: Conn, delivery_id: uuid.UUID) -> None:
    """A dead delivery pending again, with its tries counted afresh."""
    await conn.execute("UPDATE deliveries SET status = 'pending', attempts = 0,"
                       " next_attempt_at = now() WHERE delivery_id = $1 AND status = 'dead'",
                       delivery_id)


async def pending_counts(conn: Conn) -> dict[tuple[str, str], int]:
    rows = await conn.fetch("SELECT channel, status, count(*) AS n FROM deliveries"
                            " WHERE status IN ('pending', 'dead') GROUP BY channel, status")
    return {(r["channel"], r["status"]): r["n"] for r in rows}
