"""The mid-term review (sơ kết) and the final review (tổng kết) of the campaign: the period
against the plan (2–2.5 points a year on average; at or below the national average by the
end), each district's trend, the districts ranked, reporting, resources, awards and exemplary
units of the period, and what the Board completes."""

from __future__ import annotations

from collections import Counter

from docx.document import Document

from chungtay_common.contracts.awards import AuthorityLevel
from services.reporting import domain
from services.reporting.documents import charts
from services.reporting.documents import layout as ly
from services.reporting.documents import words as w
from services.reporting.service.documents import DistrictPeriod, Review, ReviewKind

YEAR_HEADERS = ("Năm", "Tổng số hộ", "Số hộ nghèo", "Tỷ lệ hộ nghèo (%)",
                "Giảm so với năm trước (điểm %)", "Bình quân cả nước (%)", "Số liệu")
YEAR_WIDTHS = (1.5, 2.6, 2.4, 2.2, 2.6, 2.2, 3.0)
FIGURES_SHORT = {"estimated": "sơ bộ", "official": "chính thức", "mixed": "sơ bộ và chính thức"}


def title(r: Review) -> str:
    period = f"giai đoạn {r.first_year}–{r.last_year}"
    if r.kind is ReviewKind.MID_TERM:
        years = r.last_year - r.first_year + 1
        return (f"Sơ kết {years:02d} năm thực hiện phong trào thi đua {w.MOVEMENT} "
                f"{period}")
    return f"Tổng kết phong trào thi đua {w.MOVEMENT} {period}"


def ranked(districts: list[DistrictPeriod]) -> list[tuple[int | None, DistrictPeriod]]:
    """The districts by their average yearly reduction, highest first (ties share a rank)."""
    ranks = domain.competition_ranks([d.period.average_reduction_pp for d in districts])
    pairs = list(zip(ranks, districts, strict=True))
    return sorted(pairs, key=lambda p: (p[0] is None, p[0] or 0, p[1].code or "", p[1].name))


def render(r: Review) -> bytes:
    """The review as a Word document."""
    last = r.years[max(r.years)]
    province = last.province.unit
    h = w.heading(province.name, r.issued_on, title(r))
    doc = ly.document()
    ly.heading(doc, h)
    statuses = "; ".join(f"năm {y}: {FIGURES_SHORT.get(s.province.figures or '', 'chưa có')}"
                         for y, s in r.years.items())
    ly.body(doc, f"Số liệu tổng hợp đến {ly.moment(r.as_of)} ({statuses}).", italic=True)
    missing = [y for y in range(r.first_year, r.last_year + 1) if y not in r.years]
    if missing:
        ly.body(doc, f"Chưa có số liệu các năm: {', '.join(map(str, missing))}.", italic=True)
    what = "sơ kết" if r.kind is ReviewKind.MID_TERM else "tổng kết"
    ly.body(doc, "Thực hiện " + w.PLAN.format(first=r.campaign_first_year,
                                              last=r.campaign_last_year)
            + f", Ban Thi đua - Khen thưởng tỉnh báo cáo {what} phong trào thi đua giai đoạn "
              f"{r.first_year}–{r.last_year} trên địa bàn tỉnh như sau:")
    _period(doc, r)
    _districts(doc, r)
    _rankings(doc, r)
    _reporting(doc, r)
    _awards(doc, r)
    _exemplary(doc, r)
    ly.chapter(doc, "VII. TỒN TẠI, HẠN CHẾ VÀ BÀI HỌC KINH NGHIỆM")
    below = [d.name for d in r.districts if d.period.meets_plan is False]
    if below:
        ly.body(doc, f"Đơn vị cấp huyện có mức giảm tỷ lệ hộ nghèo bình quân thấp hơn mục tiêu "
                     f"của Kế hoạch ({ly.decimal(domain.PLAN_REDUCTION_PP[0], 1)} điểm "
                     f"phần trăm/năm): {', '.join(below)}.")
    ly.placeholder(doc, "Tồn tại, hạn chế, nguyên nhân và bài học kinh nghiệm.")
    if r.kind is ReviewKind.MID_TERM and r.last_year + 1 == r.campaign_last_year:
        ahead = f"NĂM {r.campaign_last_year}"
    elif r.kind is ReviewKind.MID_TERM and r.last_year < r.campaign_last_year:
        ahead = f"GIAI ĐOẠN {r.last_year + 1}–{r.campaign_last_year}"
    else:
        ahead = "GIAI ĐOẠN TIẾP THEO"
    ly.chapter(doc, f"VIII. PHƯƠNG HƯỚNG, NHIỆM VỤ {ahead}")
    ly.placeholder(doc, "Phương hướng, nhiệm vụ, giải pháp; đề xuất, kiến nghị.")
    ly.body(doc, f"Trên đây là báo cáo {what} phong trào thi đua {w.MOVEMENT} giai đoạn "
                 f"{r.first_year}–{r.last_year} trên địa bàn tỉnh "
                 f"{w.place_of(province.name)}./.")
    ly.closing(doc, h)
    return ly.docx_bytes(doc)


def _period(doc: Document, r: Review) -> None:
    p = r.province
    ly.chapter(doc, "I. KẾT QUẢ THỰC HIỆN MỤC TIÊU GIAI ĐOẠN")
    ly.chapter(doc, "1. Toàn tỉnh", 2)
    rows = []
    for year, s in r.years.items():
        ln = s.province
        rows.append([str(year), ly.integer(ln.values.get("households_total")),
                     ly.integer(ln.values.get("poor_households")), ly.decimal(ln.poor_rate_pct),
                     ly.decimal(ln.reduction_pp), ly.decimal(ln.national_average_pct),
                     FIGURES_SHORT.get(ln.figures or "", ly.NONE)])
    ly.table(doc, f"Kết quả giảm nghèo toàn tỉnh giai đoạn {r.first_year}–{r.last_year}",
             YEAR_HEADERS, rows, YEAR_WIDTHS)
    low, high = domain.PLAN_REDUCTION_PP
    if p.average_reduction_pp is None:
        ly.body(doc, "Chưa đủ số liệu để tính mức giảm tỷ lệ hộ nghèo bình quân của giai đoạn.")
    else:
        verdict = "đạt" if p.meets_plan else "chưa đạt"
        ly.body(doc, f"Bình quân giai đoạn, tỷ lệ hộ nghèo toàn tỉnh giảm "
                     f"{ly.decimal(p.average_reduction_pp)} điểm phần trăm mỗi năm "
                     f"({len(p.yearly_reduction_pp)} năm có số liệu so sánh), {verdict} mục "
                     f"tiêu của Kế hoạch (giảm bình quân {ly.decimal(low, 1)}–"
                     f"{ly.decimal(high, 1)} điểm phần trăm/năm).")
    if p.last_year is not None and p.national_average_pct is not None:
        side = "thấp hơn hoặc bằng" if p.at_or_below_national_average else "cao hơn"
        ly.body(doc, f"Năm {p.last_year}, tỷ lệ hộ nghèo của tỉnh là "
                     f"{ly.decimal(p.last_rate_pct)}%, {side} tỷ lệ bình quân chung của cả "
                     f"nước ({ly.decimal(p.national_average_pct)}%); Kế hoạch đề ra đến năm "
                     f"2020 tỷ lệ hộ nghèo của tỉnh bằng hoặc thấp hơn bình quân cả nước.")
    elif p.last_year is not None:
        ly.body(doc, f"Năm {p.last_year}, tỷ lệ hộ nghèo của tỉnh là "
                     f"{ly.decimal(p.last_rate_pct)}%; chưa có tỷ lệ bình quân cả nước năm "
                     f"{p.last_year} để so sánh.")


def _districts(doc: Document, r: Review) -> None:
    years = list(r.years)
    ly.chapter(doc, "2. Kết quả theo đơn vị cấp huyện", 2)
    headers = ("STT", "Đơn vị", *(f"{y} (%)" for y in years), "Giảm bình quân (điểm %/năm)",
               "So với Kế hoạch")
    name_width = 3.6
    rest = ly.TEXT_WIDTH_CM - 0.9 - name_width - 2.2 - 2.0
    widths = (0.9, name_width, *([rest / len(years)] * len(years)), 2.2, 2.0)
    rows = [[str(i), d.name, *(ly.decimal(d.lines[y].poor_rate_pct) if y in d.lines
                               else ly.NONE for y in years),
             ly.decimal(d.period.average_reduction_pp), w.met_text(d.period.meets_plan)]
            for i, d in enumerate(r.districts, start=1)]
    p = r.province
    total = ["", "Toàn tỉnh", *(ly.decimal(r.years[y].province.poor_rate_pct) for y in years),
             ly.decimal(p.average_reduction_pp), w.met_text(p.meets_plan)]
    ly.table(doc, f"Tỷ lệ hộ nghèo theo đơn vị cấp huyện giai đoạn "
                  f"{r.first_year}–{r.last_year}", headers, rows, widths, total=total)
    ly.figure(doc, charts.trends(
        years, {d.name: [d.lines[y].poor_rate_pct if y in d.lines else None for y in years]
                for d in r.districts},
        [r.years[y].province.national_average_pct for y in years],
        f"Tỷ lệ hộ nghèo {r.first_year}–{r.last_year} (%)"),
        f"Diễn biến tỷ lệ hộ nghèo theo đơn vị cấp huyện giai đoạn "
        f"{r.first_year}–{r.last_year}")
    ly.figure(doc, charts.average_reduction(
        [d.name for d in r.districts], [d.period.average_reduction_pp for d in r.districts],
        domain.PLAN_REDUCTION_PP, "Giảm tỷ lệ hộ nghèo bình quân mỗi năm so với Kế hoạch"),
        f"Mức giảm tỷ lệ hộ nghèo bình quân mỗi năm theo đơn vị cấp huyện giai "
        f"đoạn {r.first_year}–{r.last_year}")


def _rankings(doc: Document, r: Review) -> None:
    ly.chapter(doc, "II. XẾP HẠNG THI ĐUA CÁC ĐƠN VỊ CẤP HUYỆN")
    ly.body(doc, "Xếp hạng theo mức giảm tỷ lệ hộ nghèo bình quân mỗi năm của giai đoạn (các "
                 "đơn vị bằng nhau cùng hạng).")
    first, last = min(r.years), max(r.years)
    rows = [[str(rank) if rank is not None else ly.NONE, d.name,
             ly.decimal(d.lines[first].poor_rate_pct) if first in d.lines else ly.NONE,
             ly.decimal(d.lines[last].poor_rate_pct) if last in d.lines else ly.NONE,
             ly.decimal(d.period.average_reduction_pp)] for rank, d in ranked(r.districts)]
    ly.table(doc, f"Xếp hạng đơn vị cấp huyện giai đoạn {r.first_year}–{r.last_year}",
             ("Hạng", "Đơn vị", f"Tỷ lệ hộ nghèo {first} (%)", f"Tỷ lệ hộ nghèo {last} (%)",
              "Giảm bình quân (điểm %/năm)"), rows, (1.3, 5.2, 3.3, 3.3, 3.4))


def _reporting(doc: Document, r: Review) -> None:
    ly.chapter(doc, "III. CHẾ ĐỘ BÁO CÁO VÀ NGUỒN LỰC HUY ĐỘNG")
    rows = []
    for year, s in r.years.items():
        c = s.province.compliance
        rows.append([str(year), *(ly.integer(v) for v in (
            c.expected, c.on_time, c.late, c.missing, c.not_yet_due))] if c else
            [str(year), *[ly.NONE] * 5])
    ly.table(doc, f"Tình hình gửi báo cáo giai đoạn {r.first_year}–{r.last_year}",
             ("Năm", "Phải báo cáo", "Đúng hạn", "Trễ hạn", "Không báo cáo (quá hạn)",
              "Chưa đến hạn"), rows, (1.5, 3.0, 3.0, 3.0, 3.0, 3.0))
    rows = [[str(year), *(ly.millions(s.province.resources_vnd.get(k)) for k in
                          ("state_budget", "preferential_credit", "social_contributions",
                           "total"))] for year, s in r.years.items()]
    total = ["Cộng", *(ly.millions(sum(s.province.resources_vnd.get(k, 0)
                                       for s in r.years.values()))
                       for k in ("state_budget", "preferential_credit", "social_contributions",
                                 "total"))]
    ly.table(doc, f"Nguồn lực huy động giai đoạn {r.first_year}–{r.last_year}",
             ("Năm", "Ngân sách nhà nước", "Tín dụng ưu đãi", "Xã hội hóa", "Tổng cộng"),
             rows, (1.5, 3.8, 3.7, 3.7, 3.8), total=total, unit_note="Đơn vị tính: triệu đồng")


def _awards(doc: Document, r: Review) -> None:
    ly.chapter(doc, "IV. CÔNG TÁC KHEN THƯỞNG")
    counts: Counter[tuple[str, AuthorityLevel]] = Counter()
    for s in r.years.values():
        for a in s.province.awards:
            counts[(a.form_code, a.authority_level)] += a.awards
    if not counts:
        ly.body(doc, f"Chưa có quyết định khen thưởng giai đoạn {r.first_year}–{r.last_year} "
                     f"được ghi nhận.")
        return
    rows = [[str(year), a.form_code, w.level_name(a.authority_level), ly.integer(a.awards)]
            for year, s in r.years.items() for a in s.province.awards]
    ly.table(doc, f"Khen thưởng theo năm, hình thức và cấp khen thưởng giai đoạn "
                  f"{r.first_year}–{r.last_year}",
             ("Năm", "Hình thức khen thưởng", "Cấp khen thưởng", "Số lượng"), rows,
             (1.5, 6.5, 5.5, 3.0), total=["", "Tổng cộng", "",
                                          ly.integer(sum(counts.values()))])


def _exemplary(doc: Document, r: Review) -> None:
    ly.chapter(doc, "V. ĐIỂN HÌNH TIÊN TIẾN")
    parents = {d.unit_id: d.name for d in r.districts}
    rows = [[str(year), str(b.rank), b.unit.name,
             parents.get(b.parent_id, ly.NONE) if b.parent_id else ly.NONE,
             ly.decimal(b.reduction_pp)]
            for year, e in r.exemplary.items() for b in e.best_reducers]
    if rows:
        ly.table(doc, "Đơn vị cấp xã giảm tỷ lệ hộ nghèo nhiều nhất từng năm",
                 ("Năm", "Hạng", "Đơn vị", "Thuộc", "Giảm (điểm %)"), rows,
                 (1.5, 1.3, 5.2, 5.0, 3.5))
    rows = [[str(year), a.unit.name, a.form_code,
             w.level_name(a.authority_level) if a.authority_level else ly.NONE]
            for year, e in r.exemplary.items() for a in e.awarded_units]
    if rows:
        ly.table(doc, f"Tập thể được khen thưởng giai đoạn {r.first_year}–{r.last_year}",
                 ("Năm", "Đơn vị", "Hình thức khen thưởng", "Cấp khen thưởng"), rows,
                 (1.5, 5.5, 5.0, 4.5))
    counts = {year: w.models_of(s.province) for year, s in r.years.items()}
    if all(c is not None for c in counts.values()):
        ly.table(doc, f"Điển hình tiên tiến toàn tỉnh giai đoạn "
                      f"{r.first_year}–{r.last_year}", ("Năm", *w.MODEL_HEADERS),
                 [[str(year), *(ly.integer(n) for n in c or ())] for year, c in counts.items()],
                 (2.0, 4.8, 4.8, 4.9),
                 total=["Cộng", *(ly.integer(sum((c or (0, 0, 0))[i] for c in counts.values()))
                                  for i in range(3))])
    ly.placeholder(doc, "Các mô hình, cách làm hay, sáng kiến và gương điển hình tiên tiến "
                        "của giai đoạn.")
    ly.chapter(doc, "VI. CÔNG TÁC CHỈ ĐẠO, TỔ CHỨC THỰC HIỆN")
    ly.placeholder(doc, "Công tác chỉ đạo, tuyên truyền, kiểm tra, đôn đốc thực hiện phong "
                        "trào thi đua.")
