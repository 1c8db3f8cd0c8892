"""The yearly report and the mid-term and final reviews as Word documents (issue 11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from chungtay_common.errors import responses
from chungtay_common.http import ReadDep
from services.reporting.api.params import CampaignQ, ProvinceQ, YearQ
from services.reporting.documents import DOCX_TYPE, review, yearly
from services.reporting.service import documents
from services.reporting.service.documents import ReviewKind

router = APIRouter(prefix="/v1")
FirstQ = Annotated[int | None, Query(ge=1990, le=2100, description=(
    "the period's first year (default: the campaign's first year)"))]
MidLastQ = Annotated[int | None, Query(ge=1990, le=2100, description=(
    "the period's last year (default: the second year of the period)"))]
FinalLastQ = Annotated[int | None, Query(ge=1990, le=2100, description=(
    "the period's last year (default: the campaign's last year)"))]
DOCX: dict[int | str, dict[str, Any]] = {
    **responses(401, 404, 422),
    200: {"description": "the document (Word)",
          "content": {DOCX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


async def _docx(render: Callable[[Any], bytes], figures: Any, filename: str) -> Response:
    """Write the document off the event loop (python-docx and matplotlib are CPU work)."""
    content = await run_in_threadpool(render, figures)
    return Response(content, media_type=DOCX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/documents/yearly-report.docx", tags=["documents"], response_class=Response,
            responses=DOCX)
async def document_yearly_report(read: ReadDep, campaign_id: CampaignQ, year: YearQ,
                                 province_id: ProvinceQ = None) -> Response:
    """The province's yearly report on the movement (Word): results against the targets per
    district, reporting, resources, awards, exemplary units, with charts; the province's
    figures from the year's latest published snapshot when there is one."""
    figures = await read(documents.yearly_report, campaign_id, year, province_id)
    return await _docx(yearly.render, figures, f"bao-cao-phong-trao-{year}.docx")


@router.get("/documents/mid-term-review.docx", tags=["documents"], response_class=Response,
            responses=DOCX)
async def document_mid_term_review(read: ReadDep, campaign_id: CampaignQ,
                                   province_id: ProvinceQ = None, first_year: FirstQ = None,
                                   last_year: MidLastQ = None) -> Response:
    """The mid-term review (sơ kết, Word): by default the campaign's first two years."""
    figures = await read(documents.review, ReviewKind.MID_TERM, campaign_id, province_id,
                         first_year, last_year)
    return await _docx(review.render, figures,
                       f"so-ket-{figures.first_year}-{figures.last_year}.docx")


@router.get("/documents/final-review.docx", tags=["documents"], response_class=Response,
            responses=DOCX)
async def document_final_review(read: ReadDep, campaign_id: CampaignQ,
                                province_id: ProvinceQ = None, first_year: FirstQ = None,
                                last_year: FinalLastQ = None) -> Response:
    """The final review (tổng kết, Word): by default the campaign's whole period."""
    figures = await read(documents.review, ReviewKind.FINAL, campaign_id, province_id,
                         first_year, last_year)
    return await _docx(review.render, figures,
                       f"tong-ket-{figures.first_year}-{figures.last_year}.docx")
