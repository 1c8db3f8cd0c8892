"""The statutory statistical forms on emulation and commendation that a province files with
the Ministry of Home Affairs, as XLSX in the form's layout, filled from the provincial
summary of a year or a period: form 0601 (emulation movements, "Phong trào thi đua") and form
0603 (awards by provinces and ministries, "Khen thưởng") of Thông tư 02/2023/TT-BNV, and for
the years before 2023 the forms of Thông tư 03/2018/TT-BNV.

The circulars' exact tables were not at hand: the layout (title block, reporting and receiving
units, period, two header rows with merged cells, numbered columns, a total row, signatures)
follows the ministry's statistical forms, and the columns are the figures the system holds,
named in Vietnamese as such forms name them. What is assumed is listed in ``ASSUMED`` and
written under each table."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from chungtay_common.cells import inert
from chungtay_common.contracts.awards import AuthorityLevel
from chungtay_common.db import Conn
from chungtay_common.messages import en_vi
from chungtay_common.refusals import RuleBroken
from services.reporting.schemas import HierarchyMode, ProvincialSummary, SummaryLine
from services.reporting.service import summaries

MAX_YEARS = 10
RECEIVER = "Bộ Nội vụ (Ban Thi đua – Khen thưởng Trung ương)"
ASSUMED = ("Bố cục biểu lập theo mẫu biểu thống kê của Bộ Nội vụ; tên và thứ tự cột là giả "
           "định (không có văn bản gốc của Thông tư để đối chiếu), số liệu lấy từ báo cáo "
           "tổng hợp cấp tỉnh của hệ thống.")

# The forms of commendation the reporting views know only by their code (the awards
# service's catalogue): their names as the seed catalogue gives them.
FORM_NAMES: dict[str, str] = {
    "lao_dong_tien_tien": "Lao động tiên tiến",
    "chien_si_thi_dua_co_so": "Chiến sĩ thi đua cơ sở",
    "chien_si_thi_dua_cap_tinh": "Chiến sĩ thi đua cấp tỉnh",
    "chien_si_thi_dua_toan_quoc": "Chiến sĩ thi đua toàn quốc",
    "tap_the_lao_dong_tien_tien": "Tập thể lao động tiên tiến",
    "tap_the_lao_dong_xuat_sac": "Tập thể lao động xuất sắc",
    "co_thi_dua_ubnd_tinh": "Cờ thi đua của UBND tỉnh",
    "co_thi_dua_chinh_phu": "Cờ thi đua của Chính phủ",
    "gia_dinh_van_hoa": "Gia đình văn hóa",
    "thon_van_hoa": "Thôn, bản, tổ dân phố văn hóa",
    "giay_khen_chu_tich_xa": "Giấy khen của Chủ tịch UBND cấp xã",
    "giay_khen_chu_tich_huyen": "Giấy khen của Chủ tịch UBND cấp huyện",
    "bang_khen_chu_tich_tinh": "Bằng khen của Chủ tịch UBND tỉnh",
    "bang_khen_thu_tuong": "Bằng khen của Thủ tướng Chính phủ",
    "huan_chuong_lao_dong": "Huân chương Lao động hạng Ba",
    "huan_chuong_lao_dong_hang_nhi": "Huân chương Lao động hạng Nhì",
    "huan_chuong_lao_dong_hang_nhat": "Huân chương Lao động hạng Nhất",
    "giay_khen_thu_truong": "Giấy khen của Thủ trưởng cơ quan, đơn vị",
}
LEVEL_HEADERS: dict[AuthorityLevel, str] = {
    AuthorityLevel.STATE_PRESIDENT: "Khen thưởng cấp Nhà nước (Chủ tịch nước)",
    AuthorityLevel.PRIME_MINISTER: "Khen thưởng cấp Nhà nước (Thủ tướng Chính phủ)",
    AuthorityLevel.PROVINCIAL_CHAIRMAN: "Chủ tịch UBND tỉnh khen thưởng",
    AuthorityLevel.DISTRICT_CHAIRMAN: "Chủ tịch UBND cấp huyện khen thưởng",
    AuthorityLevel.COMMUNE_CHAIRMAN: "Chủ tịch UBND cấp xã khen thưởng",
}
LEVEL_ORDER = tuple(LEVEL_HEADERS)


@dataclass(frozen=True)
class Period:
    first: int
    last: int

    @property
    def years(self) -> range:
        return range(self.first, self.last + 1)

    def label(self) -> str:
        return (f"Năm {self.first}" if self.first == self.last
                else f"Từ năm {self.first} đến năm {self.last}")

    def circular(self) -> tuple[str, str]:
        """The circular whose form is filed, and the form's number: 02/2023 from 2023, the
        2018 one before (a period across 2023 files the newer form)."""
        if self.last >= 2023:
            return "Thông tư số 02/2023/TT-BNV", "N/BNV-TĐKT"
        return "Thông tư số 03/2018/TT-BNV", "N/BNV-TĐKT"


def period_of(year: int | None, from_year: int | None, to_year: int | None) -> Period:
    """A year, or a period of at most ``MAX_YEARS`` years; anything else is refused (422)."""
    if year is not None:
        if from_year is not None or to_year is not None:
            raise RuleBroken("year", en_vi("give a year, or from_year and to_year, not both",
                                           "chọn một năm, hoặc từ năm đến năm, không cả hai"))
        return Period(year, year)
    if from_year is None or to_year is None:
        raise RuleBroken("year", en_vi("give a year, or from_year and to_year",
                                       "hãy chọn một năm, hoặc từ năm đến năm"))
    if not 0 <= to_year - from_year < MAX_YEARS:
        raise RuleBroken("to_year", en_vi(
            f"the period runs forward, {MAX_YEARS} years at most",
            f"kỳ báo cáo tính từ năm đầu đến năm cuối, tối đa {MAX_YEARS} năm"))
    return Period(from_year, to_year)


@dataclass
class Row:
    """A unit's figures over the period."""

    name: str
    code: str | None
    reports: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    nominations: int = 0
    awards: Counter[tuple[AuthorityLevel, str]] = field(default_factory=Counter)

    def add(self, line: SummaryLine) -> None:
        self.name, self.code = line.unit.name, line.unit.code
        self.reports += line.reports
        if line.compliance is not None:
            self.on_time += line.compliance.on_time
            self.late += line.compliance.late
            self.missing += line.compliance.missing
        self.nominations += sum(line.nominations.values())
        for a in line.awards:
            self.awards[(a.authority_level, a.form_code)] += a.awards


@dataclass
class Filing:
    """What a form shows: the province's total and its districts' lines over the period."""

    campaign: str
    period: Period
    province: Row
    districts: list[Row]


async def _filing(conn: Conn, campaign_id: uuid.UUID, period: Period,
                  province_id: uuid.UUID | None) -> Filing:
    summaries_: list[ProvincialSummary] = [
        await summaries.provincial(conn, campaign_id, y, province_id, HierarchyMode.AS_REPORTED)
        for y in period.years]
    province = Row(summaries_[-1].province.unit.name, summaries_[-1].province.unit.code)
    districts: dict[uuid.UUID, Row] = {}
    for s in summaries_:
        province.add(s.province)
        for line in s.districts:
            districts.setdefault(line.unit.unit_id, Row(line.unit.name, line.unit.code)).add(line)
    return Filing(summaries_[-1].campaign.name, period, province,
                  sorted(districts.values(), key=lambda r: (r.code or "", r.name)))


async def form_0601(conn: Conn, campaign_id: uuid.UUID, year: int | None,
                    from_year: int | None, to_year: int | None,
                    province_id: uuid.UUID | None = None) -> bytes:
    """Form 0601, emulation movements, of a year or a period."""
    filing = await _filing(conn, campaign_id, period_of(year, from_year, to_year), province_id)
    return await asyncio.to_thread(xlsx_0601, filing)


async def form_0603(conn: Conn, campaign_id: uuid.UUID, year: int | None,
                    from_year: int | None, to_year: int | None,
                    province_id: uuid.UUID | None = None) -> bytes:
    """Form 0603, awards by form and authority level, of a year or a period."""
    filing = await _filing(conn, campaign_id, period_of(year, from_year, to_year), province_id)
    return await asyncio.to_thread(xlsx_0603, filing)


# --------------------------------------------------------------------------- the workbooks

THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
HEADER_ROW = 6  # the first header row; the title block is above it


@dataclass(frozen=True)
class Column:
    """A numbered column: its group header (merged over its columns) and its own header."""

    group: str
    header: str


def _put(ws: Worksheet, row: int, col: int, value: object, *, bold: bool = False,
         italic: bool = False, box: bool = False, align: Alignment | None = None) -> None:
    cell = ws.cell(row=row, column=col, value=inert(value))
    cell.font = Font(name="Times New Roman", size=11, bold=bold, italic=italic)
    if box:
        cell.border = BOX
    if align is not None:
        cell.alignment = align


def _merge(ws: Worksheet, row: int, first: int, last: int, value: object, *,
           bold: bool = False, italic: bool = False, box: bool = False, rows: int = 1) -> None:
    _put(ws, row, first, value, bold=bold, italic=italic, box=box, align=CENTRE)
    if box:
        for r in range(row, row + rows):
            for c in range(first, last + 1):
                ws.cell(row=r, column=c).border = BOX
    if last > first or rows > 1:
        ws.merge_cells(start_row=row, start_column=first, end_row=row + rows - 1,
                       end_column=last)


def _sheet(number: str, title: str, filing: Filing, columns: Sequence[Column]
           ) -> tuple[Workbook, Worksheet, int]:
    """The title block, the two header rows (groups merged, a column without a group spans
    both) and the numbering row (A, B, 1, 2...). Returns the first data row."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"Biểu {number}"
    table = 2 + len(columns)
    width = max(table, 9)  # the title block's three parts need room, however few forms
    circular, suffix = filing.period.circular()
    third = width // 3
    _merge(ws, 1, 1, third, f"Biểu số: {number}.{suffix}", bold=True)
    _merge(ws, 2, 1, third, f"Ban hành kèm theo {circular} của Bộ trưởng Bộ Nội vụ",
           italic=True)
    _merge(ws, 1, third + 1, width - third, title, bold=True)
    _merge(ws, 2, third + 1, width - third, filing.period.label(), bold=True)
    _merge(ws, 3, third + 1, width - third, f"Phong trào: {filing.campaign}", italic=True)
    _merge(ws, 1, width - third + 1, width, f"Đơn vị báo cáo: UBND {filing.province.name}")
    _merge(ws, 2, width - third + 1, width, f"Đơn vị nhận báo cáo: {RECEIVER}")
    _merge(ws, 4, 1, table, "Đơn vị tính: Số lượng", italic=True)
    top, sub = HEADER_ROW, HEADER_ROW + 1
    _merge(ws, top, 1, 1, "STT", bold=True, box=True, rows=2)
    _merge(ws, top, 2, 2, "Tên đơn vị", bold=True, box=True, rows=2)
    col = 3
    while col - 3 < len(columns):
        group = columns[col - 3].group
        span = 1
        while col - 3 + span < len(columns) and group and columns[col - 3 + span].group == group:
            span += 1
        if group:
            _merge(ws, top, col, col + span - 1, group, bold=True, box=True)
            for i in range(span):
                _put(ws, sub, col + i, columns[col - 3 + i].header, bold=True, box=True,
                     align=CENTRE)
        else:
            _merge(ws, top, col, col, columns[col - 3].header, bold=True, box=True, rows=2)
        col += span
    numbering = ["A", "B", *(str(i) for i in range(1, len(columns) + 1))]
    for c, label in enumerate(numbering, 1):
        _put(ws, sub + 1, c, label, italic=True, box=True, align=CENTRE)
    ws.column_dimensions["A"].width = 6
    ws.column_dimensions["B"].width = 34
    for c in range(3, table + 1):
        ws.column_dimensions[get_column_letter(c)].width = 14
    ws.row_dimensions[top].height = 45
    ws.row_dimensions[sub].height = 60
    return wb, ws, sub + 2


def _rows(ws: Worksheet, first: int, filing: Filing, values: Sequence[Sequence[int]]) -> int:
    """The province's total, then "chia theo đơn vị" and a line per district."""
    _put(ws, first, 1, "", box=True)
    _put(ws, first, 2, "Tổng số (toàn tỉnh)", bold=True, box=True)
    for c, v in enumerate(values[0], 3):
        _put(ws, first, c, v, bold=True, box=True)
    _put(ws, first + 1, 1, "", box=True)
    _put(ws, first + 1, 2, "Chia theo đơn vị cấp huyện:", italic=True, box=True)
    for c in range(3, 3 + len(values[0])):
        _put(ws, first + 1, c, None, box=True)
    row = first + 2
    for i, (district, figures) in enumerate(zip(filing.districts, values[1:], strict=True), 1):
        _put(ws, row, 1, i, box=True, align=CENTRE)
        _put(ws, row, 2, district.name, box=True)
        for c, v in enumerate(figures, 3):
            _put(ws, row, c, v, box=True)
        row += 1
    return row


def _footer(ws: Worksheet, row: int, width: int, filing: Filing) -> None:
    _merge(ws, row + 1, 1, width, f"Ghi chú: {ASSUMED}", italic=True)
    ws.row_dimensions[row + 1].height = 30
    half = max(2, width // 2)
    _merge(ws, row + 3, 1, half, "Người lập biểu", bold=True)
    _merge(ws, row + 4, 1, half, "(Ký, ghi rõ họ tên)", italic=True)
    _merge(ws, row + 2, half + 1, width, f"{filing.province.name.removeprefix('Tỉnh ')}, "
                                         "ngày …… tháng …… năm ……", italic=True)
    _merge(ws, row + 3, half + 1, width, "THỦ TRƯỞNG ĐƠN VỊ", bold=True)
    _merge(ws, row + 4, half + 1, width, "(Ký, đóng dấu, ghi rõ họ tên)", italic=True)


def _bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


COLUMNS_0601 = (
    Column("Số phong trào thi đua", "Tổng số"),
    Column("Số phong trào thi đua", "Thường xuyên"),
    Column("Số phong trào thi đua", "Theo đợt (chuyên đề)"),
    Column("Số lượt đơn vị cấp xã tham gia (báo cáo kết quả)", "Tổng số"),
    Column("Số lượt đơn vị cấp xã tham gia (báo cáo kết quả)", "Đúng hạn"),
    Column("Số lượt đơn vị cấp xã tham gia (báo cáo kết quả)", "Muộn"),
    Column("Số lượt đơn vị cấp xã tham gia (báo cáo kết quả)", "Chưa báo cáo"),
    Column("", "Số hồ sơ đề nghị khen thưởng"),
    Column("", "Số tập thể, cá nhân, hộ gia đình được khen thưởng"),
)


def _figures_0601(r: Row) -> list[int]:
    # the campaign is one movement by campaign (theo đợt, chuyên đề), none of them standing
    return [1, 0, 1, r.reports, r.on_time, r.late, r.missing, r.nominations,
            sum(r.awards.values())]


def xlsx_0601(filing: Filing) -> bytes:
    wb, ws, first = _sheet("0601", "SỐ PHONG TRÀO THI ĐUA", filing, COLUMNS_0601)
    values = [_figures_0601(r) for r in (filing.province, *filing.districts)]
    _footer(ws, _rows(ws, first, filing, values), max(2 + len(COLUMNS_0601), 9), filing)
    return _bytes(wb)


def award_columns(filing: Filing) -> list[tuple[AuthorityLevel, str]]:
    """The forms granted in the period (by any line), by authority level from the highest."""
    seen = {key for r in (filing.province, *filing.districts) for key in r.awards}
    return sorted(seen, key=lambda k: (LEVEL_ORDER.index(k[0]), FORM_NAMES.get(k[1], k[1])))


def xlsx_0603(filing: Filing) -> bytes:
    keys = award_columns(filing)
    columns = [Column("", "Tổng số"),
               *(Column(LEVEL_HEADERS[level], FORM_NAMES.get(code, code))
                 for level, code in keys)]
    wb, ws, first = _sheet("0603", "SỐ LƯỢNG KHEN THƯỞNG CỦA TỈNH", filing, columns)
    values = [[sum(r.awards.values()), *(r.awards[k] for k in keys)]
              for r in (filing.province, *filing.districts)]
    _footer(ws, _rows(ws, first, filing, values), max(2 + len(columns), 9), filing)
    return _bytes(wb)
