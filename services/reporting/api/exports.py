"""Every summary and list as CSV and XLSX (issue 11).

One scheme: ``GET /v1/exports/<what>.{format}`` (``format``: ``csv`` or ``xlsx``) with the
query parameters of the JSON route it exports, less the paging (a file holds every row). Each
runs the JSON route's use case (``service.exports``) in the same read-only transaction."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.downloads import TABLE_FILE_RESPONSE, dated_name, table_file
from chungtay_common.errors import responses
from chungtay_common.http import ReadDep
from chungtay_common.tables import FileFormat
from services.reporting.api.params import CampaignQ, ProvinceQ, RootQ, YearQ
from services.reporting.schemas import HierarchyMode, Punctuality, RankingBy
from services.reporting.service import exports

router = APIRouter(prefix="/v1/exports", tags=["exports"])
FILE: dict[str, Any] = {"response_class": Response,
                        "responses": {**TABLE_FILE_RESPONSE, **responses(401, 404, 422)}}


@router.get("/provincial-summary.{format}", **FILE)
async def export_provincial_summary(
    format: FileFormat, read: ReadDep, campaign_id: CampaignQ, year: YearQ,
    province_id: ProvinceQ = None, hierarchy: HierarchyMode = HierarchyMode.AS_REPORTED,
) -> Response:
    """The provincial summary (``GET /v1/summaries/provincial``) as a file: the province's
    line, then each district's."""
    tables = await read(exports.provincial_summary, campaign_id, year, province_id, hierarchy)
    return await table_file(tables, format, dated_name(f"Tổng hợp tỉnh {year}"))


@router.get("/central-summary.{format}", **FILE)
async def export_central_summary(format: FileFormat, read: ReadDep, campaign_id: CampaignQ,
                                 year: YearQ, province_id: ProvinceQ = None) -> Response:
    """The central summary (``GET /v1/summaries/central``) as a file (XLSX: with a sheet of the
    awards by form and authority level)."""
    tables = await read(exports.central_summary, campaign_id, year, province_id)
    if format is FileFormat.CSV:
        tables = tables[:1]
    return await table_file(tables, format, dated_name(f"Tổng hợp gửi Trung ương {year}"))


@router.get("/compliance.{format}", **FILE)
async def export_compliance(format: FileFormat, read: ReadDep, campaign_id: CampaignQ,
                            year: YearQ, unit_id: RootQ = None,
                            punctuality: Punctuality | None = None) -> Response:
    """Who reported on time, late or not at all (``GET /v1/compliance``), every unit."""
    tables = await read(exports.compliance, campaign_id, year, unit_id, punctuality)
    return await table_file(tables, format, dated_name(f"Tình hình báo cáo {year}"))


@router.get("/rankings.{format}", **FILE)
async def export_rankings(format: FileFormat, read: ReadDep, campaign_id: CampaignQ,
                          year: YearQ, level: UnitKind = UnitKind.COMMUNE,
                          by: RankingBy = RankingBy.REDUCTION,
                          unit_id: RootQ = None) -> Response:
    """The units of a level ranked (``GET /v1/rankings``), every unit."""
    tables = await read(exports.rankings, campaign_id, year, level, by, unit_id)
    return await table_file(tables, format, dated_name(f"Xếp hạng {year}"))


@router.get("/trends/{unit_id}.{format}", **FILE)
async def export_trend(unit_id: uuid.UUID, format: FileFormat, read: ReadDep,
                       campaign_id: CampaignQ) -> Response:
    """A unit's figures over the campaign's years and the period view
    (``GET /v1/trends/{unit_id}``)."""
    tables = await read(exports.trend, campaign_id, unit_id)
    return await table_file(tables, format, dated_name(tables[0].title))
