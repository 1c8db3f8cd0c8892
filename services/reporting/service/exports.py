"""The summaries and lists as tables for files (CSV, XLSX): each export runs the JSON route's
own use case (``summaries``, ``standings``) and lays its answer out in Vietnamese; nothing is
computed a second time. The bytes are written by ``chungtay_common.tables``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from chungtay_common import clock
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.poverty import (
    ESCAPED,
    FELL_BACK,
    HOUSEHOLDS,
    NEAR_POOR,
    NEWLY_POOR,
    POOR,
    RESOURCES,
)
from chungtay_common.tables import Cell, Column, Kind, Table
from services.reporting.repository import exports as sql
from services.reporting.schemas import (
    CampaignRefOut,
    HierarchyMode,
    Punctuality,
    RankingBy,
    SummaryLine,
    UnitRef,
)
from services.reporting.service import standings, summaries

# the indicators' columns come first in the plan's order, then any other summed indicator
LEADING = (HOUSEHOLDS, POOR, NEAR_POOR, ESCAPED, NEWLY_POOR, FELL_BACK, *RESOURCES,
           "houses_built_or_repaired", "livelihood_models", "initiatives",
           "people_trained_or_employed")
EVERY_ROW = 1_000_000  # a file holds every row of a list (the JSON route pages it)

FIGURES = {"estimated": "Sơ bộ (ước tính, trước kỳ rà soát hộ nghèo)",
           "official": "Chính thức (sau kỳ rà soát hộ nghèo)",
           "mixed": "Hỗn hợp (có đơn vị sơ bộ, có đơn vị chính thức)"}
KINDS = {UnitKind.PROVINCE: "Tỉnh", UnitKind.DISTRICT: "Huyện", UnitKind.COMMUNE: "Xã",
         UnitKind.AGENCY: "Sở, ban, ngành", UnitKind.VILLAGE: "Thôn, bản",
         UnitKind.MASS_ORG: "Mặt trận, đoàn thể", UnitKind.ENTERPRISE: "Doanh nghiệp"}
PUNCTUALITY = {Punctuality.ON_TIME: "Đúng hạn", Punctuality.LATE: "Trễ hạn",
               Punctuality.MISSING: "Chưa nộp (quá hạn)",
               Punctuality.NOT_YET_DUE: "Chưa nộp (chưa đến hạn)"}
REPORT_STATES = {"submitted": "Đã nộp", "returned": "Bị trả lại", "accepted": "Đã chấp nhận"}
HIERARCHY = {HierarchyMode.AS_REPORTED: "Theo địa giới hành chính của năm báo cáo",
             HierarchyMode.CURRENT: "Quy đổi theo địa giới hành chính hiện nay"}
RANKED_BY = {RankingBy.REDUCTION: "Mức giảm tỷ lệ hộ nghèo (điểm %)",
             RankingBy.ATTAINMENT: "Mức độ hoàn thành chỉ tiêu giảm nghèo (%)"}

CODE, NAME, LEVEL = Column("Mã"), Column("Đơn vị", width=30), Column("Cấp")
RATE = Column("Tỷ lệ hộ nghèo (%)", Kind.DECIMAL)
NEAR_RATE = Column("Tỷ lệ hộ cận nghèo (%)", Kind.DECIMAL)
REDUCTION = Column("Giảm (điểm %)", Kind.DECIMAL)
ATTAINMENT = Column("Mức độ hoàn thành chỉ tiêu (%)", Kind.DECIMAL)
MET = Column("Đạt chỉ tiêu", Kind.YES_NO)
NATIONAL = Column("Tỷ lệ hộ nghèo bình quân cả nước (%)", Kind.DECIMAL)
AT_OR_BELOW = Column("Không cao hơn bình quân cả nước", Kind.YES_NO)


def _about(campaign: CampaignRefOut, *lines: tuple[str, Cell]) -> list[tuple[str, Cell]]:
    return [("Phong trào", campaign.name), ("Mã phong trào", campaign.code), *lines,
            ("Thời điểm lập", clock.now())]


def _figures(figures: str | None) -> str:
    return FIGURES.get(figures or "", "Chưa có số liệu")


async def _indicators(conn: Conn, lines: Sequence[Mapping[str, object]]
                      ) -> list[tuple[str, Column]]:
    """The summed indicators to show (a retired one only where a line holds it), each with its
    Vietnamese name from the catalogue; money in đồng."""
    names = await sql.summed_indicator_names(conn)
    held = {code for values in lines for code in values}
    codes = [c for c in LEADING if c in names or c in held]
    codes += sorted(c for c in set(names) | held if c not in codes)
    shown = [c for c in codes if c in held or not names.get(c, ("", True))[1]]
    return [(c, Column(_named(c, names.get(c, (c, False))[0]), Kind.INTEGER)) for c in shown]


def _named(code: str, name: str) -> str:
    return f"{name} (đồng)" if code.endswith("_vnd") else name


def _unit(u: UnitRef) -> list[Cell]:
    return [u.code, u.name]


# --------------------------------------------------------------------------- summaries


def _summary_columns(indicators: Sequence[tuple[str, Column]]) -> list[Column]:
    return [
        LEVEL, CODE, NAME, Column("Số báo cáo cấp xã được tổng hợp", Kind.INTEGER),
        Column("Tính chất số liệu", width=24), *(c for _, c in indicators), RATE, NEAR_RATE,
        REDUCTION, Column("Số xã báo cáo cả hai năm", Kind.INTEGER),
        Column("Chỉ tiêu giảm tối thiểu (điểm %)", Kind.DECIMAL),
        Column("Chỉ tiêu giảm tối đa (điểm %)", Kind.DECIMAL), ATTAINMENT, MET, NATIONAL,
        AT_OR_BELOW, Column("Báo cáo phải nộp", Kind.INTEGER),
        Column("Nộp đúng hạn", Kind.INTEGER), Column("Nộp trễ hạn", Kind.INTEGER),
        Column("Chưa nộp (quá hạn)", Kind.INTEGER), Column("Chưa đến hạn", Kind.INTEGER),
        Column("Tổng nguồn lực huy động (đồng)", Kind.INTEGER),
        Column("Hồ sơ đề nghị khen thưởng", Kind.INTEGER),
        Column("Khen thưởng đã quyết định", Kind.INTEGER),
        Column("Mô hình điển hình tiên tiến", Kind.INTEGER),
        Column("Mô hình được công nhận", Kind.INTEGER),
        Column("Lượt nhân rộng mô hình", Kind.INTEGER)]


def _summary_row(level: str, ln: SummaryLine, indicators: Sequence[tuple[str, Column]]
                 ) -> list[Cell]:
    t, c = ln.target, ln.compliance
    return [
        level, *_unit(ln.unit), ln.reports, _figures(ln.figures),
        *(ln.values.get(code) for code, _ in indicators), ln.poor_rate_pct,
        ln.near_poor_rate_pct, ln.reduction_pp, ln.reduction_reports,
        t.reduction_pp_min if t else None, t.reduction_pp_max if t else None,
        t.attainment_pct if t else None, t.met if t else None, ln.national_average_pct,
        ln.at_or_below_national_average, c.expected if c else None,
        c.on_time if c else None, c.late if c else None, c.missing if c else None,
        c.not_yet_due if c else None, ln.resources_vnd.get("total"),
        sum(ln.nominations.values()), sum(a.awards for a in ln.awards), ln.exemplary_models,
        ln.exemplary_models_recognised, ln.replications]


async def provincial_summary(conn: Conn, campaign_id: uuid.UUID, year: int,
                             province_id: uuid.UUID | None, mode: HierarchyMode
                             ) -> list[Table]:
    """The provincial summary (``summaries.provincial``) as one table: the province's line
    ("Tỉnh") first, then each district's ("Huyện"), in the JSON's order."""
    s = await summaries.provincial(conn, campaign_id, year, province_id, mode)
    lines = [s.province, *s.districts]
    indicators = await _indicators(conn, [ln.values for ln in lines])
    rows = [_summary_row("Tỉnh", s.province, indicators),
            *(_summary_row("Huyện", ln, indicators) for ln in s.districts)]
    about = _about(s.campaign, ("Năm", year), ("Tỉnh", s.province.unit.name),
                   ("Địa giới", HIERARCHY[s.hierarchy]),
                   ("Số liệu", _figures(s.province.figures)))
    return [Table("Tổng hợp", f"Tổng hợp kết quả giảm nghèo năm {year}",
                  _summary_columns(indicators), rows, about)]


CENTRAL_VALUES = (HOUSEHOLDS, POOR, NEAR_POOR, ESCAPED, NEWLY_POOR, FELL_BACK)
AUTHORITY = {"commune_chairman": "Chủ tịch UBND xã", "district_chairman": "Chủ tịch UBND huyện",
             "provincial_chairman": "Chủ tịch UBND tỉnh", "prime_minister": "Thủ tướng Chính phủ",
             "state_president": "Chủ tịch nước"}


async def central_summary(conn: Conn, campaign_id: uuid.UUID, year: int,
                          province_id: uuid.UUID | None) -> list[Table]:
    """The central summary (``summaries.central``, schema chungtay.central-summary.v1): the
    province's line; in XLSX a second sheet of the awards by form and authority level."""
    c = await summaries.central(conn, campaign_id, year, province_id)
    campaign = await summaries.known_campaign(conn, campaign_id)
    names = await sql.summed_indicator_names(conn)
    values = [(code, Column(names.get(code, (code, False))[0], Kind.INTEGER))
              for code in CENTRAL_VALUES]
    t, k, r = c.target, c.compliance, c.resources_vnd
    columns = [CODE, NAME, Column("Số báo cáo cấp xã được tổng hợp", Kind.INTEGER),
               Column("Tính chất số liệu", width=24), *(col for _, col in values), RATE,
               NEAR_RATE, REDUCTION, Column("Số xã báo cáo cả hai năm", Kind.INTEGER),
               NATIONAL, AT_OR_BELOW, Column("Chỉ tiêu giảm tối thiểu (điểm %)", Kind.DECIMAL),
               ATTAINMENT, MET, Column("Báo cáo phải nộp", Kind.INTEGER),
               Column("Nộp đúng hạn", Kind.INTEGER), Column("Nộp trễ hạn", Kind.INTEGER),
               Column("Chưa nộp (quá hạn)", Kind.INTEGER), Column("Chưa đến hạn", Kind.INTEGER),
               Column("Nguồn lực: ngân sách nhà nước (đồng)", Kind.INTEGER),
               Column("Nguồn lực: tín dụng ưu đãi (đồng)", Kind.INTEGER),
               Column("Nguồn lực: xã hội hóa (đồng)", Kind.INTEGER),
               Column("Tổng nguồn lực huy động (đồng)", Kind.INTEGER),
               Column("Khen thưởng đã quyết định", Kind.INTEGER)]
    row: list[Cell] = [
        c.province.code, c.province.name, c.reports, _figures(c.figures),
        *(getattr(c, code) for code, _ in values), c.poor_rate_pct, c.near_poor_rate_pct,
        c.reduction_pp, c.reduction_reports, c.national_average_pct,
        c.at_or_below_national_average, t.reduction_pp_min if t else None,
        t.attainment_pct if t else None, t.met if t else None, k.expected, k.on_time, k.late,
        k.missing, k.not_yet_due, r.state_budget, r.preferential_credit,
        r.social_contributions, r.total, sum(a.awards for a in c.awards)]
    about = _about(summaries.campaign_ref(campaign), ("Năm", year),
                   ("Tỉnh", c.province.name), ("Số liệu", _figures(c.figures)),
                   ("Địa giới theo ngày", c.hierarchy_day), ("Lược đồ", c.schema_id))
    awards = Table("Khen thưởng", f"Khen thưởng năm {year} theo hình thức và cấp quyết định",
                   [Column("Mã hình thức khen thưởng"), Column("Cấp quyết định", width=24),
                    Column("Số khen thưởng", Kind.INTEGER)],
                   [[a.form_code, AUTHORITY.get(a.authority_level.value,
                                                a.authority_level.value), a.awards]
                    for a in c.awards], about)
    return [Table("Tổng hợp", f"Báo cáo tổng hợp gửi Trung ương năm {year}", columns, [row],
                  about), awards]


# --------------------------------------------------------------------------- lists


async def compliance(conn: Conn, campaign_id: uuid.UUID, year: int, root: uuid.UUID | None,
                     punctuality: Punctuality | None) -> list[Table]:
    """Who reported on time, late or not at all (``summaries.compliance``): every row."""
    page = await summaries.compliance(conn, campaign_id, year, root, punctuality, EVERY_ROW, 0)
    campaign = await summaries.known_campaign(conn, campaign_id)
    names = {r.unit.unit_id: r.unit.name for r in page.items}
    rows: list[list[Cell]] = [
        [KINDS.get(r.unit.kind, r.unit.kind.value), *_unit(r.unit),
         names.get(r.parent_id) if r.parent_id else None, PUNCTUALITY[r.punctuality],
         REPORT_STATES.get(r.report_state or "", r.report_state), r.first_submitted_at]
        for r in page.items]
    about = _about(summaries.campaign_ref(campaign), ("Năm", year),
                   ("Hạn nộp báo cáo", page.due_at),
                   *((PUNCTUALITY[p], n) for p, n in page.counts.items()))
    if punctuality is not None:
        about.insert(3, ("Chỉ gồm", PUNCTUALITY[punctuality]))
    return [Table("Tình hình báo cáo", f"Tình hình nộp báo cáo năm {year}", [
        LEVEL, CODE, NAME, Column("Đơn vị cấp trên", width=24),
        Column("Tình trạng nộp", width=22), Column("Trạng thái báo cáo"),
        Column("Nộp lần đầu lúc", Kind.INSTANT, width=18)], rows, about)]


async def rankings(conn: Conn, campaign_id: uuid.UUID, year: int, level: UnitKind,
                   by: RankingBy, root: uuid.UUID | None) -> list[Table]:
    """The units of a level ranked (``standings.rankings``): every row."""
    page = await standings.rankings(conn, campaign_id, year, level, by, root, EVERY_ROW, 0)
    campaign = await summaries.known_campaign(conn, campaign_id)
    rows: list[list[Cell]] = [
        [r.rank, *_unit(r.unit), r.poor_rate_pct, r.reduction_pp, r.target_attainment_pct,
         r.target_met] for r in page.items]
    about = _about(summaries.campaign_ref(campaign), ("Năm", year),
                   ("Cấp đơn vị", KINDS.get(level, level.value)), ("Xếp hạng theo", RANKED_BY[by]))
    return [Table("Xếp hạng", f"Xếp hạng thi đua năm {year}", [
        Column("Hạng", Kind.INTEGER), CODE, NAME, RATE, REDUCTION, ATTAINMENT, MET],
        rows, about)]


async def trend(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID) -> list[Table]:
    """A unit's figures over the campaign's years and the period view (``standings.trend``)."""
    t = await standings.trend(conn, campaign_id, unit_id)
    indicators = await _indicators(conn, [p.values for p in t.points])
    rows: list[list[Cell]] = [
        [p.year, *(p.values.get(code) for code, _ in indicators), p.poor_rate_pct,
         p.near_poor_rate_pct, p.reduction_pp, p.target_attainment_pct, p.target_met,
         p.national_average_pct, REPORT_STATES.get(p.report_state or "", p.report_state)]
        for p in t.points]
    p = t.period
    low, high = p.plan_reduction_pp
    about = _about(t.campaign, ("Đơn vị", t.unit.name), ("Mã đơn vị", t.unit.code),
                   ("Giai đoạn", f"{p.first_year}–{p.last_year}"),
                   ("Giảm bình quân mỗi năm (điểm %)", _rounded(p.average_reduction_pp)),
                   ("Kế hoạch giảm mỗi năm (điểm %)", f"{low:g}–{high:g}".replace(".", ",")),
                   ("Đạt kế hoạch", p.meets_plan),
                   (f"Tỷ lệ hộ nghèo năm cuối có số liệu ({p.last_rate_year or ''}) (%)",
                    _rounded(p.last_rate_pct)),
                   ("Tỷ lệ hộ nghèo bình quân cả nước (%)", _rounded(p.national_average_pct)),
                   ("Không cao hơn bình quân cả nước", p.at_or_below_national_average))
    return [Table("Diễn biến", f"Diễn biến giảm nghèo của {t.unit.name}", [
        Column("Năm", Kind.INTEGER), *(c for _, c in indicators), RATE, NEAR_RATE, REDUCTION,
        ATTAINMENT, MET, NATIONAL, Column("Trạng thái báo cáo")], rows, about)]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)

