"""The Board's papers: proposal, draft decision, certificates (issue 11)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from chungtay_common.contracts.awards import AuthorityLevel
from chungtay_common.errors import responses
from chungtay_common.http import PersonalReadDep, ReadDep, WriteDep
from services.awards.schemas.papers import PaperKind, TemplateIn, TemplateOut
from services.awards.service import papers

router = APIRouter(prefix="/v1")

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_TYPE = "application/pdf"
YearQ = Annotated[int, Query(ge=1990, le=2100)]
LevelQ = Annotated[AuthorityLevel, Query(description="the authority level of the forms")]
FormQ = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$",
                                    description="one form of that level (default: all)")]
PAPER_ERRORS = responses(401, 403, 422)


def _file(media_type: str, what: str) -> dict[int | str, dict[str, object]]:
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
                  "description": what}}


def _attachment(content: bytes, media_type: str, file_name: str) -> Response:
    """The paper as a download (an ASCII file name: the papers name themselves so)."""
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@router.get("/papers/proposal.docx", tags=["papers"], response_class=Response,
            responses={**PAPER_ERRORS, **_file(DOCX_TYPE, "the proposal")})
async def paper_proposal(read: PersonalReadDep, year: YearQ, authority_level: LevelQ,
                         form_code: FormQ = None) -> Response:
    """The proposal to the chairman (tờ trình, Word) listing the nominations of the year
    appraised as eligible for forms of the authority level (board, its province; audited)."""
    content = await read(papers.proposal, year, authority_level, form_code)
    return _attachment(content, DOCX_TYPE, f"to-trinh-{authority_level.value}-{year}.docx")


@router.get("/papers/decision.docx", tags=["papers"], response_class=Response,
            responses={**PAPER_ERRORS, **_file(DOCX_TYPE, "the draft decision")})
async def paper_decision(read: PersonalReadDep, year: YearQ, authority_level: LevelQ,
                         form_code: FormQ = None) -> Response:
    """The draft decision (quyết định, Word) with its annex of awardees grouped as
    collectives, individuals and households (board, its province; audited)."""
    content = await read(papers.decision, year, authority_level, form_code)
    return _attachment(content, DOCX_TYPE, f"quyet-dinh-{authority_level.value}-{year}.docx")


@router.get("/papers/certificates.pdf", tags=["papers"], response_class=Response,
            responses={**responses(401, 403, 404, 422), **_file(PDF_TYPE, "the certificates")})
async def paper_certificates(
    read: PersonalReadDep,
    decision_number: Annotated[str, Query(min_length=1, max_length=60)],
    signed_on: date,
) -> Response:
    """The certificates (bằng khen, giấy khen) of an approved decision as one PDF, a page per
    awardee (chairman, board: the awards proposed in their scope; audited)."""
    content = await read(papers.certificates, decision_number, signed_on)
    return _attachment(content, PDF_TYPE, f"bang-khen-{signed_on.isoformat()}.pdf")


@router.get("/papers/templates", response_model=list[TemplateOut], tags=["papers"],
            responses=responses(401, 403))
async def paper_templates(read: ReadDep) -> list[TemplateOut]:
    """The wording of each paper (its latest version) and the placeholders it may use."""
    return await read(papers.templates)


@router.put("/papers/templates/{kind}", response_model=TemplateOut, tags=["papers"],
            responses=responses(401, 403, 413, 422))
async def edit_paper_template(kind: PaperKind, body: TemplateIn, write: WriteDep
                              ) -> JSONResponse:
    """Change a paper's wording (board; audited): a placeholder the paper does not fill is
    refused (422)."""
    return await write(papers.edit_template, kind, body)
