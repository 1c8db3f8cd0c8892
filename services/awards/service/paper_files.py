"""The Board's papers as files: the proposal (tờ trình) and the draft decision (quyết định) as
Word documents in the layout of Decree 30/2020/NĐ-CP (issuing body, national motto, number and
symbol, place and date, title, body, recipients, signature), the certificates (bằng khen,
giấy khen) as one PDF, a page per awardee. Pure: the data comes in, the bytes go out."""

from __future__ import annotations

import io
import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import matplotlib
from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from docx.table import _Cell
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from chungtay_common.contracts.awards import AuthorityLevel, NomineeKind
from chungtay_common.refusals import RuleBroken
from services.awards.domain import LEVEL_LABELS
from services.awards.schemas.papers import PaperKind

# The names each kind of paper fills; a template naming another is refused when it is saved.
PLACEHOLDERS: dict[PaperKind, tuple[str, ...]] = {
    PaperKind.PROPOSAL: ("year", "form_name", "authority", "count", "province"),
    PaperKind.DECISION: ("year", "form_name", "authority", "count", "province"),
    PaperKind.CERTIFICATE: ("year", "form_name", "nominee_name", "unit_name", "achievements",
                            "decision_number", "signed_on", "signer", "province"),
}

# The annex's groups, in the order of the decisions: collectives, individuals, households.
GROUPS: tuple[tuple[NomineeKind, str], ...] = (
    (NomineeKind.UNIT, "TẬP THỂ"), (NomineeKind.PERSON, "CÁ NHÂN"),
    (NomineeKind.HOUSEHOLD, "HỘ GIA ĐÌNH"))
ROMAN = ("I", "II", "III")

# Who issues a decision of each level, and the title its signer signs under. The levels below
# the province are named generically: a district's or commune's own name is on its own papers.
ISSUER: dict[AuthorityLevel, tuple[str, str]] = {
    AuthorityLevel.COMMUNE_CHAIRMAN: ("ỦY BAN NHÂN DÂN CẤP XÃ", "CHỦ TỊCH"),
    AuthorityLevel.DISTRICT_CHAIRMAN: ("ỦY BAN NHÂN DÂN CẤP HUYỆN", "CHỦ TỊCH"),
    AuthorityLevel.PROVINCIAL_CHAIRMAN: ("ỦY BAN NHÂN DÂN {province}", "CHỦ TỊCH"),
    AuthorityLevel.PRIME_MINISTER: ("THỦ TƯỚNG CHÍNH PHỦ", "THỦ TƯỚNG"),
    AuthorityLevel.STATE_PRESIDENT: ("CHỦ TỊCH NƯỚC", "CHỦ TỊCH NƯỚC"),
}
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")


@dataclass(frozen=True)
class Awardee:
    """A nominee as the papers show it."""

    kind: NomineeKind
    name: str
    unit_name: str  # the collective itself, the person's unit, the household's village
    proposing_unit: str
    form_name: str
    achievements: str
    position: str | None = None


@dataclass(frozen=True)
class Issue:
    """Who the papers come from and when: the province (its name as registered), the day."""

    province: str  # e.g. "Tỉnh Quảng Bình"
    day: date
    level: AuthorityLevel
    year: int

    @property
    def place(self) -> str:
        name = self.province
        for prefix in ("Tỉnh ", "Thành phố ", "tỉnh "):
            if name.startswith(prefix):
                return name[len(prefix):]
        return name

    def issuer(self) -> tuple[str, str]:
        body, title = ISSUER[self.level]
        return body.format(province=self.province.upper()), title


# --------------------------------------------------------------------------- templates


def check_template(kind: PaperKind, text: str) -> None:
    """Refuse (422, naming ``text``) a template that is not one (a lone ``$``) or that names
    a placeholder this kind of paper does not fill."""
    template = string.Template(text)
    if not template.is_valid():
        raise RuleBroken("text", "a $ must start a placeholder such as ${year} (or be written "
                                 "$$) / dấu $ phải mở đầu một trường như ${year} (hoặc viết $$)")
    unknown = sorted(set(template.get_identifiers()) - set(PLACEHOLDERS[kind]))
    if unknown:
        known = ", ".join("${" + p + "}" for p in PLACEHOLDERS[kind])
        names = ", ".join("${" + u + "}" for u in unknown)
        raise RuleBroken("text", f"unknown placeholder {names}: a {kind.value} knows {known} / "
                                 f"trường không có: {names}; mẫu này có {known}")


def fill(text: str, values: Mapping[str, object]) -> list[str]:
    """The template's paragraphs with its placeholders filled (checked when saved), in NFC."""
    filled = string.Template(text).substitute({k: str(v) for k, v in values.items()})
    return [unicodedata.normalize("NFC", line) for line in filled.splitlines() if line.strip()]


def form_names(awardees: Sequence[Awardee]) -> str:
    names = list(dict.fromkeys(a.form_name for a in awardees))
    return ", ".join(names) if names else "(không có)"


# --------------------------------------------------------------------------- Word


def _document() -> DocxDocument:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)
    return doc


def _line(target: DocxDocument | _Cell, text: str, *, bold: bool = False,
          italic: bool = False, size: int | None = None,
          align: WD_ALIGN_PARAGRAPH | None = WD_ALIGN_PARAGRAPH.CENTER) -> None:
    p = target.add_paragraph()
    p.alignment = align
    run = p.add_run(text)
    run.bold, run.italic = bold, italic
    if size:
        run.font.size = Pt(size)


def _cell(cell: _Cell, lines: Iterable[tuple[str, bool, bool]],
          align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER) -> None:
    """Lines of (text, bold, italic) in a cell, its first empty paragraph reused."""
    first = True
    for text, bold, italic in lines:
        p = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        p.alignment = align
        run = p.add_run(text)
        run.bold, run.italic = bold, italic


def _heading(doc: DocxDocument, parent: str, body: str, number: str, issue: Issue) -> None:
    """Decree 30's first block: the issuing body and the number on the left, the national
    motto and the place and date on the right."""
    table = doc.add_table(rows=1, cols=2)
    left, right = table.rows[0].cells
    _cell(left, [(parent, False, False), (body, True, False), ("", False, False),
                 (f"Số: ……/{number}", False, False)])
    _cell(right, [(MOTTO[0], True, False), (MOTTO[1], True, False), ("", False, False),
                  (f"{issue.place}, ngày …… tháng …… năm {issue.day.year}", False, True)])


def _signature(doc: DocxDocument, recipients: Sequence[str], title: str,
               above: str | None = None) -> None:
    table = doc.add_table(rows=1, cols=2)
    left, right = table.rows[0].cells
    _cell(left, [("Nơi nhận:", True, True), *((r, False, False) for r in recipients)],
          WD_ALIGN_PARAGRAPH.LEFT)
    _cell(right, [*(((above, True, False),) if above else ()), (title, True, False),
                  ("(Ký, ghi rõ họ tên, đóng dấu)", False, True)])


def _list_table(doc: DocxDocument, awardees: Sequence[Awardee], *, grouped: bool,
                with_form: bool) -> None:
    """The awardees as a table: STT, name, unit (and form), achievements; grouped as
    collectives, individuals, households (a merged row naming each group) when ``grouped``."""
    headers = ["STT", "Tên tập thể, cá nhân, hộ gia đình", "Đơn vị",
               *(["Hình thức"] if with_form else []), "Thành tích tóm tắt"]
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        _cell(cell, [(header, True, False)])
    groups = ([(label, [a for a in awardees if a.kind is kind]) for kind, label in GROUPS]
              if grouped else [("", list(awardees))])
    shown = 0
    for label, members in groups:
        if not members:
            continue
        if label:
            row = table.add_row().cells
            merged = row[0].merge(row[-1])
            _cell(merged, [(f"{ROMAN[shown]}. {label}", True, False)], WD_ALIGN_PARAGRAPH.LEFT)
            shown += 1
        for i, a in enumerate(members, 1):
            name = f"{a.position} {a.name}" if a.position and a.kind is NomineeKind.PERSON \
                else a.name
            values = [str(i), name, a.unit_name, *([a.form_name] if with_form else []),
                      a.achievements]
            for cell, value in zip(table.add_row().cells, values, strict=True):
                _cell(cell, [(value, False, False)], WD_ALIGN_PARAGRAPH.LEFT)


def _bytes(doc: DocxDocument) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def proposal_docx(issue: Issue, awardees: Sequence[Awardee], text: str) -> bytes:
    """The Board's proposal to the chairman (tờ trình) listing the awardees it proposes."""
    doc = _document()
    forms = form_names(awardees)
    _heading(doc, f"ỦY BAN NHÂN DÂN {issue.province.upper()}", "BAN THI ĐUA – KHEN THƯỞNG",
             "TTr-BTĐKT", issue)
    _line(doc, "TỜ TRÌNH", bold=True, size=14)
    _line(doc, f"Về việc đề nghị tặng {forms} năm {issue.year}", bold=True)
    _line(doc, f"Kính gửi: {LEVEL_LABELS[issue.level]}.")
    values = _values(issue, forms, len(awardees))
    for paragraph in fill(text, values):
        _line(doc, paragraph, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _line(doc, f"DANH SÁCH ĐỀ NGHỊ TẶNG {forms.upper()} NĂM {issue.year}", bold=True)
    _list_table(doc, awardees, grouped=True, with_form=len({a.form_name for a in awardees}) > 1)
    _signature(doc, ["- Như trên;", "- Lưu: VT, BTĐKT."], "TRƯỞNG BAN")
    return _bytes(doc)


def decision_docx(issue: Issue, awardees: Sequence[Awardee], text: str) -> bytes:
    """The draft decision (quyết định) with its annex of awardees grouped as collectives,
    individuals and households."""
    doc = _document()
    forms = form_names(awardees)
    body, title = issue.issuer()
    symbol = "QĐ-TTg" if issue.level is AuthorityLevel.PRIME_MINISTER else "QĐ-UBND"
    _heading(doc, "", body, symbol, issue)
    _line(doc, "QUYẾT ĐỊNH", bold=True, size=14)
    _line(doc, f"Về việc tặng {forms}", bold=True)
    _line(doc, f"{title} {body}" if title != body else title, bold=True)
    for basis in ("Căn cứ Luật Tổ chức chính quyền địa phương;",
                  "Căn cứ Luật Thi đua, khen thưởng và các văn bản hướng dẫn thi hành;",
                  "Xét đề nghị của Trưởng Ban Thi đua – Khen thưởng tại Tờ trình số "
                  "……/TTr-BTĐKT.",):
        _line(doc, basis, italic=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _line(doc, "QUYẾT ĐỊNH:", bold=True)
    for paragraph in fill(text, _values(issue, forms, len(awardees))):
        _line(doc, paragraph, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _signature(doc, ["- Như Điều 3;", "- Ban Thi đua – Khen thưởng;", "- Lưu: VT."], title)
    doc.add_page_break()  # type: ignore[no-untyped-call]
    _line(doc, "DANH SÁCH", bold=True, size=14)
    _line(doc, f"Tặng {forms} năm {issue.year}", bold=True)
    _line(doc, "(Kèm theo Quyết định số ……/QĐ ngày …… tháng …… năm "
               f"{issue.day.year} của {LEVEL_LABELS[issue.level]})", italic=True)
    _list_table(doc, awardees, grouped=True, with_form=len({a.form_name for a in awardees}) > 1)
    return _bytes(doc)


def _values(issue: Issue, forms: str, count: int) -> dict[str, object]:
    return {"year": issue.year, "form_name": forms, "authority": LEVEL_LABELS[issue.level],
            "count": count, "province": issue.province}


# --------------------------------------------------------------------------- PDF


@dataclass(frozen=True)
class Signed:
    """The decision the certificates carry."""

    number: str
    signed_on: date
    signer: str
    level: AuthorityLevel


@cache
def _fonts() -> tuple[str, str]:
    """DejaVu Serif (regular, bold), which has the Vietnamese letters, from matplotlib."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont("DejaVuSerif", str(folder / "DejaVuSerif.ttf")))
    pdfmetrics.registerFont(TTFont("DejaVuSerif-Bold", str(folder / "DejaVuSerif-Bold.ttf")))
    return "DejaVuSerif", "DejaVuSerif-Bold"


def certificates_pdf(issue: Issue, signed: Signed, awardees: Sequence[Awardee],
                     text: str) -> bytes:
    """One page per awardee: who grants it, the form's name, the awardee and their unit, the
    wording (the template) with the achievements, the decision's number and date, the
    signer."""
    regular, bold = _fonts()
    width, height = landscape(A4)
    out = io.BytesIO()
    pdf = Canvas(out, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(f"{signed.number} — {len(awardees)}")
    pdf.setAuthor(issue.issuer()[0])
    body, title = issue.issuer()
    for a in awardees:
        pdf.setLineWidth(3)
        pdf.rect(28, 28, width - 56, height - 56)
        pdf.setLineWidth(1)
        pdf.rect(38, 38, width - 76, height - 76)
        y = height - 85
        for line, font, size in ((MOTTO[0], bold, 13), (MOTTO[1], bold, 12),
                                 (f"{title} {body}" if title != body else title, bold, 15),
                                 ("TẶNG", bold, 15)):
            pdf.setFont(font, size)
            pdf.drawCentredString(width / 2, y, line)
            y -= size + 12
        pdf.setFont(bold, 26)
        pdf.drawCentredString(width / 2, y - 10, a.form_name.upper())
        y -= 60
        pdf.setFont(bold, 20)
        shown = f"{a.position} {a.name}" if a.position and a.kind is NomineeKind.PERSON \
            else a.name
        pdf.drawCentredString(width / 2, y, shown)
        y -= 24
        pdf.setFont(regular, 13)
        if a.unit_name != a.name:
            pdf.drawCentredString(width / 2, y, a.unit_name)
            y -= 26
        values = {"year": issue.year, "form_name": a.form_name, "nominee_name": a.name,
                  "unit_name": a.unit_name, "achievements": a.achievements,
                  "decision_number": signed.number,
                  "signed_on": signed.signed_on.strftime("%d/%m/%Y"), "signer": signed.signer,
                  "province": issue.province}
        for paragraph in fill(text, values):
            for piece in simpleSplit(paragraph, regular, 13, width - 200)[:4]:
                pdf.drawCentredString(width / 2, y, piece)
                y -= 18
        pdf.setFont(regular, 11)
        pdf.drawString(70, 110, f"Quyết định số: {signed.number}")
        pdf.drawString(70, 94, f"Ngày {signed.signed_on.strftime('%d/%m/%Y')}")
        pdf.setFont(regular, 12)
        day = signed.signed_on
        pdf.drawCentredString(width - 220, 140, f"{issue.place}, ngày {day.day:02d} tháng "
                                                f"{day.month:02d} năm {day.year}")
        pdf.setFont(bold, 13)
        pdf.drawCentredString(width - 220, 122, title)
        pdf.drawCentredString(width - 220, 70, signed.signer)
        pdf.showPage()
    pdf.save()
    return out.getvalue()
