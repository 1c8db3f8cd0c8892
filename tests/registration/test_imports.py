"""Files in the national list's format (services/registration/imports.py): no I/O."""

from __future__ import annotations

import uuid

import pytest

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import InvalidInput
from chungtay_common.refusals import RuleBroken
from services.registration.imports import (
    IMPORT_COLUMNS,
    PlannedUnit,
    at_row,
    check_registered,
    parse_units_csv,
)

HEADER = ",".join(IMPORT_COLUMNS)


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def problems(text: str, max_rows: int = 100) -> dict[str, str]:
    """Each problem of the file: its field (``row N: column``) and message."""
    with pytest.raises(InvalidInput) as info:
        parse_units_csv(text, max_rows)
    assert f"{len(info.value.errors)} problem(s)" in info.value.detail
    return {e.field: e.message for e in info.value.errors}


def test_rows_become_units_once_parents_first() -> None:
    text = "\ufeff" + csv_of(
        "44,Tỉnh Quảng Bình,450,Thành phố Đồng Hới,19111,Phường Hải Thành,phuong",
        ",,,,,,",  # a blank row is skipped
        "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,19174,Thị trấn Quy Đạt,thi_tran",
        "44,Tỉnh Quảng Bình,450,Thành phố Đồng Hới,19129,Xã Bảo Ninh,xa",
    )
    units = parse_units_csv(text, max_rows=10)
    assert [(u.kind, u.code, u.subkind, u.parent_code, u.row) for u in units] == [
        (UnitKind.PROVINCE, "44", "tinh", None, 2),
        (UnitKind.DISTRICT, "450", "thanh_pho", "44", 2),
        (UnitKind.DISTRICT, "452", "huyen", "44", 4),
        (UnitKind.COMMUNE, "19111", "phuong", "450", 2),
        (UnitKind.COMMUNE, "19174", "thi_tran", "452", 4),
        (UnitKind.COMMUNE, "19129", "xa", "450", 5),
    ]
    assert units[1].name == "Thành phố Đồng Hới" and units[1].column == "district_code"


def test_odd_codes_and_names_are_refused_naming_each() -> None:
    assert set(problems(csv_of(
        "44,Tỉnh Quảng Bình,²,Huyện Lạ,18901,Xã Một,xa",  # a Unicode digit, not 0-9
        "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa," + "9" * 21 + ",Xã Hai,xa",
        "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18907,Xã " + "A" * 200 + ",xa",
    ))) == {"row 2: district_code", "row 3: commune_code", "row 4: commune_name"}


def test_every_problem_of_every_row_is_listed() -> None:
    found = problems(csv_of(
        "44,Tỉnh Quảng Bình,452,Làng Lạ,18901,Xã  Một,xa",
        "44,Tỉnh Quảng Bình,452",
        "44,Tỉnh Quảng Bình,453,Huyện Khác,18901,Xã Một,lang",
    ))
    assert found == {
        "row 2: district_name": "cannot tell the district's subkind from 'Làng Lạ'",
        "row 2: commune_name": "must not have leading, trailing or repeated blanks",
        "row 3: row": "has 3 columns, expected 7",
        "row 4: commune_kind": "cannot tell the commune's subkind from 'lang'",
    }


def test_a_code_stands_for_one_unit() -> None:
    found = problems(csv_of(
        "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18901,Xã Một,xa",
        "44,Tỉnh Quảng Bình,452,Huyện Tuyên Hóa,18902,Xã Hai,xa",
    ))
    assert found == {"row 3: district_code": "code 452 stands for another unit on row 2"}


def test_header_and_size() -> None:
    with pytest.raises(RuleBroken) as info:
        parse_units_csv(csv_of(header=HEADER.replace("commune_kind", "loai")), 10)
    assert info.value.field == "header"
    row = "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18901,Xã Một,xa"
    assert len(parse_units_csv(csv_of(row, row), max_rows=2)) == 3
    with pytest.raises(RuleBroken) as info:
        parse_units_csv(csv_of(row, row, row), max_rows=2)
    assert info.value.field == "body" and "more than 2 rows" in info.value.message


def test_a_field_over_the_csv_limit_is_refused_naming_its_line() -> None:
    row = "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18901,Xã Một,xa"
    long = '44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18902,"' + "x" * 140_000 + '",xa'
    with pytest.raises(RuleBroken) as info:
        parse_units_csv(csv_of(row, long), 10)
    assert (info.value.field, info.value.message) == (
        "body", "line 3: a field is longer than 131072 characters")
    assert getattr(info.value.message, "vi", None) == "dòng 3: có ô dài hơn 131072 ký tự"
    with pytest.raises(RuleBroken) as info:  # in the header too
        parse_units_csv(csv_of(row, header='"' + "x" * 140_000 + '"'), 10)
    assert info.value.message == "line 1: a field is longer than 131072 characters"


def test_a_registered_code_must_be_the_same_unit() -> None:
    parent = uuid.uuid4()
    unit = PlannedUnit(5, "commune_code", UnitKind.COMMUNE, "18901", "Xã Một", "xa", "452")
    check_registered(unit, parent, "commune", "Xã Một", parent)
    for kind, name, registered_parent in (("commune", "Xã Khác", parent),
                                          ("village", "Xã Một", parent),
                                          ("commune", "Xã Một", uuid.uuid4())):
        with pytest.raises(InvalidInput) as info:
            check_registered(unit, parent, kind, name, registered_parent)
        [error] = info.value.errors
        assert error.field == "row 5: commune_code" and name in error.message


def test_at_row() -> None:
    refusal = at_row(7, RuleBroken("parent_id", "no unit"))
    assert (refusal.field, refusal.message) == ("row 7: parent_id", "no unit")
