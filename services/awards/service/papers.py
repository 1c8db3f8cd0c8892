"""The Board's papers for a decision: the proposal to the chairman and the draft decision
listing the nominations appraised as eligible for an authority level and year, the
certificates of an approved decision, and the templates of their wording. Each paper holds
people's names: it is read in the caller's scope and each generation is in the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date

import asyncpg

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role, require_role
from chungtay_common.context import Context
from chungtay_common.contracts.awards import AuthorityLevel, NomineeKind
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from services.awards.repository import papers as repository
from services.awards.schemas.papers import PaperKind, TemplateIn, TemplateOut
from services.awards.service import paper_files as files
from services.awards.service import readable_units
from services.awards.service.paper_files import Awardee, Issue, Signed

# --------------------------------------------------------------------------- templates


def _template_out(row: asyncpg.Record) -> TemplateOut:
    kind = PaperKind(row["kind"])
    return TemplateOut(kind=kind, text=row["text"], placeholders=list(files.PLACEHOLDERS[kind]),
                       version=row["version"], changed_by=row["changed_by"],
                       changed_at=row["changed_at"])


async def templates(conn: Conn) -> list[TemplateOut]:
    """The wording of each paper as it is used now (its latest version)."""
    return [_template_out(r) for r in await repository.templates(conn)]


async def edit_template(conn: Conn, ctx: Context, kind: PaperKind, body: TemplateIn
                        ) -> TemplateOut:
    """The board changes a paper's wording: a new version (the next paper uses it); a
    placeholder the paper does not fill is refused (422, naming ``text``); audited."""
    require_role(ctx.principal, Role.BOARD)
    files.check_template(kind, body.text)
    before = await repository.template(conn, kind.value, lock=True)
    row = await repository.add_template(conn, kind.value,
                                        (before["version"] if before else 0) + 1, body.text,
                                        ctx.actor.subject)
    out = _template_out(row)
    await ctx.audit(conn, "paper_template.edit", "paper_template", kind.value,
                    _template_out(before).model_dump(mode="json") if before else None,
                    {**out.model_dump(mode="json"), "note": body.note})
    return out


async def _text(conn: Conn, kind: PaperKind) -> str:
    row = await repository.template(conn, kind.value)
    if row is None:  # the migration seeds every kind
        raise NotFound(f"no template of the {kind.value}")
    text: str = row["text"]
    return text


# --------------------------------------------------------------------------- papers


async def _issue(conn: Conn, ctx: Context, level: AuthorityLevel, year: int) -> Issue:
    """The papers come from the caller's province (the board's unit): its name today."""
    today = clock.today()
    unit = (await hierarchy.unit_on(conn, ctx.principal.unit_id, today)
            if ctx.principal.unit_id else None)
    return Issue(province=unit.name if unit else "Tỉnh ……", day=today, level=level, year=year)


async def _awardees(conn: Conn, rows: Sequence[asyncpg.Record], year: int) -> list[Awardee]:
    units = {u for r in rows for u in (r["nominee_unit"], r["proposing_unit_id"])}
    names = await repository.unit_names(conn, list(units), date(year, 12, 31))
    return [Awardee(kind=NomineeKind(r["nominee_kind"]), name=r["nominee_name"],
                    unit_name=names.get(r["nominee_unit"], ""),
                    proposing_unit=names.get(r["proposing_unit_id"], ""),
                    form_name=r["form_name"], achievements=r["achievements"],
                    position=(r["nominee_details"] or {}).get("position"))
            for r in rows]


async def _eligible(conn: Conn, ctx: Context, paper: str, year: int, level: AuthorityLevel,
                    form_code: str | None) -> tuple[Issue, list[Awardee], str]:
    """The board's (or the administrator's) nominations of ``year`` appraised as eligible for
    forms of ``level``, in its scope; the read is audited with the dossiers it lists."""
    require_role(ctx.principal, Role.BOARD)
    units = await readable_units(conn, ctx, None)
    rows = await repository.appraised_eligible(conn, year, level.value, form_code, units)
    await ctx.audit(conn, f"papers.{paper}", "paper", "-", None, {
        "year": year, "authority_level": level.value, "form_code": form_code,
        "nominations": [str(r["nomination_id"]) for r in rows]})
    return (await _issue(conn, ctx, level, year), await _awardees(conn, rows, year),
            await _text(conn, PaperKind(paper)))


async def proposal(conn: Conn, ctx: Context, year: int, level: AuthorityLevel,
                   form_code: str | None) -> bytes:
    """The proposal to the chairman (tờ trình) as a Word document."""
    issue, awardees, text = await _eligible(conn, ctx, "proposal", year, level, form_code)
    return await asyncio.to_thread(files.proposal_docx, issue, awardees, text)


async def decision(conn: Conn, ctx: Context, year: int, level: AuthorityLevel,
                   form_code: str | None) -> bytes:
    """The draft decision with its annex of awardees, as a Word document."""
    issue, awardees, text = await _eligible(conn, ctx, "decision", year, level, form_code)
    return await asyncio.to_thread(files.decision_docx, issue, awardees, text)


async def certificates(conn: Conn, ctx: Context, number: str, signed_on: date) -> bytes:
    """The certificates of an approved decision (its awards not revoked) as one PDF, a page
    per awardee: for the chairman, the board or the administrator, of the awards proposed in
    their scope (404 when none is); audited with the dossiers printed."""
    require_role(ctx.principal, Role.CHAIRMAN, Role.BOARD)
    units = await readable_units(conn, ctx, None)
    rows = await repository.decided(conn, number, signed_on, units)
    if not rows:
        raise NotFound(f"no award of decision {number} of {signed_on.isoformat()} in the "
                       f"caller's scope / không có khen thưởng nào của quyết định {number} "
                       f"ngày {signed_on.strftime('%d/%m/%Y')} trong phạm vi được xem")
    await ctx.audit(conn, "papers.certificates", "paper", number, None, {
        "decision_number": number, "signed_on": signed_on.isoformat(),
        "nominations": [str(r["nomination_id"]) for r in rows]})
    decision_of = rows[0]["decision"]
    level = AuthorityLevel(decision_of.get("authority_level") or rows[0]["authority_level"])
    issue = await _issue(conn, ctx, level, rows[0]["year"])
    signed = Signed(number=number, signed_on=signed_on, signer=decision_of["signer"],
                    level=level)
    awardees = await _awardees(conn, rows, rows[0]["year"])
    text = await _text(conn, PaperKind.CERTIFICATE)
    return await asyncio.to_thread(files.certificates_pdf, issue, signed, awardees, text)
