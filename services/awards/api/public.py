"""The public page and feed of awards and exemplary models (issue 11): no token, read-only."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from chungtay_common.errors import responses
from chungtay_common.http import DatabaseDep
from services.awards.service import public as service

router = APIRouter()
TAGS: list[str | Enum] = ["public"]
HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
CACHE = {"Cache-Control": "public, max-age=300"}


def _content(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description,
                  "content": {media_type.split(";")[0]: {"schema": {"type": "string"}}}}}


# before ``/public/{year}``: "feed.atom" is no year
@router.get("/public/feed.atom", response_class=Response, tags=TAGS,
            responses=_content(ATOM, "Atom 1.0 feed"))
async def public_feed(request: Request, db: DatabaseDep) -> Response:
    """The newest approved awards and recognised exemplary models, as an Atom feed (no
    token)."""
    configured = request.app.state.settings.public_base_url
    base = str(configured) if configured else str(request.base_url)
    async with db.read() as conn:
        body = await service.feed(conn, base)
    return Response(body, media_type=ATOM,
                    headers=CACHE if configured else {"Cache-Control": "no-cache"})


@router.get("/public", response_class=Response, tags=TAGS,
            responses=_content(HTML, "HTML page"))
async def public_index(db: DatabaseDep) -> Response:
    """The years with awards or recognised models, each a link to its page (no token)."""
    async with db.read() as conn:
        body = await service.index_page(conn)
    return Response(body, media_type=HTML, headers=CACHE)


@router.get("/public/{year}", response_class=Response, tags=TAGS,
            responses={**_content(HTML, "HTML page"), **responses(422)})
async def public_year(year: Annotated[int, PathParam(ge=1990, le=2100)],
                      db: DatabaseDep) -> Response:
    """A year's approved awards (form, nominee, unit, decision) and recognised exemplary
    models, in Vietnamese, as a page for phones (no token); ``#award-<id>`` and
    ``#model-<id>`` anchor each."""
    async with db.read() as conn:
        body = await service.year_page(conn, year)
    return Response(body, media_type=HTML, headers=CACHE)
