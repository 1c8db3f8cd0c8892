"""The reminders of `make run`'s demo (SYNTHETIC): a contact point for every demo district and
commune (addresses under the reserved `.invalid` domain, which no mail server outside this
machine would accept), and a small campaign whose report is due in a week, so that the 7-day
reminders go out at once to the local mailbox (deploy/local/local_mail.py). Idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from chungtay_common import clock

CODE_PREFIX = "nhac-nho-demo"


class RemindersDemo:
    def __init__(self, indicators_url: str, token: str, ids: dict[str, str],
                 say: Callable[[str], None]) -> None:
        self.url, self.ids, self.say = indicators_url, ids, say
        self.headers = {"authorization": f"Bearer {token}"}

    async def load(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers,
                                     timeout=30) as client:
            units = {code: unit for code, unit in self.ids.items() if len(code) in (3, 5)}
            added = await self._contacts(client, units)
            campaign = await self._campaign(client)
            expected = len(units)
            sent = 0
            async for attempt in AsyncRetrying(wait=wait_fixed(1), stop=stop_after_delay(90),
                                               reraise=True):
                with attempt:
                    page = (await client.get("/v1/deliveries", params={
                        "status": "sent", "channel": "email", "limit": 1})).json()
                    sent = page["total"]
                    assert sent >= expected, f"{sent} of {expected} reminders sent"
        due = datetime.fromisoformat(campaign["due"]).astimezone(clock.VN)
        self.say(f"reminders (SYNTHETIC): {added} contact points added; campaign "
                 f"{campaign['code']} is due before {due:%H:%M %d/%m/%Y} (Vietnam time): {sent} "
                 f"reminder emails sent to "
                 f"the local mailbox (read them: .venv/bin/python deploy/local/local_mail.py)")

    async def _contacts(self, client: httpx.AsyncClient, units: dict[str, str]) -> int:
        limit = asyncio.Semaphore(8)
        added = 0

        async def one(code: str, unit: str) -> None:
            nonlocal added
            async with limit:
                existing = (await client.get(f"/v1/units/{unit}/contacts")).json()
                if existing:
                    return
                (await client.post(f"/v1/units/{unit}/contacts", json={
                    "name": "Văn phòng UBND (demo)",
                    "role": "Cán bộ phụ trách giảm nghèo (demo)",
                    "email": f"ubnd.{code}@demo.chungtay.invalid"},
                    headers={"idempotency-key": f"demo-contact-{unit}"})).raise_for_status()
                added += 1

        await asyncio.gather(*(one(code, unit) for code, unit in units.items()))
        return added

    async def _campaign(self, client: httpx.AsyncClient) -> dict[str, Any]:
        existing = [c for c in (await client.get("/v1/campaigns")).json()
                    if c["code"].startswith(CODE_PREFIX)]
        if existing:
            c = existing[0]
            return {"code": c["code"], "due": c["cycles"][0]["due_at"]}
        due = clock.today() + timedelta(days=7)
        r = await client.post("/v1/campaigns", json={
            "code": f"{CODE_PREFIX}-{due:%Y%m%d}",
            "name": f"Đôn đốc báo cáo giảm nghèo (demo), kỳ báo cáo hạn {due:%d/%m/%Y}",
            "first_year": due.year, "last_year": due.year,
            "due_month": due.month, "due_day": due.day},
            headers={"idempotency-key": f"demo-reminders-{due:%Y%m%d}"})
        r.raise_for_status()
        c = r.json()
        return {"code": c["code"], "due": c["cycles"][0]["due_at"]}
