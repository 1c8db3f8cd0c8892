"""The ministry feed: the board publishes a year's central summary as an immutable, numbered
snapshot (stored, and sent as ``summary.published`` through the outbox); downstream systems read
the snapshots from a cursor."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import asyncpg

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role, require_role
from chungtay_common.context import Context
from chungtay_common.contracts.feed import CentralSummary, SummaryPublished
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from chungtay_common.messages import en_vi
from chungtay_common.refusals import StateConflict
from services.reporting import metrics as m
from services.reporting import repository
from services.reporting.schemas import FeedItem, FeedPage, PublishIn
from services.reporting.service import summaries


def _digest(summary: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(summary, sort_keys=True, ensure_ascii=False)
                          .encode()).hexdigest()


def _item(row: asyncpg.Record) -> FeedItem:
    return FeedItem(seq=row["seq"], snapshot_id=row["snapshot_id"],
                    campaign_id=row["campaign_id"], year=row["year"],
                    province_id=row["province_id"], supersedes_seq=row["supersedes_seq"],
                    published_at=row["published_at"], published_by=row["published_by"],
                    summary=CentralSummary.model_validate(row["summary"]))


async def publish(conn: Conn, ctx: Context, body: PublishIn) -> FeedItem:
    """Publish the year's central summary as it stands (board). Publishing again after a
    correction makes a new snapshot that supersedes the last one; with nothing changed, 409.

    Run under the feed's lock, in one snapshot taken at its grant
    (``write.locking(repository.FEED_TABLE, publish, body)``): the summary is one state of the
    views, and a publication that read older figures cannot come after one that read newer
    ones and supersede it. (Any caller takes the lock before this role check: a refused one
    holds it for the few statements before its 403.)"""
    require_role(ctx.principal, Role.BOARD)
    summary = await summaries.central(conn, body.campaign_id, body.year, body.province_id)
    province_id = summary.province.unit_id
    # the board publishes for its own province, as the hierarchy stands on the day it does
    await hierarchy.ensure_authority(conn, ctx.principal, province_id, clock.today(),
                                     "the province")
    content = summary.model_dump(mode="json")
    digest = _digest(content)
    latest = await repository.latest_snapshot(conn, body.campaign_id, body.year, province_id)
    if latest is not None and latest["summary_sha256"] == digest:
        raise StateConflict(en_vi(
            f"nothing changed since snapshot {latest['seq']}: it stands",
            f"số liệu không thay đổi so với bản công bố số {latest['seq']}: bản đó vẫn giữ"))
    row = {"snapshot_id": uuid.uuid4(), "campaign_id": body.campaign_id, "year": body.year,
           "province_id": province_id, "supersedes_seq": latest["seq"] if latest else None,
           "summary": content, "summary_sha256": digest, "published_at": clock.now(),
           "published_by": ctx.principal.subject}
    seq = await repository.add_snapshot(conn, row)
    item = FeedItem(seq=seq, **{k: v for k, v in row.items() if k != "summary_sha256"})
    await ctx.audit(conn, "summary.publish", "feed_snapshot", seq, None,
                    {"seq": seq, "campaign_id": str(body.campaign_id), "year": body.year,
                     "province_id": str(province_id), "supersedes_seq": item.supersedes_seq,
                     "summary_sha256": digest})
    await ctx.publish(conn, province_id, SummaryPublished(
        seq=seq, snapshot_id=item.snapshot_id, supersedes_seq=item.supersedes_seq,
        campaign_id=body.campaign_id, year=body.year, province_id=province_id,
        published_at=item.published_at, published_by=item.published_by, summary=summary))
    ctx.after_commit(m.SNAPSHOTS_PUBLISHED.inc)
    return item


async def read(conn: Conn, after: int, limit: int) -> FeedPage:
    """The snapshots after ``after``, oldest first: a reader resumes from ``next_after``."""
    rows = await repository.snapshots(conn, after, limit + 1)
    items = [_item(r) for r in rows[:limit]]
    return FeedPage(items=items, next_after=items[-1].seq if items else after,
                    has_more=len(rows) > limit)


async def snapshot(conn: Conn, seq: int) -> FeedItem:
    row = await repository.snapshot(conn, seq)
    if row is None:
        raise NotFound(en_vi(f"snapshot {seq} does not exist",
                             f"không có bản công bố số {seq}"))
    return _item(row)
