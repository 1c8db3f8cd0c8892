"""Use cases of bulk files: import yearly report values for many units at once, and the
template to fill in. Each runs inside the caller's transaction.

An import is all or nothing: the reports go through ``service.write_reports`` (so rules,
permissions, versions, audit rows and events stay in one place), every row's problems are
collected, and one error listing them all is raised; the caller's transaction then writes
nothing.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

import asyncpg
from pydantic import ValidationError

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Principal, Role, require_role
from chungtay_common.context import Context
from chungtay_common.db import Conn
from chungtay_common.errors import FieldError, Forbidden, InvalidInput
from chungtay_common.messages import en_vi
from chungtay_common.refusals import RuleBroken, StateConflict
from services.indicators import domain, repository, service
from services.indicators import metrics as m
from services.indicators.domain import Action
from services.indicators.imports import (
    INDICATOR_CODE,
    SUBMITTED_AT,
    UNIT_CODE,
    VALUE,
    YEAR,
    ImportRow,
    NumberFormat,
    Template,
    TemplateRow,
    parse_number,
)
from services.indicators.schemas import (
    ImportReportsOut,
    ReportRef,
    TargetIn,
    TargetOut,
)

# messages of domain.check_values that are about the indicator, not about its value
_ABOUT_INDICATOR = ("unknown indicator", "is computed", "is retired", "is not reported by")


def check_may_import(principal: Principal) -> None:
    """Refuse (403) a caller who could write no report of the file: importing saves or
    submits reports, which needs the role ``domain.ACTING_ROLE`` names (admin always may).
    Called before the file is read; each report's unit is checked again on writing."""
    require_role(principal, domain.ACTING_ROLE[Action.SAVE])


async def import_reports(conn: Conn, ctx: Context, campaign_id: uuid.UUID,
                         rows: list[ImportRow], submit: bool, note: str | None = None,
                         migration_id: uuid.UUID | None = None) -> ImportReportsOut:
    """Save (or submit) the reports of every unit and year in ``rows``; all or nothing.
    Historical submission times are recorded within the open data migration
    ``migration_id``."""
    campaign = await service.campaign(conn, campaign_id)
    backfill = [r for r in rows if r.submitted_at is not None]
    if backfill and Role.ADMIN not in ctx.principal.roles:
        raise Forbidden(f"only an administrator may import historical submission times "
                        f"(column {SUBMITTED_AT!r})")
    if backfill and submit:  # before the rows: one refusal, not one on each report
        await service.backfill_migration(conn, migration_id)
    errors = [] if submit else [
        FieldError(field=r.at(SUBMITTED_AT), message="a submission time is only recorded "
                                                     "when importing with submit=true")
        for r in backfill]
    groups = await _reports(conn, campaign, rows, errors)
    refused: list[FieldError] = []
    written: list[tuple[service.Written, bool]] = []  # each report; whether it is back-filled
    action = Action.SUBMIT if submit else Action.SAVE
    # One batch a year, in order: a report's warnings and derived figures read the submitted
    # values of its unit's earlier years, which an earlier batch of the file may have written.
    # Refusals read none of them, so every year is checked and every problem listed.
    for year in sorted({year for (year, _), _ in groups}):
        batch: list[tuple[ReportRef, service.Entry, list[ImportRow]]] = []
        for (y, unit_id), group in groups:
            if y != year:
                continue
            try:
                entry = _entry(ctx, year, group, note, migration_id)
            except InvalidInput as exc:
                errors.extend(exc.errors)
                continue
            batch.append((ReportRef(campaign_id, unit_id, year), entry, group))
        outcomes = await service.write_reports(conn, ctx, campaign_id, action,
                                               [(ref, entry) for ref, entry, _ in batch])
        for (_, _, group), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, service.Written):
                written.append((outcome, group[0].submitted_at is not None))
            elif isinstance(outcome, Forbidden):
                refused.append(FieldError(field=group[0].at(UNIT_CODE), message=outcome.detail))
            elif isinstance(outcome, InvalidInput | RuleBroken | StateConflict):
                errors.extend(_on_rows(_problems(outcome), group))
            else:
                raise outcome
    if refused:
        raise Forbidden(en_vi(
            f"{len(refused)} report(s) outside the caller's scope; nothing was imported",
            f"{len(refused)} báo cáo nằm ngoài phạm vi đơn vị của người gửi; không nhập gì"),
            refused)
    if errors:
        raise InvalidInput(en_vi(f"{len(errors)} problem(s) in the file; nothing was imported",
                                 f"tệp có {len(errors)} lỗi; không nhập gì"), errors)
    ctx.after_commit(partial(m.IMPORTED_VALUES.inc, len(rows)))
    return ImportReportsOut(
        campaign_id=campaign_id, submitted=submit, reports=len(written), values=len(rows),
        units=len({unit_id for (_, unit_id), _ in groups}),
        years=sorted({year for (year, _), _ in groups}),
        reports_with_warnings=sum(bool(out.report["warnings"]) for out, _ in written),
        backfilled_submissions=sum(backfilled for _, backfilled in written))


async def _reports(conn: Conn, campaign: asyncpg.Record, rows: list[ImportRow],
                   errors: list[FieldError]) -> list[tuple[tuple[int, uuid.UUID],
                                                           list[ImportRow]]]:
    """The rows of each report (year, unit), in the order of years and unit codes; a row
    whose year or unit is not found is in ``errors``. Codes are reused over time: a code
    means the unit holding it in the row's year."""
    groups: dict[tuple[int, uuid.UUID], list[ImportRow]] = defaultdict(list)
    by_year: dict[int, list[ImportRow]] = defaultdict(list)
    for r in rows:
        by_year[r.year].append(r)
    for year, year_rows in sorted(by_year.items()):
        if not campaign["first_year"] <= year <= campaign["last_year"]:
            errors.extend(FieldError(field=r.at(YEAR), message=(
                f"is outside the campaign ({campaign['first_year']}–{campaign['last_year']})"))
                for r in year_rows)
            continue
        found = await hierarchy.by_codes(conn, sorted({r.unit_code for r in year_rows}),
                                         date(year, 1, 1), date(year, 12, 31))
        for r in year_rows:
            unit = found.get(r.unit_code)
            if unit is None:
                errors.append(FieldError(field=r.at(UNIT_CODE),
                                         message=f"no unit has code {r.unit_code} in {year}"))
            else:
                groups[(year, unit.unit_id)].append(r)
    return sorted(groups.items(), key=lambda g: (g[0][0], g[1][0].unit_code))


def _entry(ctx: Context, year: int, group: list[ImportRow], note: str | None,
           migration_id: uuid.UUID | None) -> service.Entry:
    """What one report's rows bring; rows that disagree on the submission time are refused
    (``InvalidInput`` with an error on each row)."""
    times = {r.submitted_at for r in group}
    if len(times) > 1:
        first = group[0]
        raise InvalidInput("a report is submitted once", [FieldError(
            field=r.at(SUBMITTED_AT), message=f"differs between the rows of unit "
                                              f"{first.unit_code} for {year}: a report is "
                                              "submitted once")
            for r in group])
    submitted_at = times.pop()
    return service.Entry(values={r.indicator_code: r.value for r in group},
                         note=_note(note, submitted_at, ctx.principal.subject),
                         submitted_at=submitted_at, migration_id=migration_id)


def _note(note: str | None, submitted_at: datetime | None, actor: str) -> str | None:
    parts = [note] if note else []
    if submitted_at is not None:
        parts.append(f"back-filled historical record: submitted at "
                     f"{submitted_at.astimezone(clock.VN).isoformat()} (Vietnam time), "
                     f"recorded by {actor} on {clock.today().isoformat()}")
    return "; ".join(parts) or None


def _problems(exc: InvalidInput | RuleBroken | StateConflict) -> list[FieldError]:
    """What a use case refused about one report or target, as a list of fields."""
    if isinstance(exc, InvalidInput):
        return exc.errors or [FieldError(field="report", message=exc.detail)]
    return [FieldError(field=exc.field or "status", message=exc.message)]


def _on_rows(problems: list[FieldError], group: list[ImportRow]) -> list[FieldError]:
    """The problems of one report, put on the rows they are about."""
    first = group[0]
    by_code = {r.indicator_code: r for r in group}
    out: list[FieldError] = []
    for e in problems:
        code = e.field.removeprefix("values.") if e.field.startswith("values.") else None
        row = by_code.get(code) if code else None
        if row is not None:
            column = INDICATOR_CODE if e.message.startswith(_ABOUT_INDICATOR) else VALUE
            out.append(FieldError(field=row.at(column), message=e.message))
        elif code:  # about an indicator with no row, e.g. a required one left out
            out.append(FieldError(field=first.at(INDICATOR_CODE),
                                  message=f"{code} {e.message} (unit {first.unit_code}, "
                                          f"{first.year})"))
        else:
            column = YEAR if e.field == "year" else UNIT_CODE
            out.append(FieldError(field=first.at(column),
                                  message=f"{e.field}: {e.message} (unit {first.unit_code}, "
                                          f"{first.year})"))
    return out


async def template(conn: Conn, campaign_id: uuid.UUID, year: int, root_id: uuid.UUID
                   ) -> Template:
    """One row per unit expected to report under ``root_id`` (as the hierarchy stood the day
    before the due date) and entered indicator that its kind reports."""
    campaign = await service.campaign_year(conn, campaign_id, year)
    due = await repository.due_at(conn, campaign_id, year)
    assert due is not None
    day = domain.eve_of(due)
    units = await hierarchy.subtree(conn, root_id, day)
    if not units:
        raise InvalidInput.on("unit_id", f"is not a unit active on {day}")
    seed_order = {ind.code: i for i, ind in enumerate(domain.SEED_CATALOGUE)}
    catalogue = await repository.campaign_catalogue(conn, campaign_id)
    entered = sorted((i for i in catalogue.values()
                      if not i.derived and not i.retired),
                     key=lambda i: (seed_order.get(i.code, len(seed_order)), i.code))
    return Template(year, [
        TemplateRow(u.code, u.name, ind.code, ind.name_vi)
        for u in units if u.code and u.kind.value in campaign["participating_kinds"]
        for ind in entered if u.kind in ind.reported_by])


TARGET_COLUMNS = ("reduction_pp_min", "reduction_pp_max", "households_out_min",
                  "households_out_max")
# the headers of a targets file in Vietnamese, like the report template's (the English ones
# of the province's 2017 file are still read)
TARGET_CODE_HEADERS = (UNIT_CODE, "district_code", "unit_code")
TARGET_HEADERS_VI = {
    "Mức giảm tỷ lệ hộ nghèo tối thiểu (điểm %)": "reduction_pp_min",
    "Mức giảm tỷ lệ hộ nghèo tối đa (điểm %)": "reduction_pp_max",
    "Số hộ thoát nghèo tối thiểu": "households_out_min",
    "Số hộ thoát nghèo tối đa": "households_out_max",
}


@dataclass(frozen=True)
class TargetRow:
    """A row of a targets file: its number, the unit code, each target column's text, and
    each target column's header as written in the file (to name it in a refusal)."""

    row: int
    code: str
    cells: dict[str, str]
    headers: dict[str, str]


def parse_targets_csv(text: str) -> list[TargetRow]:
    """Rows of a targets file in the format of the province's 2017 district targets
    (``district_code,district_name,reduction_pp_min,reduction_pp_max,households_out_min,
    households_out_max``; ``unit_code``/``unit_name`` also accepted), or with Vietnamese
    headers (``Mã đơn vị``, ``Tên đơn vị`` and ``TARGET_HEADERS_VI``). Headers are compared
    in Unicode NFC (a "Unicode tổ hợp" keyboard types decomposed accents)."""
    if "\x00" in text:
        raise InvalidInput.on("body", "must not contain the NUL character")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        lines = list(enumerate(reader, start=1))
    except csv.Error as exc:
        raise InvalidInput.on("body", f"is not a readable CSV file: {exc}") from exc
    header = [unicodedata.normalize("NFC", h).strip() for h in (lines[0][1] if lines else [])]
    position = {h: i for i, h in reversed(list(enumerate(header)))}
    code_at = next((position[c] for c in TARGET_CODE_HEADERS if c in position), None)
    columns: dict[str, int] = {}
    for name, i in position.items():
        field = TARGET_HEADERS_VI.get(name, name)
        if field in TARGET_COLUMNS:
            columns.setdefault(field, i)
    missing = [c for c in TARGET_COLUMNS if c not in columns]
    if code_at is None or missing:
        raise InvalidInput.on("header", f"needs {UNIT_CODE} (or district_code, unit_code) and "
                                        + ", ".join(f"{vi} ({en})" for vi, en
                                                    in TARGET_HEADERS_VI.items()))
    headers = {c: header[i] for c, i in columns.items()}

    def cell(raw: list[str], i: int) -> str:
        return raw[i].strip() if i < len(raw) else ""

    return [TargetRow(n, cell(raw, code_at), {c: cell(raw, i) for c, i in columns.items()},
                      headers)
            for n, raw in lines[1:] if any(v.strip() for v in raw)]


def _target_values(row: TargetRow, number_format: NumberFormat, errors: list[FieldError]
                   ) -> dict[str, object] | None:
    """The target columns of a row as numbers read by the file's convention (None: empty);
    a cell that is not a number by it is put in ``errors``."""
    data: dict[str, object] = {}
    for c in TARGET_COLUMNS:
        text = row.cells[c]
        value = parse_number(text, number_format) if text else None
        if isinstance(value, str):
            errors.append(FieldError(field=f"row {row.row}: {row.headers[c]}", message=value))
            return None
        data[c] = value
    return data


async def import_targets(conn: Conn, ctx: Context, campaign_id: uuid.UUID, year: int,
                         text: str, source: str | None,
                         number_format: NumberFormat = NumberFormat.VI) -> list[TargetOut]:
    """Set the targets of many units for a year from a CSV file, its numbers read by
    ``number_format``; all or nothing."""
    rows = parse_targets_csv(text)
    if len(rows) > 10_000:
        raise InvalidInput.on("body", "more than 10,000 rows")
    units = await hierarchy.by_codes(conn, sorted({r.code for r in rows}),
                                     date(year, 1, 1), date(year, 12, 31))
    errors: list[FieldError] = []
    planned: list[tuple[TargetRow, uuid.UUID, TargetIn]] = []
    for r in rows:
        unit = units.get(r.code)
        if unit is None:
            errors.append(FieldError(field=f"row {r.row}: unit code",
                                     message=f"no unit holds code {r.code!r} in {year}"))
            continue
        data = _target_values(r, number_format, errors)
        if data is None:
            continue
        try:
            target = TargetIn.model_validate({**data, "source": source})
        except ValidationError as exc:
            errors.extend(FieldError(field=f"row {r.row}: {_column(r, e['loc'])}",
                                     message=e["msg"]) for e in exc.errors())
            continue
        planned.append((r, unit.unit_id, target))
    if errors:
        raise InvalidInput(en_vi(f"{len(errors)} problem(s) in the file",
                                 f"tệp có {len(errors)} lỗi"), errors)
    out = []
    for r, unit_id, target in planned:
        try:
            out.append(await service.set_target(conn, ctx, campaign_id, year, unit_id, target))
        except (InvalidInput, RuleBroken) as exc:
            problems = [FieldError(field=f"row {r.row}: {_column(r, (e.field,))}",
                                   message=e.message) for e in _problems(exc)]
            raise InvalidInput(f"row {r.row}: {exc}", problems) from exc
    return out


def _column(row: TargetRow, loc: tuple[int | str, ...]) -> str:
    """A refused field named by its header in the file."""
    name = ".".join(map(str, loc))
    return row.headers.get(name, name)
