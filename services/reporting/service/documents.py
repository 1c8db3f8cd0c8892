"""The Word documents' figures: everything the yearly report and the mid-term and final reviews
show, read in the request's read-only transaction. Writing the documents (python-docx,
matplotlib) is CPU work done afterwards, off the event loop (``services.reporting.documents``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from chungtay_common import clock
from chungtay_common.contracts.feed import CentralSummary
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from chungtay_common.messages import en_vi
from chungtay_common.poverty import Derived
from chungtay_common.refusals import RuleBroken
from services.reporting import domain, repository
from services.reporting.schemas import (
    Exemplary,
    HierarchyMode,
    ProvincialSummary,
    SummaryLine,
)
from services.reporting.service import standings, summaries


@dataclass(frozen=True)
class Snapshot:
    """The published snapshot the province's figures come from."""

    seq: int
    published_at: datetime


@dataclass(frozen=True)
class YearlyReport:
    """The yearly report's figures. ``province``: the province's figures, from the latest
    published snapshot of the year when there is one (``snapshot``), else as they stand
    (``as_of``); ``summary``: the districts' lines as they stand (a snapshot holds the province
    only); ``live_province``: the province's figures as they stand, to say whether they moved
    since the snapshot."""

    summary: ProvincialSummary
    province: CentralSummary
    live_province: CentralSummary
    snapshot: Snapshot | None
    exemplary: Exemplary
    as_of: datetime
    issued_on: date


async def yearly_report(conn: Conn, campaign_id: uuid.UUID, year: int,
                        province_id: uuid.UUID | None) -> YearlyReport:
    """The figures of the yearly report of a province."""
    summary = await summaries.provincial(conn, campaign_id, year, province_id,
                                         HierarchyMode.AS_REPORTED)
    province_id = summary.province.unit.unit_id
    live = await summaries.central(conn, campaign_id, year, province_id)
    row = await repository.latest_snapshot(conn, campaign_id, year, province_id)
    snapshot = None if row is None else Snapshot(row["seq"], row["published_at"])
    province = live if row is None else CentralSummary.model_validate(row["summary"])
    return YearlyReport(
        summary=summary, province=province, live_province=live, snapshot=snapshot,
        exemplary=await standings.exemplary(conn, campaign_id, year, province_id),
        as_of=clock.now(), issued_on=clock.today())


class ReviewKind(StrEnum):
    MID_TERM = "mid_term"  # sơ kết: the campaign's first two years by default
    FINAL = "final"  # tổng kết: the whole campaign by default


@dataclass(frozen=True)
class DistrictPeriod:
    """A district over the period: its line of each year it has one, and the period view."""

    unit_id: uuid.UUID
    name: str
    code: str | None
    lines: dict[int, SummaryLine]
    period: domain.Period


@dataclass(frozen=True)
class Review:
    """The figures of a mid-term or final review: the provincial summary of each year of the
    period (as they stand), the province's and each district's period view, and the exemplary
    units of each year."""

    kind: ReviewKind
    first_year: int
    last_year: int
    campaign_first_year: int
    campaign_last_year: int
    years: dict[int, ProvincialSummary]
    province: domain.Period
    districts: list[DistrictPeriod]
    exemplary: dict[int, Exemplary]
    as_of: datetime
    issued_on: date


def review_period(kind: ReviewKind, campaign_first: int, campaign_last: int,
                  first_year: int | None, last_year: int | None) -> tuple[int, int]:
    """The period reviewed: by default the campaign's first two years (mid-term) or all of it
    (final); a period given must lie within the campaign."""
    first = campaign_first if first_year is None else first_year
    default_last = min(first + 1, campaign_last) if kind is ReviewKind.MID_TERM else campaign_last
    last = default_last if last_year is None else last_year
    for name, value in (("first_year", first), ("last_year", last)):
        if not campaign_first <= value <= campaign_last:
            raise RuleBroken(name, en_vi(
                f"the campaign runs from {campaign_first} to {campaign_last}",
                f"phong trào diễn ra từ năm {campaign_first} đến năm {campaign_last}"))
    if first > last:
        raise RuleBroken("last_year", en_vi("the period must not end before it starts",
                                            "năm cuối của giai đoạn không được trước năm đầu"))
    return first, last


def derived_of(line: SummaryLine) -> Derived:
    """A summary line's derived figures, as the period view takes them."""
    return Derived(poor_rate_pct=line.poor_rate_pct, near_poor_rate_pct=line.near_poor_rate_pct,
                   reduction_pp=line.reduction_pp,
                   target_attainment_pct=line.target.attainment_pct if line.target else None,
                   target_met=line.target.met if line.target else None,
                   national_average_pct=line.national_average_pct,
                   at_or_below_national_average=line.at_or_below_national_average)


async def review(conn: Conn, kind: ReviewKind, campaign_id: uuid.UUID,
                 province_id: uuid.UUID | None, first_year: int | None, last_year: int | None
                 ) -> Review:
    """The figures of the mid-term or the final review of a province's campaign."""
    campaign = await summaries.known_campaign(conn, campaign_id)
    first, last = review_period(kind, campaign["first_year"], campaign["last_year"],
                                first_year, last_year)
    years: dict[int, ProvincialSummary] = {}
    exemplary: dict[int, Exemplary] = {}
    for year in range(first, last + 1):
        try:
            summary = await summaries.provincial(conn, campaign_id, year, province_id,
                                                 HierarchyMode.AS_REPORTED)
        except NotFound:
            continue  # a year without reports yet (a review may come before the period ends)
        if not summary.province.reports:
            continue
        province_id = summary.province.unit.unit_id
        years[year] = summary
        exemplary[year] = await standings.exemplary(conn, campaign_id, year, province_id)
    if not years:
        which = f"province {province_id}" if province_id else "any province"
        tinh = f"tỉnh {province_id}" if province_id else "tỉnh nào"
        raise NotFound(en_vi(f"no figures of {first}–{last} in this campaign for {which}",
                             f"phong trào không có số liệu {first}–{last} của {tinh}"))
    by_district: dict[uuid.UUID, dict[int, SummaryLine]] = {}
    for year, summary in years.items():
        for ln in summary.districts:
            by_district.setdefault(ln.unit.unit_id, {})[year] = ln
    districts = [DistrictPeriod(unit_id=unit_id, name=lines[max(lines)].unit.name,
                                code=lines[max(lines)].unit.code, lines=lines,
                                period=domain.period({y: derived_of(ln)
                                                      for y, ln in lines.items()}))
                 for unit_id, lines in by_district.items()]
    return Review(
        kind=kind, first_year=first, last_year=last,
        campaign_first_year=campaign["first_year"], campaign_last_year=campaign["last_year"],
        years=years,
        province=domain.period({y: derived_of(s.province) for y, s in years.items()}),
        districts=sorted(districts, key=lambda d: (d.code or "", d.name)),
        exemplary=exemplary, as_of=clock.now(), issued_on=clock.today())
