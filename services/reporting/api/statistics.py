"""The statutory statistical forms as XLSX (issue 11)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from chungtay_common.errors import responses
from chungtay_common.http import XLSX_TYPE, ReadDep
from services.reporting.api.params import CampaignQ, ProvinceQ
from services.reporting.service import statistics

router = APIRouter(prefix="/v1")

YearQ = Annotated[int | None, Query(ge=1990, le=2100, description="the year (or a period)")]
FromQ = Annotated[int | None, Query(ge=1990, le=2100, description="the period's first year")]
ToQ = Annotated[int | None, Query(ge=1990, le=2100, description="the period's last year")]
FORM_RESPONSES: dict[int | str, dict[str, object]] = {
    **responses(401, 404, 422),
    200: {"content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
          "description": "the form as a workbook"}}


def _xlsx(content: bytes, name: str) -> Response:
    return Response(content, media_type=XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff"})


@router.get("/statistics/0601.xlsx", tags=["statistics"], response_class=Response,
            responses=FORM_RESPONSES)
async def statistics_0601(read: ReadDep, campaign_id: CampaignQ, year: YearQ = None,
                          from_year: FromQ = None, to_year: ToQ = None,
                          province_id: ProvinceQ = None) -> Response:
    """Form 0601 (emulation movements) of a year or a period (``from_year``–``to_year``):
    Thông tư 02/2023/TT-BNV, for years before 2023 Thông tư 03/2018/TT-BNV."""
    content = await read(statistics.form_0601, campaign_id, year, from_year, to_year,
                         province_id)
    return _xlsx(content, f"bieu-0601-{year or f'{from_year}-{to_year}'}.xlsx")


@router.get("/statistics/0603.xlsx", tags=["statistics"], response_class=Response,
            responses=FORM_RESPONSES)
async def statistics_0603(read: ReadDep, campaign_id: CampaignQ, year: YearQ = None,
                          from_year: FromQ = None, to_year: ToQ = None,
                          province_id: ProvinceQ = None) -> Response:
    """Form 0603 (awards by form and authority level, per district and for the province) of
    a year or a period."""
    content = await read(statistics.form_0603, campaign_id, year, from_year, to_year,
                         province_id)
    return _xlsx(content, f"bieu-0603-{year or f'{from_year}-{to_year}'}.xlsx")
