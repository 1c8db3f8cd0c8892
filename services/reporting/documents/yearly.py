"""The yearly report of the province (báo cáo kết quả thực hiện phong trào thi đua năm Y):
results against the targets, reporting compliance, resources mobilised, awards, exemplary
units, shortcomings and next year's tasks, in the plan's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from docx.document import Document

from chungtay_common.contracts import feed as fd
from chungtay_common.contracts.feed import CentralSummary
from services.reporting.documents import charts
from services.reporting.documents import layout as ly
from services.reporting.documents import words as w
from services.reporting.schemas import AwardCount, ComplianceOut, SummaryLine
from services.reporting.service.documents import YearlyReport

# the province's figures a change after publication is seen in
COMPARED = ("reports", "figures", "households_total", "poor_households", "near_poor_households",
            "escaped_poverty", "newly_poor", "fell_back_into_poverty", "resources_vnd", "awards")

TARGET_HEADERS = ("STT", "Đơn vị", "Tổng số hộ", "Số hộ nghèo", "Tỷ lệ hộ nghèo (%)",
                  "Giảm so với năm trước (điểm %)", "Chỉ tiêu giảm (điểm %)",
                  "Tỷ lệ đạt chỉ tiêu (%)", "Kết quả")
TARGET_WIDTHS = (0.9, 3.3, 1.9, 1.7, 1.6, 1.8, 1.8, 1.7, 1.8)
COMPLIANCE_HEADERS = ("STT", "Đơn vị", "Phải báo cáo", "Đúng hạn", "Trễ hạn",
                      "Không báo cáo (quá hạn)", "Chưa đến hạn", "Đã tiếp nhận")
COMPLIANCE_WIDTHS = (0.9, 3.8, 1.9, 1.9, 1.9, 2.1, 2.0, 2.0)
RESOURCE_HEADERS = ("STT", "Đơn vị", "Ngân sách nhà nước", "Tín dụng ưu đãi", "Xã hội hóa",
                    "Tổng cộng")
RESOURCE_WIDTHS = (0.9, 3.8, 3.0, 3.0, 2.8, 3.0)
AWARD_HEADERS = ("STT", "Hình thức khen thưởng", "Cấp khen thưởng", "Số lượng")
AWARD_WIDTHS = (0.9, 6.6, 6.0, 3.0)


def title(year: int) -> str:
    return f"Kết quả thực hiện phong trào thi đua {w.MOVEMENT} năm {year}"


def target_row(i: str, name: str, households: float | None, poor: float | None,
               rate: float | None, reduction: float | None, low: float | None,
               high: float | None, attainment: float | None, met: bool | None,
               has_target: bool) -> list[str]:
    return [i, name, ly.integer(households), ly.integer(poor), ly.decimal(rate),
            ly.decimal(reduction), w.target_text(low, high) if has_target else ly.NONE,
            ly.decimal(attainment, 1), w.met_text(met) if has_target else ly.NONE]


def district_target_row(i: int, ln: SummaryLine) -> list[str]:
    t = ln.target
    return target_row(str(i), ln.unit.name, ln.values.get("households_total"),
                      ln.values.get("poor_households"), ln.poor_rate_pct, ln.reduction_pp,
                      t.reduction_pp_min if t else None, t.reduction_pp_max if t else None,
                      t.attainment_pct if t else None, t.met if t else None, t is not None)


def province_target_row(p: CentralSummary, high: float | None) -> list[str]:
    """The province's row; ``high``: the target's maximum (a snapshot holds the minimum)."""
    t = p.target
    return target_row("", "Toàn tỉnh", p.households_total, p.poor_households, p.poor_rate_pct,
                      p.reduction_pp, t.reduction_pp_min if t else None, high,
                      t.attainment_pct if t else None, t.met if t else None, t is not None)


def compliance_row(i: str, name: str, c: ComplianceOut | fd.Compliance | None) -> list[str]:
    if c is None:
        return [i, name, *[ly.NONE] * 6]
    return [i, name, *(ly.integer(v) for v in
                       (c.expected, c.on_time, c.late, c.missing, c.not_yet_due, c.accepted))]


def resources_row(i: str, name: str, r: Mapping[str, float]) -> list[str]:
    return [i, name, *(ly.millions(r.get(k)) for k in
                       ("state_budget", "preferential_credit", "social_contributions", "total"))]


def award_rows(awards: Sequence[AwardCount | fd.AwardCount]) -> list[list[str]]:
    return [[str(i), a.form_code, w.level_name(a.authority_level), ly.integer(a.awards)]
            for i, a in enumerate(awards, start=1)]


def _province_high(r: YearlyReport) -> float | None:
    """The province target's maximum, when its figures are the live ones."""
    live = r.summary.province.target
    return live.reduction_pp_max if r.snapshot is None and live is not None else None


def changed_since_snapshot(r: YearlyReport) -> list[str]:
    """The province's figures that moved since the snapshot (none without one)."""
    if r.snapshot is None:
        return []
    published, live = r.province.model_dump(mode="json"), r.live_province.model_dump(mode="json")
    return [k for k in COMPARED if published.get(k) != live.get(k)]


def render(r: YearlyReport) -> bytes:
    """The yearly report as a Word document."""
    s, p, year = r.summary, r.province, r.summary.year
    districts = s.districts
    h = w.heading(p.province.name, r.issued_on, title(year))
    doc = ly.document()
    ly.heading(doc, h)
    _source(doc, r)
    ly.body(doc, "Thực hiện " + w.PLAN.format(first=s.campaign.first_year,
                                              last=s.campaign.last_year)
            + f", Ban Thi đua - Khen thưởng tỉnh báo cáo kết quả thực hiện phong trào thi đua "
              f"năm {year} trên địa bàn tỉnh như sau:")
    _results(doc, r, districts)
    _compliance(doc, r, districts)
    _resources(doc, r, districts)
    _awards(doc, r)
    _exemplary(doc, r)
    _shortcomings(doc, r, districts)
    ly.chapter(doc, f"VII. PHƯƠNG HƯỚNG, NHIỆM VỤ NĂM {year + 1}")
    ly.placeholder(doc, f"Phương hướng, nhiệm vụ và giải pháp thực hiện phong trào thi đua "
                        f"năm {year + 1}; đề xuất, kiến nghị.")
    ly.body(doc, f"Trên đây là báo cáo kết quả thực hiện phong trào thi đua {w.MOVEMENT} năm "
                 f"{year} trên địa bàn tỉnh {w.place_of(p.province.name)}./.")
    ly.closing(doc, h)
    return ly.docx_bytes(doc)


def _source(doc: Document, r: YearlyReport) -> None:
    """Where the figures come from: the published snapshot, or the views as they stand."""
    if r.snapshot is None:
        ly.body(doc, f"Số liệu tổng hợp đến {ly.moment(r.as_of)} "
                     f"({w.figures_status(r.province.figures)}); chưa có bản công bố số liệu "
                     f"năm {r.summary.year}.", italic=True)
        return
    ly.body(doc, f"Số liệu theo bản công bố số {r.snapshot.seq} ngày "
                 f"{ly.day(r.snapshot.published_at)} ({w.figures_status(r.province.figures)}); "
                 f"số liệu chi tiết theo đơn vị cấp huyện tổng hợp đến {ly.moment(r.as_of)}.",
            italic=True)
    if changed_since_snapshot(r):
        ly.body(doc, f"Lưu ý: số liệu đã thay đổi sau bản công bố số {r.snapshot.seq}; dòng "
                     f"“Toàn tỉnh” theo bản công bố, các dòng theo huyện theo số liệu hiện tại "
                     f"nên có thể không khớp tổng.", italic=True)


def _results(doc: Document, r: YearlyReport, districts: list[SummaryLine]) -> None:
    p, year = r.province, r.summary.year
    ly.chapter(doc, "I. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU GIẢM NGHÈO")
    ly.chapter(doc, "1. Toàn tỉnh", 2)
    ly.body(doc, f"Năm {year}, toàn tỉnh có {ly.integer(p.households_total)} hộ gia đình, "
                 f"trong đó {ly.integer(p.poor_households)} hộ nghèo (tỷ lệ "
                 f"{ly.decimal(p.poor_rate_pct)}%) và {ly.integer(p.near_poor_households)} hộ "
                 f"cận nghèo (tỷ lệ {ly.decimal(p.near_poor_rate_pct)}%), theo báo cáo của "
                 f"{ly.integer(p.reports)} xã, phường, thị trấn.")
    if p.escaped_poverty is not None:
        ly.body(doc, f"Trong năm có {ly.integer(p.escaped_poverty)} hộ thoát nghèo, "
                     f"{ly.integer(p.newly_poor)} hộ nghèo phát sinh và "
                     f"{ly.integer(p.fell_back_into_poverty)} hộ tái nghèo.")
    ly.body(doc, f"Tỷ lệ hộ nghèo {w.change_text(p.reduction_pp)} so với năm {year - 1} (so "
                 f"sánh trên {ly.integer(p.reduction_reports)} đơn vị cấp xã có báo cáo cả hai "
                 f"năm); Kế hoạch đề ra mục tiêu giảm bình quân 2–2,5 điểm phần trăm mỗi năm.")
    if p.target is not None:
        ly.body(doc, f"Chỉ tiêu giảm tối thiểu {ly.decimal(p.target.reduction_pp_min)} điểm "
                     f"phần trăm: đạt {ly.decimal(p.target.attainment_pct, 1)}% chỉ tiêu "
                     f"({w.met_text(p.target.met).lower()}).")
    if p.national_average_pct is None:
        ly.body(doc, f"Chưa có tỷ lệ hộ nghèo bình quân cả nước năm {year} để so sánh.")
    else:
        side = ("thấp hơn hoặc bằng" if p.at_or_below_national_average else "cao hơn")
        ly.body(doc, f"Tỷ lệ hộ nghèo bình quân cả nước năm {year} là "
                     f"{ly.decimal(p.national_average_pct)}%: tỷ lệ hộ nghèo của tỉnh {side} "
                     f"mức bình quân chung của cả nước.")
    ly.chapter(doc, "2. Kết quả theo đơn vị cấp huyện", 2)
    ly.table(doc, f"Kết quả giảm nghèo và thực hiện chỉ tiêu năm {year}",
             TARGET_HEADERS, [district_target_row(i, ln) for i, ln in
                              enumerate(districts, start=1)],
             TARGET_WIDTHS, total=province_target_row(p, _province_high(r)))
    names = [ln.unit.name for ln in districts]
    ly.figure(doc, charts.rates(names, [ln.poor_rate_pct for ln in districts], p.poor_rate_pct,
                                p.national_average_pct, f"Tỷ lệ hộ nghèo năm {year} (%)"),
              f"Tỷ lệ hộ nghèo theo đơn vị cấp huyện năm {year}")
    ly.figure(doc, charts.reduction_against_target(
        names, [ln.reduction_pp for ln in districts],
        [ln.target.reduction_pp_min if ln.target else None for ln in districts],
        f"Giảm tỷ lệ hộ nghèo năm {year} so với chỉ tiêu"),
        f"Mức giảm tỷ lệ hộ nghèo so với chỉ tiêu theo đơn vị cấp huyện năm {year}")


def _compliance(doc: Document, r: YearlyReport, districts: list[SummaryLine]) -> None:
    c = r.province.compliance
    ly.chapter(doc, "II. TÌNH HÌNH THỰC HIỆN CHẾ ĐỘ BÁO CÁO")
    ly.body(doc, f"Hạn gửi báo cáo năm {r.summary.year}: {ly.moment(c.due_at)}. Toàn tỉnh có "
                 f"{ly.integer(c.expected)} đơn vị phải báo cáo: {ly.integer(c.on_time)} đơn "
                 f"vị báo cáo đúng hạn, {ly.integer(c.late)} đơn vị báo cáo trễ hạn, "
                 f"{ly.integer(c.missing)} đơn vị không báo cáo"
                 + (f", {ly.integer(c.not_yet_due)} đơn vị chưa đến hạn" if c.not_yet_due
                    else "") + ".")
    ly.table(doc, f"Tình hình gửi báo cáo năm {r.summary.year}", COMPLIANCE_HEADERS,
             [compliance_row(str(i), ln.unit.name, ln.compliance)
              for i, ln in enumerate(districts, start=1)],
             COMPLIANCE_WIDTHS, total=compliance_row("", "Toàn tỉnh", c))


def _resources(doc: Document, r: YearlyReport, districts: list[SummaryLine]) -> None:
    total = r.province.resources_vnd
    ly.chapter(doc, "III. NGUỒN LỰC HUY ĐỘNG")
    ly.body(doc, f"Tổng nguồn lực huy động cho công tác giảm nghèo năm {r.summary.year} là "
                 f"{ly.millions(total.total)} triệu đồng, trong đó ngân sách nhà nước "
                 f"{ly.millions(total.state_budget)} triệu đồng, tín dụng ưu đãi "
                 f"{ly.millions(total.preferential_credit)} triệu đồng, huy động xã hội hóa "
                 f"{ly.millions(total.social_contributions)} triệu đồng.")
    ly.table(doc, f"Nguồn lực huy động năm {r.summary.year}", RESOURCE_HEADERS,
             [resources_row(str(i), ln.unit.name, dict(ln.resources_vnd))
              for i, ln in enumerate(districts, start=1)],
             RESOURCE_WIDTHS, total=resources_row("", "Toàn tỉnh", total.model_dump()),
             unit_note="Đơn vị tính: triệu đồng")


def _awards(doc: Document, r: YearlyReport) -> None:
    year = r.summary.year
    ly.chapter(doc, "IV. CÔNG TÁC KHEN THƯỞNG")
    nominations = r.summary.province.nominations
    if nominations:
        counts = "; ".join(f"{w.STATUSES.get(k, k)}: {ly.integer(v)}"
                           for k, v in sorted(nominations.items()))
        ly.body(doc, f"Hồ sơ đề nghị khen thưởng năm {year} theo tình trạng: {counts}.")
    awards = r.province.awards
    if not awards:
        ly.body(doc, f"Chưa có quyết định khen thưởng năm {year} được ghi nhận.")
        return
    ly.body(doc, f"Tổng số khen thưởng năm {year}: "
                 f"{ly.integer(sum(a.awards for a in awards))}.")
    ly.table(doc, f"Khen thưởng năm {year} theo hình thức và cấp khen thưởng",
             AWARD_HEADERS, award_rows(awards), AWARD_WIDTHS,
             total=["", "Tổng cộng", "", ly.integer(sum(a.awards for a in awards))])


def _exemplary(doc: Document, r: YearlyReport) -> None:
    year, e = r.summary.year, r.exemplary
    ly.chapter(doc, "V. ĐIỂN HÌNH TIÊN TIẾN")
    parents = {ln.unit.unit_id: ln.unit.name for ln in r.summary.districts}
    if e.best_reducers:
        ly.body(doc, f"Các đơn vị cấp xã có mức giảm tỷ lệ hộ nghèo cao nhất năm {year}:")
        ly.table(doc, f"Đơn vị cấp xã giảm tỷ lệ hộ nghèo nhiều nhất năm {year}",
                 ("Hạng", "Đơn vị", "Thuộc", "Tỷ lệ hộ nghèo (%)", "Giảm (điểm %)"),
                 [[str(b.rank), b.unit.name, parents.get(b.parent_id, ly.NONE)
                   if b.parent_id else ly.NONE, ly.decimal(b.poor_rate_pct),
                   ly.decimal(b.reduction_pp)] for b in e.best_reducers],
                 (1.3, 4.7, 4.5, 3.0, 3.0))
    if e.awarded_units:
        ly.body(doc, f"Các tập thể được khen thưởng năm {year}:")
        ly.table(doc, f"Tập thể được khen thưởng năm {year}",
                 ("STT", "Đơn vị", "Hình thức khen thưởng", "Cấp khen thưởng"),
                 [[str(i), a.unit.name, a.form_code,
                   w.level_name(a.authority_level) if a.authority_level else ly.NONE]
                  for i, a in enumerate(e.awarded_units, start=1)],
                 (0.9, 5.6, 5.0, 5.0))
    models = [(ln.unit.name, w.models_of(ln)) for ln in r.summary.districts]
    province = w.models_of(r.summary.province)
    if province is not None:
        ly.body(doc, f"Sổ theo dõi điển hình tiên tiến năm {year}: phát hiện "
                     f"{ly.integer(province[0])} điển hình, trong đó "
                     f"{ly.integer(province[1])} điển hình được công nhận; "
                     f"{ly.integer(province[2])} lượt nhân rộng mô hình.")
        ly.table(doc, f"Điển hình tiên tiến theo đơn vị cấp huyện năm {year}",
                 ("STT", "Đơn vị", *w.MODEL_HEADERS),
                 [[str(i), name, *(ly.integer(c) for c in counts or (None, None, None))]
                  for i, (name, counts) in enumerate(models, start=1)],
                 (0.9, 5.6, 3.3, 3.3, 3.4),
                 total=["", "Toàn tỉnh", *(ly.integer(c) for c in province)])
    ly.placeholder(doc, "Các mô hình, cách làm hay, sáng kiến và gương điển hình tiên tiến "
                        "trong năm.")


def _shortcomings(doc: Document, r: YearlyReport, districts: list[SummaryLine]) -> None:
    ly.chapter(doc, "VI. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN")
    missed = [ln.unit.name for ln in districts if ln.target and ln.target.met is False]
    if missed:
        ly.body(doc, f"Đơn vị cấp huyện chưa đạt chỉ tiêu giảm nghèo năm {r.summary.year}: "
                     f"{', '.join(missed)}.")
    silent = [f"{ln.unit.name} ({ly.integer(ln.compliance.missing)})" for ln in districts
              if ln.compliance and ln.compliance.missing]
    if silent:
        ly.body(doc, f"Đơn vị có cấp xã không gửi báo cáo đúng quy định (số đơn vị): "
                     f"{', '.join(silent)}.")
    ly.placeholder(doc, "Tồn tại, hạn chế và nguyên nhân.")
