"""The page of a Vietnamese administrative report (Decree 30/2020/NĐ-CP, appendix I): A4,
margins 20 mm top and bottom, 30 mm left, 15 mm right; Times New Roman; the issuing body top
left and the national motto top right, each over a short rule; the number and symbol under the
body, the place and date under the motto; the kind of document and its summary line centred;
the body at 14 pt, justified, first lines indented; the page number centred at the top from the
second page; the recipients bottom left and the signature block bottom right."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from docx import Document as new_document
from docx.document import Document
from docx.enum.section import WD_SECTION_START
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from chungtay_common.clock import VN

FONT = "Times New Roman"
BODY_PT = 14
TABLE_PT = 11
CELL_STYLE = "Ô bảng"  # the figures' tables: 11 pt, single spacing, no indent
TEXT_WIDTH_CM = 16.5  # A4 less the 30 mm and 15 mm margins
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
SIGN_HINT = "(Ký, ghi rõ họ tên)"
# what the Board writes in where the figures say nothing (never made up)
PLACEHOLDER = "[Ban Thi đua – Khen thưởng bổ sung]"
NONE = "–"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------- numbers


def integer(value: float | None) -> str:
    """Vietnamese grouping: 12.345."""
    return NONE if value is None else f"{round(value):,}".replace(",", ".")


def decimal(value: float | None, places: int = 2) -> str:
    """Vietnamese decimals: 9,51; 1.234,50."""
    if value is None:
        return NONE
    text = f"{value:,.{places}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def millions(vnd: float | None) -> str:
    """VND in millions (triệu đồng), one decimal."""
    return NONE if vnd is None else decimal(vnd / 1_000_000, 1)


def day(d: date | datetime) -> str:
    if isinstance(d, datetime):
        d = d.astimezone(VN)
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def moment(at: datetime) -> str:
    local = at.astimezone(VN)
    return f"{local.hour:02d} giờ {local.minute:02d} ngày {day(local)}"


# --------------------------------------------------------------------------- the page


def _fonts(rpr: object) -> None:
    """Times New Roman for every script, and no theme font that would win over it."""
    fonts = rpr.find(qn("w:rFonts"))  # type: ignore[attr-defined]
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)  # type: ignore[attr-defined]
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        if fonts.get(qn(attr)) is not None:
            del fonts.attrib[qn(attr)]
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)


def _page_number(doc: Document) -> None:
    """The page number centred at the top, from the second page on."""
    section = doc.sections[0]
    section.different_first_page_header_footer = True
    p = section.header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    p._p.append(field)


def document() -> Document:
    doc = new_document()
    section = doc.sections[0]
    section.start_type = WD_SECTION_START.NEW_PAGE
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    section.header_distance = Mm(10)
    for name in ("Normal", "Heading 1", "Heading 2", "Caption"):
        style = doc.styles[name]
        style.font.name = FONT
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.font.italic = name == "Caption"
        style.font.size = Pt(BODY_PT if name != "Caption" else 13)
        _fonts(style.element.get_or_add_rPr())
    normal = doc.styles["Normal"].paragraph_format
    normal.space_after = Pt(6)
    normal.line_spacing = 1.15
    for name in ("Heading 1", "Heading 2"):
        style = doc.styles[name]
        style.font.bold = True
        pf = style.paragraph_format
        pf.space_before, pf.space_after = Pt(6), Pt(6)
        pf.first_line_indent = Cm(1.27)
        pf.keep_with_next = True
    cells = doc.styles.add_style(CELL_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    cells.base_style = doc.styles["Normal"]
    cells.font.size = Pt(TABLE_PT)
    cf = cells.paragraph_format
    cf.space_before = cf.space_after = Pt(0)
    cf.first_line_indent = Cm(0)
    cf.line_spacing = 1.0
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "vi-VN")
    doc.styles["Normal"].element.get_or_add_rPr().append(lang)
    doc.core_properties.language = "vi-VN"
    _page_number(doc)
    return doc


def _run(p: Paragraph, text: str, size: float = BODY_PT, bold: bool = False,
         italic: bool = False) -> None:
    run = p.add_run(nfc(text))
    run.font.size = Pt(size)
    run.bold, run.italic = bold, italic


def _line(p: Paragraph, text: str, size: float = BODY_PT, bold: bool = False,
          italic: bool = False, align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER) -> None:
    p.alignment = align
    pf = p.paragraph_format
    pf.space_after = pf.space_before = Pt(0)
    pf.first_line_indent = Cm(0)
    pf.line_spacing = 1.0
    _run(p, text, size, bold, italic)


def _rule(cell: _Cell, indent_cm: float) -> None:
    """A short horizontal rule, centred in the cell (the bottom border of an empty line)."""
    p = cell.add_paragraph()
    pf = p.paragraph_format
    pf.left_indent = pf.right_indent = Cm(indent_cm)
    pf.space_after = Pt(4)
    pf.space_before = Pt(0)
    pf.line_spacing = Pt(2)
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"),
                       ("w:color", "000000")):
        bottom.set(qn(key), value)
    border.append(bottom)
    p._p.get_or_add_pPr().append(border)


def _no_borders(table: Table) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    table._tbl.tblPr.append(borders)


def _widths(table: Table, widths_cm: Sequence[float]) -> None:
    table.autofit = False
    for row in table.rows:
        for cell, width in zip(row.cells, widths_cm, strict=True):
            cell.width = Cm(width)


@dataclass(frozen=True)
class Heading:
    """The top of the first page and the signature: who issues the document and who signs."""

    parent_body: str  # UBND TỈNH QUẢNG BÌNH
    issuer: str  # BAN THI ĐUA - KHEN THƯỞNG
    symbol: str  # BC-BTĐKT: the number is the registry's (văn thư), left blank
    place: str  # Quảng Bình
    issued_on: date  # the year is shown; the day and month are the signing day's, left blank
    kind: str  # BÁO CÁO
    summary: str  # the summary line (trích yếu)
    position: str  # TRƯỞNG BAN
    recipients: Sequence[str]


def heading(doc: Document, h: Heading) -> None:
    table = doc.add_table(rows=1, cols=2)
    _no_borders(table)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, (6.5, 10.0))
    left, right = table.rows[0].cells
    _line(left.paragraphs[0], h.parent_body.upper(), 13)
    _line(left.add_paragraph(), h.issuer.upper(), 13, bold=True)
    _rule(left, 2.25)
    _line(left.add_paragraph(), f"Số:        /{h.symbol}", 13)
    _line(right.paragraphs[0], MOTTO[0], 13, bold=True)
    _line(right.add_paragraph(), MOTTO[1], 14, bold=True)
    _rule(right, 1.75)
    _line(right.add_paragraph(),
          f"{h.place}, ngày      tháng      năm {h.issued_on.year}", 14, italic=True)
    title = doc.add_paragraph()
    _line(title, h.kind.upper(), 14, bold=True)
    title.paragraph_format.space_before = Pt(18)
    summary = doc.add_paragraph()
    _line(summary, h.summary, 14, bold=True)
    rule = doc.add_table(rows=1, cols=1)
    _no_borders(rule)
    rule.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(rule, (TEXT_WIDTH_CM,))
    _rule(rule.rows[0].cells[0], 6.0)


def chapter(doc: Document, text: str, level: int = 1) -> None:
    """A heading of the body: "I. KẾT QUẢ ..." (level 1) or "1. Toàn tỉnh" (level 2)."""
    doc.add_paragraph(nfc(text), style=f"Heading {level}")


def body(doc: Document, text: str, italic: bool = False) -> Paragraph:
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    p.paragraph_format.first_line_indent = Cm(1.27)
    _run(p, text, italic=italic)
    return p


def placeholder(doc: Document, what: str) -> None:
    """A paragraph the Board completes: the figures hold nothing to write here."""
    p = body(doc, f"{PLACEHOLDER} {what}", italic=True)
    for run in p.runs:
        run.font.highlight_color = WD_COLOR_INDEX.YELLOW


def _next(doc: Document, kind: str) -> int:
    """The number of the next table or chart ("Bảng", "Biểu đồ"): they are numbered in order,
    whichever are left out for want of figures."""
    return 1 + sum(1 for p in doc.paragraphs
                   if p.style is not None and p.style.name == "Caption"
                   and p.text.startswith(f"{kind} "))


def table(doc: Document, caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
          widths_cm: Sequence[float], total: Sequence[str] | None = None,
          unit_note: str = "") -> Table:
    """A table of figures: its caption above, a header row repeated on every page, the first
    text column left-aligned and the figures right-aligned; the total row, if any, in bold."""
    p = doc.add_paragraph(style="Caption")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.keep_with_next = True
    _run(p, f"Bảng {_next(doc, 'Bảng')}. {caption}", 13, bold=True, italic=False)
    if unit_note:
        note = doc.add_paragraph()
        note.paragraph_format.keep_with_next = True
        _line(note, unit_note, 12, italic=True, align=WD_ALIGN_PARAGRAPH.RIGHT)
    lines = [*rows, *([total] if total is not None else [])]
    t = doc.add_table(rows=1 + len(lines), cols=len(headers))
    t.style = doc.styles["Table Grid"]
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(t, widths_cm)
    header_row = t.rows[0]
    header_flag = OxmlElement("w:tblHeader")
    header_row._tr.get_or_add_trPr().append(header_flag)
    style = doc.styles[CELL_STYLE]
    for cell, text in zip(header_row.cells, headers, strict=True):
        _cell(cell, style, text, True, WD_ALIGN_PARAGRAPH.CENTER)
    for i, values in enumerate(lines, start=1):
        bold = total is not None and i == len(lines)
        for j, (cell, text) in enumerate(zip(t.rows[i].cells, values, strict=True)):
            align = (WD_ALIGN_PARAGRAPH.LEFT if j == 1 or len(headers) == 1
                     else WD_ALIGN_PARAGRAPH.RIGHT if _figure(text)
                     else WD_ALIGN_PARAGRAPH.CENTER)
            _cell(cell, style, text, bold, align)
    doc.add_paragraph().paragraph_format.space_after = Pt(0)
    return t  # type: ignore[no-any-return]


def _cell(cell: _Cell, style: object, text: str, bold: bool,
          align: WD_ALIGN_PARAGRAPH) -> None:
    """A table cell's text: the cells' style does the rest (cheaper than per-run formats)."""
    p = cell.paragraphs[0]
    p.style = style
    p.alignment = align
    run = p.add_run(nfc(text))
    if bold:
        run.bold = True


def _figure(text: str) -> bool:
    return bool(text) and text[0] in "-0123456789" and text != NONE


def figure(doc: Document, png: bytes, caption: str) -> None:
    """A chart (PNG) the width of the text, its caption below."""
    doc.add_picture(io.BytesIO(png), width=Cm(TEXT_WIDTH_CM - 0.5))
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.paragraphs[-1].paragraph_format.first_line_indent = Cm(0)
    doc.paragraphs[-1].paragraph_format.keep_with_next = True
    number = _next(doc, "Biểu đồ")
    p = doc.add_paragraph(style="Caption")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(p, f"Biểu đồ {number}. {caption}", 13, italic=True)


def closing(doc: Document, h: Heading) -> None:
    """The recipients (bottom left) and the signature block (bottom right)."""
    doc.add_paragraph()
    t = doc.add_table(rows=1, cols=2)
    _no_borders(t)
    _widths(t, (8.0, 8.5))
    left, right = t.rows[0].cells
    _line(left.paragraphs[0], "Nơi nhận:", 12, bold=True, italic=True,
          align=WD_ALIGN_PARAGRAPH.LEFT)
    for i, recipient in enumerate(h.recipients):
        end = "." if i == len(h.recipients) - 1 else ";"
        _line(left.add_paragraph(), f"- {recipient}{end}", 11, align=WD_ALIGN_PARAGRAPH.LEFT)
    _line(right.paragraphs[0], h.position.upper(), 14, bold=True)
    _line(right.add_paragraph(), SIGN_HINT, 14, italic=True)
    for _ in range(4):
        _line(right.add_paragraph(), "", 14)


def docx_bytes(doc: Document) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
