"""What the reporting service does besides events and requests: creating the views' schema at
start, the campaign gauges, freshness, rebuild progress as metrics."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import Gauge

from chungtay_common import clock, hierarchy
from chungtay_common.db import Conn
from services.reporting import domain, repository
from services.reporting import metrics as m
from services.reporting.schemas import Freshness, PartitionFreshness, TopicFreshness
from services.reporting.service.summaries import compliance_of, sums_of, target_of


async def ensure_views(conn: Conn) -> bool:
    """Create the views' schema, empty, when it does not exist; True when created (the
    consumers then fill it from the topics' beginning)."""
    await repository.lock_views(conn)
    if await repository.views_exist(conn):
        return False
    await repository.create_views(conn, repository.VIEWS)
    return True


async def campaign_gauges(conn: Conn) -> None:
    """Set the campaign gauges from the rollups (district and province levels)."""
    averages = await repository.national_averages(conn)
    now = clock.now()
    values: list[tuple[Gauge, tuple[str, ...], float]] = []
    for campaign in await repository.campaigns(conn):
        rows = await repository.rollups(conn, campaign["campaign_id"])
        targets = {(r["year"], r["unit_id"]): r for r in await repository.all_targets(
            conn, campaign["campaign_id"])}
        for r in rows:
            unit = await hierarchy.unit_on(conn, r["unit_id"], r["hierarchy_day"])
            if unit is None:
                continue
            labels: tuple[str, ...] = (campaign["code"], str(r["year"]), r["kind"],
                                       unit.code or "", unit.name)
            d = domain.figures(sums_of(r), target_of(targets.get((r["year"], r["unit_id"]))),
                               averages.get(r["year"]))
            for gauge, value in ((m.POOR_RATE, d.poor_rate_pct), (m.REDUCTION, d.reduction_pp),
                                 (m.ATTAINMENT, d.target_attainment_pct)):
                if value is not None:
                    values.append((gauge, labels, value))
            c = compliance_of(r, now)
            for punctuality in ("on_time", "late", "missing", "not_yet_due"):
                values.append((m.REPORTS, (*labels, punctuality), getattr(c, punctuality)))
    nominations = await repository.nomination_counts(conn)
    for gauge in m.CAMPAIGN_GAUGES:
        gauge.clear()
    for gauge, labels, value in values:
        gauge.labels(*labels).set(value)
    for (year, status), count in nominations["status"].items():
        m.NOMINATIONS.labels(str(year), status).set(count)
    for (year, form, level), count in nominations["awards"].items():
        m.AWARDS.labels(str(year), form, level).set(count)


async def rebuild_progress(conn: Conn) -> None:
    row = await repository.last_rebuild(conn)
    if row is not None:
        m.REBUILD_EVENTS.set(row["events"])
        m.REBUILD_PROGRESS.set(row["read_ratio"])


async def freshness(conn: Conn, topics: list[str],
                    ends: dict[TopicPartition, int] | None) -> Freshness:
    """Per topic: the last event applied, and how many are on the topic after it."""
    applied = {(r["topic"], r["partition"]): r for r in await repository.positions(conn)}
    out = []
    for topic in topics:
        parts = sorted({p for t, p in applied if t == topic}
                       | {tp.partition for tp in (ends or {}) if tp.topic == topic})
        rows = []
        for p in parts:
            done = applied.get((topic, p))
            end = ends.get(TopicPartition(topic, p)) if ends is not None else None
            offset = done["offset"] if done else None
            lag = None if end is None else max(0, end - (offset + 1 if offset is not None else 0))
            rows.append(PartitionFreshness(partition=p, applied_offset=offset, end_offset=end,
                                           lag=lag))
        mine = [r for (t, _), r in applied.items() if t == topic]
        last = max(mine, key=lambda r: r["occurred_at"], default=None)
        out.append(TopicFreshness(
            topic=topic, last_event_type=last["event_type"] if last else None,
            last_occurred_at=last["occurred_at"] if last else None,
            last_applied_at=max((r["applied_at"] for r in mine), default=None),
            lag=None if ends is None else sum(r.lag or 0 for r in rows), partitions=rows))
    return Freshness(topics=out)


