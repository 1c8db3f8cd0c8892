"""The shared writer of table files: CSV (UTF-8 with BOM, plain numbers) and XLSX (numeric
cells with their formats), every text neutralised, numbers left numbers."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from chungtay_common.downloads import content_disposition
from chungtay_common.tables import Column, FileFormat, Kind, Table, render, sheet_name

TABLE = Table(
    "Tổng hợp", "Tổng hợp năm 2027",
    [Column("Đơn vị"), Column("Số hộ nghèo", Kind.INTEGER),
     Column("Tỷ lệ hộ nghèo (%)", Kind.DECIMAL), Column("Đạt chỉ tiêu", Kind.YES_NO),
     Column("Ngày ký", Kind.DATE), Column("Nộp lúc", Kind.INSTANT)],
    [['=HYPERLINK("http://x","y")', 1200, 3.14159, True, date(2027, 1, 20),
      datetime(2027, 11, 19, 17, 30, tzinfo=UTC)],
     ["-1+2", -5, -0.5, False, None, None],
     ["Xã Hóa Hợp", 7.0, None, None, None, None]],
    [("Phong trào", "@chung tay"), ("Năm", 2027), ("Hình thức", "a\x19b\x1bc")])


def test_csv_is_utf8_with_a_bom_and_plain_numbers() -> None:
    content = render([TABLE], FileFormat.CSV)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").split("\r\n")
    assert lines[:5] == ["Tổng hợp năm 2027", "Phong trào,'@chung tay", "Năm,2027",
                         "Hình thức,a\x19b\x1bc", ""]
    assert lines[5].startswith("Đơn vị,Số hộ nghèo,Tỷ lệ hộ nghèo (%)")
    assert lines[6] == ('"\'=HYPERLINK(""http://x"",""y"")",1200,3.14,Có,2027-01-20,'
                        "2027-11-20T00:30:00+07:00")  # the instant in Vietnam's time
    assert lines[7] == "'-1+2,-5,-0.50,Không,,"  # a text neutralised, a number left a number
    assert lines[8] == "Xã Hóa Hợp,7,,,,"


def test_xlsx_holds_numbers_with_their_formats_and_neutralised_texts() -> None:
    ws = load_workbook(io.BytesIO(render([TABLE], FileFormat.XLSX)))["Tổng hợp"]
    assert TABLE.header_row == 6 and ws.freeze_panes == "A7"
    assert ws["A1"].value == "Tổng hợp năm 2027" and ws["B2"].value == "'@chung tay"
    assert ws["B4"].value == "a\ufffdb\ufffdc"  # XML holds no such control character
    row = [c for c in ws[7]]
    assert row[0].value == "'=HYPERLINK(\"http://x\",\"y\")" and row[0].data_type == "s"
    assert row[1].value == 1200 and row[1].number_format == "#,##0"
    assert row[2].value == pytest.approx(3.14159) and row[2].number_format == "0.00"
    assert row[3].value == "Có"
    assert row[4].value == datetime(2027, 1, 20) and row[4].number_format == "dd/mm/yyyy"
    assert row[5].value == datetime(2027, 11, 20, 0, 30)
    assert ws["A8"].value == "'-1+2" and ws["B8"].value == -5
    assert ws.auto_filter.ref == "A6:F9"


def test_one_table_per_csv_rows_as_wide_as_the_columns_and_safe_sheet_names() -> None:
    with pytest.raises(ValueError, match="one table"):
        render([TABLE, TABLE], FileFormat.CSV)
    with pytest.raises(ValueError, match="2 cells for 6 columns"):
        Table("x", "x", TABLE.columns, [["a", 1]])
    assert sheet_name("Tỉnh/Huyện: [năm] 2027 * một tên rất dài hơn ba mươi mốt") == (
        "Tỉnh Huyện   năm  2027   một tê")
    assert content_disposition("Tổng hợp tỉnh 2027.xlsx") == (
        'attachment; filename="Tong hop tinh 2027.xlsx"; '
        "filename*=UTF-8''T%E1%BB%95ng%20h%E1%BB%A3p%20t%E1%BB%89nh%202027.xlsx")
