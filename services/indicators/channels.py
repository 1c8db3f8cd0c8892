"""Sending the notices (``Deliverer``): email through SMTP, signed webhooks for integrated
systems. What is outside the system: the mail server and the subscribers' endpoints.

Each round takes the deliveries whose time has come and leases them (their next try moved a
few minutes on, in a short transaction that skips what another instance holds), sends them,
then records each outcome only if the lease is still the round's own (a late round changes
nothing another has recorded). A round stops sending a minute before its lease ends and each
send has a time limit, so two instances never send the same delivery at once; one that dies
after sending and before recording leaves it to be sent again when the lease ends: the one
case of a second copy, which the receiver recognises by the delivery's id (the email's
Message-ID, the webhook's ``X-Chungtay-Delivery``). A contact removed meanwhile is not sent
to. A failed try is tried again with back-off; after the last one (or at once, for an address
that cannot be used at all) the delivery is listed as dead (``GET /v1/deliveries?status=dead``)
until someone retries it. What is kept of a failure names no address.
"""

from __future__ import annotations

import asyncio
import email.policy
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib
import asyncpg
import httpx

from chungtay_common import clock
from chungtay_common.http import Database
from services.indicators import domain_reminders as rules
from services.indicators import metrics as m
from services.indicators import repository_reminders as repository
from services.indicators.settings import IndicatorsSettings

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=3)  # a round stops sending a minute before its lease ends
LEASE_MARGIN = timedelta(minutes=1)
# an address no try will ever deliver to (a header refused by the email package, a URL httpx
# cannot use): dead at the first try
UNUSABLE = (ValueError, httpx.InvalidURL)
# Headers are not folded: Python's email package folds a long Vietnamese subject into encoded
# words and drops the space at the fold (readers showed "nộpbáo"); one line of up to 998
# characters is what RFC 5322 allows.
UNFOLDED = email.policy.SMTP.clone(max_line_length=998)
ROUND = 20  # deliveries a round takes
GAUGES_EVERY = 15.0  # seconds between counts of the waiting deliveries when nothing was sent


class DeliveryFailed(Exception):
    """A try that did not deliver (refused, unreachable, timed out, a non-2xx answer);
    ``reason`` names no person or address (it is kept and shown to the board)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def email_message(row: asyncpg.Record | dict[str, Any], sender: str) -> EmailMessage:
    """The notice as an email to the contact: UTF-8, its Message-ID made of the delivery's id
    (a second copy is recognisable as the same message)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row["email"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(row["created_at"])
    # the same for every copy of one delivery (make_msgid would add a time and a random part)
    message["Message-ID"] = f"<{row['delivery_id']}@chungtay.invalid>"
    message[rules.DELIVERY_HEADER] = str(row["delivery_id"])
    message.set_content(row["body"], charset="utf-8")
    return message


def webhook_body(row: asyncpg.Record | dict[str, Any]) -> bytes:
    """What a subscriber receives: the notice, as JSON (UTF-8)."""
    return json.dumps({
        "type": "notice", "delivery_id": str(row["delivery_id"]),
        "notice": {"notice_id": str(row["notice_id"]), "campaign_id": str(row["campaign_id"]),
                   "year": row["year"], "unit_id": str(row["unit_id"]), "kind": row["kind"],
                   "step": row["step"], "about": [str(u) for u in row["about"]],
                   "subject": row["subject"], "body": row["body"],
                   "created_at": row["created_at"].isoformat()},
    }, ensure_ascii=False).encode()


@dataclass
class Deliverer:
    settings: IndicatorsSettings
    client: httpx.AsyncClient | None = None
    counted_at: float = float("-inf")

    async def run(self, db: Database) -> int:
        """One round: send what is due; how many were sent. The round ends well within the
        lease: what it could not reach is taken by the next round (or another instance) when
        its lease ends."""
        async with db.transaction() as conn:
            due = await repository.lease_due(conn, ROUND, LEASE)
        sent = 0
        deadline = asyncio.get_running_loop().time() + (LEASE - LEASE_MARGIN).total_seconds()
        for row in due:
            if asyncio.get_running_loop().time() >= deadline:
                break
            sent += await self._try(db, row)
        now = asyncio.get_running_loop().time()
        if not due and now - self.counted_at < GAUGES_EVERY:
            return sent  # nothing moved: the waiting gauges are at most a scrape old
        self.counted_at = now
        async with db.read() as conn:
            waiting = await repository.pending_counts(conn)
        for channel in rules.Channel:
            for status in ("pending", "dead"):
                m.REMINDER_DELIVERIES_WAITING.labels(channel.value, status).set(
                    waiting.get((channel.value, status), 0))
        return sent

    async def _try(self, db: Database, row: asyncpg.Record) -> int:
        """Send one leased delivery and record what happened, if the lease is still this
        round's (``lease``: the row's next_attempt_at as leased)."""
        channel = row["channel"]
        if row["attempts"] > 0:
            m.REMINDER_DELIVERIES.labels(channel, "retried").inc()
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds * 3):
                if channel == rules.Channel.EMAIL:
                    await self.send_email(row)
                else:
                    await self.post_webhook(row)
        except Exception as exc:  # whatever a bad address or a peer does, it is a failed try
            reason = exc.reason if isinstance(exc, DeliveryFailed) else type(exc).__name__
            attempts = row["attempts"] + 1
            last = (attempts >= self.settings.delivery_max_attempts
                    or isinstance(exc, UNUSABLE))
            retry_in = None if last else rules.retry_delay(
                attempts, timedelta(seconds=self.settings.delivery_retry_seconds))
            async with db.transaction() as conn:
                recorded = await repository.failed(conn, row["delivery_id"], row["lease"],
                                                   reason, retry_in)
            if recorded:
                m.REMINDER_DELIVERIES.labels(channel, "failed").inc()
                if last:
                    m.REMINDER_DELIVERIES.labels(channel, "dead").inc()
                    log.warning("delivery %s (%s) dead after %d tries: %s",
                                row["delivery_id"], channel, attempts, reason)
            return 0
        async with db.transaction() as conn:
            recorded = await repository.delivered(conn, row["delivery_id"], row["lease"])
        if recorded:
            m.REMINDER_DELIVERIES.labels(channel, "sent").inc()
        return 1

    async def send_email(self, row: asyncpg.Record) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryFailed("no SMTP server configured (CHUNGTAY_SMTP_HOST)")
        message = email_message(row, s.smtp_from)
        try:
            await aiosmtplib.send(
                message.as_bytes(policy=UNFOLDED), sender=s.smtp_from_address,
                recipients=[row["email"]], hostname=s.smtp_host, port=s.smtp_port,
                start_tls=s.smtp_starttls, username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                timeout=s.webhook_timeout_seconds)
        except aiosmtplib.SMTPResponseException as exc:
            # the server's code only: its message may quote the address (personal data)
            raise DeliveryFailed(f"SMTP {type(exc).__name__} {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {type(exc).__name__}") from exc

    async def post_webhook(self, row: asyncpg.Record) -> None:
        body = webhook_body(row)
        headers = {"content-type": "application/json; charset=utf-8",
                   rules.DELIVERY_HEADER: str(row["delivery_id"]),
                   rules.SIGNATURE_HEADER: rules.signature(row["webhook_secret"],
                                                           int(clock.now().timestamp()), body)}
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds,
                                            follow_redirects=False)
        try:
            r = await self.client.post(row["webhook_url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook {type(exc).__name__}") from exc
        if not r.is_success:
            raise DeliveryFailed(f"webhook answered {r.status_code}")

    async def close(self, _: Database) -> None:
        if self.client is not None:
            await self.client.aclose()
