"""HTTP API of the reporting service, and the app that runs its consumers in-process."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from aiokafka import TopicPartition
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from chungtay_common import clock
from chungtay_common.contracts.feed import CentralSummary
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import responses
from chungtay_common.http import Database, ReadDep, WriteDep, configure_logging
from chungtay_common.request_body import Day
from chungtay_common.runtime import ServicePlan, service_app
from chungtay_common.topics import topic_name
from services.reporting import repository
from services.reporting.access import ACCESS
from services.reporting.api import documents, exports, statistics
from services.reporting.api.answers import AnswersDep, ViewsChanges
from services.reporting.api.params import CampaignQ, Limit, Offset, ProvinceQ, RootQ, YearQ
from services.reporting.consumers import SUBSCRIPTIONS, ViewsProcessor
from services.reporting.schemas import (
    CampaignRefOut,
    CompliancePage,
    Exemplary,
    FeedItem,
    FeedPage,
    Freshness,
    HierarchyMode,
    ProvincialSummary,
    PublishIn,
    Punctuality,
    RankingBy,
    RankingPage,
    Trend,
    UnitTree,
)
from services.reporting.service import feed, operations, rebuild, standings, summaries
from services.reporting.settings import ReportingSettings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parents[1] / "migrations"

router = APIRouter(prefix="/v1")
READ_ERRORS = responses(401, 404, 422)


@dataclass(frozen=True)
class Offsets:
    """The subscribed topics, each partition's end offset and the consumers' committed offset
    (None: the broker did not answer, which must not hide what the views hold)."""

    topics: list[str]
    ends: dict[TopicPartition, int] | None
    committed: dict[TopicPartition, int] | None


async def _offsets(request: Request) -> Offsets:
    settings: ReportingSettings = request.app.state.settings
    topics = [topic_name(owner, settings.topic_namespace) for owner in SUBSCRIPTIONS]
    try:
        monitor = request.app.state.offsets
        return Offsets(topics, await monitor.ends(), await monitor.committed())
    except Exception:
        log.warning("offsets unavailable", exc_info=True)
        return Offsets(topics, None, None)


OffsetsDep = Annotated[Offsets, Depends(_offsets)]


@router.get("/units/tree", response_model=UnitTree, tags=["units"],
            responses=responses(401, 422))
async def unit_tree(
    read: ReadDep,
    as_of: Annotated[Day | None, Query(description="default: today in Vietnam")] = None,
) -> UnitTree:
    """The unit hierarchy on a day, with the number of units of each kind below each node."""
    return await read(summaries.unit_tree, as_of or clock.today())


@router.get("/campaigns", response_model=list[CampaignRefOut], tags=["summaries"],
            responses=responses(401))
async def campaigns(read: ReadDep) -> list[CampaignRefOut]:
    """The campaigns the summaries cover."""
    return await read(summaries.campaigns)


@router.get("/summaries/provincial", response_model=ProvincialSummary, tags=["summaries"],
            responses=READ_ERRORS)
async def provincial_summary(
    answered: AnswersDep, campaign_id: CampaignQ, year: YearQ,
    province_id: ProvinceQ = None, hierarchy: HierarchyMode = HierarchyMode.AS_REPORTED,
) -> JSONResponse:
    """Per district and for the province: sums, rates (ratios of sums), reduction, target
    attainment, national average, reports on time / late / missing, resources, nominations
    and awards, exemplary models (found in the year, recognised) and their replications; a
    district's own report beside the sum of its communes."""
    return await answered(
        "provincial", (campaign_id, year, province_id, hierarchy), campaign_id, year,
        lambda conn: summaries.provincial(conn, campaign_id, year, province_id, hierarchy))


@router.get("/summaries/central", response_model=CentralSummary, tags=["summaries"],
            responses=READ_ERRORS)
async def central_summary(answered: AnswersDep, campaign_id: CampaignQ,
                          year: YearQ, province_id: ProvinceQ = None) -> JSONResponse:
    """The province's figures for the central Board and MOLISA (schema
    chungtay.central-summary.v1), as they stand now; the feed holds what was published."""
    return await answered("central", (campaign_id, year, province_id), campaign_id, year,
                          lambda conn: summaries.central(conn, campaign_id, year, province_id))


@router.get("/compliance", response_model=CompliancePage, tags=["summaries"],
            responses=READ_ERRORS)
async def compliance(read: ReadDep, campaign_id: CampaignQ,
                     year: YearQ, unit_id: RootQ = None, punctuality: Punctuality | None = None,
                     limit: Limit = 100, offset: Offset = 0) -> CompliancePage:
    """Who reported on time, late, or not at all, for a year's cycle."""
    return await read(summaries.compliance, campaign_id, year, unit_id, punctuality,
                                          limit, offset)


@router.get("/rankings", response_model=RankingPage, tags=["summaries"], responses=READ_ERRORS)
async def rankings(answered: AnswersDep, campaign_id: CampaignQ,
                   year: YearQ, level: UnitKind = UnitKind.COMMUNE,
                   by: RankingBy = RankingBy.REDUCTION, unit_id: RootQ = None,
                   limit: Limit = 100, offset: Offset = 0) -> JSONResponse:
    """The units of a level ranked by reduction in points or by target attainment."""
    return await answered(
        "rankings", (campaign_id, year, level, by, unit_id, limit, offset), campaign_id, year,
        lambda conn: standings.rankings(conn, campaign_id, year, level, by, unit_id, limit,
                                        offset))


@router.get("/exemplary", response_model=Exemplary, tags=["summaries"], responses=READ_ERRORS)
async def exemplary(read: ReadDep, campaign_id: CampaignQ,
                    year: YearQ, unit_id: RootQ = None) -> Exemplary:
    """Exemplary units of a year: the best reducers and the units granted an award."""
    return await read(standings.exemplary, campaign_id, year, unit_id)


@router.get("/trends/{unit_id}", response_model=Trend, tags=["summaries"],
            responses=READ_ERRORS)
async def trend(unit_id: uuid.UUID, read: ReadDep,
                campaign_id: CampaignQ) -> Trend:
    """A unit's figures over the campaign's years, and the period view (average yearly
    reduction against the plan's 2–2.5 points, last rate against the national average)."""
    return await read(standings.trend, campaign_id, unit_id)


@router.get("/freshness", response_model=Freshness, tags=["operations"],
            responses=responses(401))
async def freshness(read: ReadDep, offsets: OffsetsDep) -> Freshness:
    """The last event applied per topic, and how many events on the topic the consumers have
    not yet taken (applied, or skipped as duplicates or of types they do not read)."""
    return await read(operations.freshness, offsets.topics, offsets.ends, offsets.committed)


@router.post("/feed", status_code=201, response_model=FeedItem, tags=["feed"],
             responses=responses(401, 403, 404, 409, 413, 422))
async def publish(body: PublishIn, write: WriteDep) -> JSONResponse:
    """Publish a year's central summary to the ministry feed (board): a new immutable
    snapshot, superseding the last one of the same year and province."""
    return await write.locking(repository.FEED_TABLE, feed.publish, body)


@router.get("/feed", response_model=FeedPage, tags=["feed"], responses=responses(401, 422))
async def read_feed(read: ReadDep,
                    after: Annotated[int, Query(ge=0, le=2**62, description="the last seq read")
                                     ] = 0,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> FeedPage:
    """Published snapshots after a cursor, oldest first."""
    return await read(feed.read, after, limit)


@router.get("/feed/{seq}", response_model=FeedItem, tags=["feed"], responses=READ_ERRORS)
async def feed_snapshot(seq: Annotated[int, PathParam(ge=1, le=2**62)], read: ReadDep
                        ) -> FeedItem:
    """One published snapshot."""
    return await read(feed.snapshot, seq)


# every router of the service (the routes of a part of it live with that part)
ROUTERS = [router, exports.router, documents.router, statistics.router]


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()

    async def views(db: Database) -> None:
        """No views of this code's definition yet (a new database, one of before the views,
        or views of an older definition): build them from the topics before the consumers
        start."""
        if await rebuild.run(settings, out=None, if_missing=True) is not None:
            log.info("built the views from the topics")

    campaign_gauges = operations.CampaignGauges()
    views_changes = ViewsChanges(settings.dsn())

    async def gauges(db: Database) -> None:
        async with db.read() as conn:
            await campaign_gauges.update(conn)
            await operations.rebuild_progress(conn)

    plan = ServicePlan(
        settings, [MIGRATIONS], publishes=True, subscriptions=SUBSCRIPTIONS,
        processor=ViewsProcessor, search_path=repository.SEARCH_PATH, on_start=[views],
        session_state=True,  # a rebuild holds a session lock on a pooled connection
        periodic=[(settings.gauges_seconds, gauges), (1.0, views_changes.keep)],
        on_stop=[views_changes.close])
    app = service_app(
        plan, title="chungtay reporting", routers=ROUTERS, access=ACCESS, topic_owner="feed",
        description="Provincial and central summaries kept fresh from the event stream, "
                    "compliance, rankings, trends, and the ministry feed of published "
                    "snapshots.")
    app.state.views_changes = views_changes
    return app


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.reporting.api:main``."""
    configure_logging()
    return build_app()
