"""Pure rules of services/registration/domain.py: no database, no broker."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date

import pytest

from chungtay_common.contracts.registration import UnitKind, UnitVersion
from chungtay_common.errors import from_refusal
from chungtay_common.refusals import RuleBroken, StateConflict
from services.registration import domain

DONG_HOI = "Đồng Hới"
PARENT = uuid.uuid4()


def field_of(exc: RuleBroken) -> str:
    assert exc.field and exc.message, exc
    return exc.field


def version(start: str, end: str | None = None, name: str = "Xã Thử",
            parent: uuid.UUID | None = PARENT) -> UnitVersion:
    return UnitVersion(valid_from=date.fromisoformat(start),
                       valid_to=date.fromisoformat(end) if end else None,
                       code="9000001", name=name, subkind="xa", parent_id=parent)


# ---------------------------------------------------------------------------------------------
# names


def test_check_name_accepts_nfc() -> None:
    name = unicodedata.normalize("NFC", f"Thành phố {DONG_HOI}")
    assert domain.check_name(name) == name


def test_check_name_gives_a_decomposed_name_in_nfc() -> None:
    nfd = unicodedata.normalize("NFD", DONG_HOI)
    assert nfd != DONG_HOI  # really decomposed
    assert domain.check_name(nfd) == DONG_HOI


def test_check_name_drops_zero_width_characters() -> None:
    assert domain.check_name("Đồng\u200b Hới\ufeff") == DONG_HOI


def test_check_name_reports_the_field_it_is_given() -> None:
    with pytest.raises(RuleBroken) as info:
        domain.check_name("Đồng\u202eHới", field="successor.name")
    assert field_of(info.value) == "successor.name"
    assert "bidirectional" in info.value.message
    assert "chiều viết" in getattr(info.value.message, "vi", "")


@pytest.mark.parametrize("name", [" Đồng Hới", "Đồng Hới ", "Đồng  Hới", "Đồng\tHới", "   "])
def test_check_name_refuses_stray_blanks(name: str) -> None:
    with pytest.raises(RuleBroken) as info:
        domain.check_name(name)
    assert field_of(info.value) == "name"
    assert "blank" in info.value.message


@pytest.mark.parametrize("name", ["Đồng\x00Hới", "Đồng Hới\x7f", "Đồng\u2066Hới", "Xã\x1bA",
                                  "Đồng\u00adHới"])
def test_check_name_refuses_control_characters(name: str) -> None:
    with pytest.raises(RuleBroken) as info:
        domain.check_name(name)
    assert field_of(info.value) == "name"
    assert "control" in info.value.message


# ---------------------------------------------------------------------------------------------
# folding for search


def test_fold_strips_diacritics_and_case() -> None:
    assert domain.fold(DONG_HOI) == "dong hoi"
    assert domain.fold("ĐỒNG HỚI") == "dong hoi"
    assert domain.fold(unicodedata.normalize("NFD", DONG_HOI)) == "dong hoi"


def test_folded_full_name_contains_folded_query() -> None:
    assert domain.fold("dong hoi") in domain.fold(f"Thành phố {DONG_HOI}")
    assert domain.fold("Dong  Hoi") in domain.fold(f"Thành phố {DONG_HOI}")
    assert domain.fold("dong ha") not in domain.fold(f"Thành phố {DONG_HOI}")


# ---------------------------------------------------------------------------------------------
# parent kinds


@pytest.mark.parametrize(("kind", "parent"), [
    (UnitKind.COMMUNE, UnitKind.DISTRICT),
    (UnitKind.COMMUNE, UnitKind.PROVINCE),  # since 2025-07-01 there are no districts
    (UnitKind.DISTRICT, UnitKind.PROVINCE),
    (UnitKind.VILLAGE, UnitKind.COMMUNE),
    (UnitKind.MASS_ORG, UnitKind.COMMUNE),
    (UnitKind.AGENCY, UnitKind.PROVINCE),
])
def test_parent_kind_allowed(kind: UnitKind, parent: UnitKind) -> None:
    domain.check_parent_kind(kind, parent)


def test_province_without_parent_is_fine() -> None:
    domain.check_parent_kind(UnitKind.PROVINCE, None)


@pytest.mark.parametrize(("kind", "parent"), [
    (UnitKind.COMMUNE, UnitKind.VILLAGE),
    (UnitKind.COMMUNE, UnitKind.COMMUNE),
    (UnitKind.VILLAGE, UnitKind.DISTRICT),
    (UnitKind.DISTRICT, UnitKind.DISTRICT),
])
def test_parent_kind_refused(kind: UnitKind, parent: UnitKind) -> None:
    with pytest.raises(RuleBroken) as info:
        domain.check_parent_kind(kind, parent)
    assert field_of(info.value) == "parent_id"
    assert f"cannot sit under a {parent}" in info.value.message


def test_province_with_a_parent_is_refused() -> None:
    with pytest.raises(RuleBroken) as info:
        domain.check_parent_kind(UnitKind.PROVINCE, UnitKind.PROVINCE)
    assert field_of(info.value) == "parent_id"
    assert "has no parent" in info.value.message


@pytest.mark.parametrize("kind", [UnitKind.DISTRICT, UnitKind.COMMUNE, UnitKind.VILLAGE])
def test_unit_without_its_parent_is_refused(kind: UnitKind) -> None:
    with pytest.raises(RuleBroken) as info:
        domain.check_parent_kind(kind, None)
    assert field_of(info.value) == "parent_id"
    assert "needs a parent" in info.value.message


def test_subkind_and_code() -> None:
    domain.check_subkind(UnitKind.DISTRICT, "thi_xa")
    domain.check_subkind(UnitKind.DISTRICT, None)
    with pytest.raises(RuleBroken) as info:
        domain.check_subkind(UnitKind.DISTRICT, "phuong")
    assert field_of(info.value) == "subkind"
    domain.check_code(UnitKind.VILLAGE, None)
    with pytest.raises(RuleBroken) as info:
        domain.check_code(UnitKind.COMMUNE, None)
    assert field_of(info.value) == "code"


# ---------------------------------------------------------------------------------------------
# periods


def test_check_period() -> None:
    domain.check_period(date(2020, 1, 1), None)
    domain.check_period(date(2020, 1, 1), date(2020, 1, 2))
    for end in (date(2020, 1, 1), date(2019, 12, 31)):
        with pytest.raises(RuleBroken) as info:
            domain.check_period(date(2020, 1, 1), end)
        assert field_of(info.value) == "valid_to"


def test_period_covers() -> None:
    closed = domain.Period(date(2017, 1, 1), date(2020, 1, 1))
    assert closed.covers(date(2017, 1, 1), date(2020, 1, 1))
    assert closed.covers(date(2018, 5, 1), date(2019, 1, 1))
    assert not closed.covers(date(2016, 12, 31), date(2019, 1, 1))  # starts before
    assert not closed.covers(date(2018, 1, 1), date(2020, 1, 2))  # ends after
    assert not closed.covers(date(2018, 1, 1), None)  # open end outlives it
    open_ = domain.Period(date(2017, 1, 1), None)
    assert open_.covers(date(2017, 1, 1), None)
    assert open_.covers(date(2030, 1, 1), date(2031, 1, 1))
    assert not open_.covers(date(2016, 1, 1), None)


def test_lifetime_spans_all_versions() -> None:
    versions = [version("2017-01-01", "2019-01-01"), version("2019-01-01", "2020-01-01")]
    assert domain.lifetime(versions) == domain.Period(date(2017, 1, 1), date(2020, 1, 1))
    assert domain.lifetime([version("2017-01-01")]) == domain.Period(date(2017, 1, 1), None)


def test_version_on() -> None:
    a, b = version("2017-01-01", "2019-01-01", "A"), version("2019-01-01", "2020-01-01", "B")
    assert domain.version_on([a, b], date(2016, 12, 31)) is None
    assert domain.version_on([a, b], date(2017, 1, 1)) == a
    assert domain.version_on([a, b], date(2018, 12, 31)) == a
    assert domain.version_on([a, b], date(2019, 1, 1)) == b
    assert domain.version_on([a, b], date(2020, 1, 1)) is None  # valid_to is exclusive


# ---------------------------------------------------------------------------------------------
# changes from a date


def test_change_in_the_middle_splits_the_latest_version() -> None:
    old = version("2017-01-01", name="Xã Cũ")
    after = domain.change_from([old], date(2019, 7, 1), name="Xã Mới")
    assert after == [
        version("2017-01-01", "2019-07-01", name="Xã Cũ"),
        version("2019-07-01", name="Xã Mới"),
    ]


def test_change_keeps_earlier_versions_and_the_end_date() -> None:
    first = version("2010-01-01", "2017-01-01", name="Xã Một")
    last = version("2017-01-01", "2025-07-01", name="Xã Hai")
    after = domain.change_from([first, last], date(2020, 1, 1), name="Xã Ba")
    assert after == [
        first,
        version("2017-01-01", "2020-01-01", name="Xã Hai"),
        version("2020-01-01", "2025-07-01", name="Xã Ba"),
    ]


def test_change_on_the_first_day_replaces_the_version() -> None:
    first = version("2010-01-01", "2017-01-01", name="Xã Một")
    last = version("2017-01-01", name="Xã Hai")
    new_parent = uuid.uuid4()
    after = domain.change_from([first, last], date(2017, 1, 1), parent_id=new_parent)
    assert after == [first, version("2017-01-01", name="Xã Hai", parent=new_parent)]


def test_change_before_the_latest_version_is_invalid() -> None:
    versions = [version("2010-01-01", "2017-01-01"), version("2017-01-01", name="Xã Hai")]
    with pytest.raises(RuleBroken) as info:
        domain.change_from(versions, date(2016, 6, 1), name="Xã Ba")
    assert field_of(info.value) == "effective_date"
    assert from_refusal(info.value).status_code == 422


def test_change_after_close_conflicts() -> None:
    versions = [version("2017-01-01", "2020-01-01")]
    for day in (date(2020, 1, 1), date(2021, 1, 1)):
        with pytest.raises(StateConflict) as info:
            domain.change_from(versions, day, name="Xã Ba")
        assert "no longer exists" in info.value.message
        assert from_refusal(info.value).status_code == 409


def test_change_that_changes_nothing_is_invalid() -> None:
    with pytest.raises(RuleBroken) as info:
        domain.change_from([version("2017-01-01", name="Xã Một")], date(2018, 1, 1),
                           name="Xã Một")
    assert field_of(info.value) == "effective_date"


def test_close_at() -> None:
    first = version("2010-01-01", "2017-01-01", name="Xã Một")
    last = version("2017-01-01", name="Xã Hai")
    assert domain.close_at([first, last], date(2019, 1, 1)) == [
        first, version("2017-01-01", "2019-01-01", name="Xã Hai"),
    ]
    # an earlier end date of a closed unit is still a change inside its latest version
    closed = [version("2017-01-01", "2020-01-01")]
    assert domain.close_at(closed, date(2019, 1, 1)) == [version("2017-01-01", "2019-01-01")]


def test_close_at_refuses_bad_dates() -> None:
    with pytest.raises(RuleBroken) as info:
        domain.close_at([version("2017-01-01")], date(2017, 1, 1))  # would leave nothing
    assert field_of(info.value) == "effective_date"
    with pytest.raises(StateConflict):
        domain.close_at([version("2017-01-01", "2020-01-01")], date(2020, 1, 1))


# ---------------------------------------------------------------------------------------------
# merges


def test_check_merge_accepts_merges() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    domain.check_merge([a, b], [UnitKind.COMMUNE] * 2, None, UnitKind.COMMUNE)
    domain.check_merge([a], [UnitKind.COMMUNE], c, UnitKind.COMMUNE)  # absorbed by c


@pytest.mark.parametrize(("case", "field"), [
    ("twice", "predecessor_ids"),
    ("self", "successor.unit_id"),
    ("alone", "predecessor_ids"),
    ("kinds", "predecessor_ids"),
])
def test_check_merge_refuses(case: str, field: str) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    commune = UnitKind.COMMUNE
    args: dict[str, tuple[list[uuid.UUID], list[UnitKind], uuid.UUID | None, UnitKind]] = {
        "twice": ([a, a], [commune, commune], None, commune),
        "self": ([a, b], [commune, commune], a, commune),
        "alone": ([a], [commune], None, commune),
        "kinds": ([a, b], [commune, UnitKind.VILLAGE], None, commune),
    }
    with pytest.raises(RuleBroken) as info:
        domain.check_merge(*args[case])
    assert field_of(info.value) == field


def test_check_merge_into_an_open_successor_only() -> None:
    domain.check_merge_into([version("2017-01-01")])
    with pytest.raises(RuleBroken) as info:
        domain.check_merge_into([version("2017-01-01", "2026-01-01")])
    assert field_of(info.value) == "successor.unit_id"
    assert "2026-01-01" in info.value.message


# ---------------------------------------------------------------------------------------------
# parents, closing and splits


def test_check_parent_covers() -> None:
    parent = [version("2017-01-01", "2019-01-01"), version("2019-01-01", "2020-01-01")]
    domain.check_parent_covers(parent, date(2017, 1, 1), date(2020, 1, 1))
    for start, end in ((date(2016, 12, 31), date(2018, 1, 1)), (date(2018, 1, 1), None),
                       (date(2018, 1, 1), date(2021, 1, 1))):
        with pytest.raises(RuleBroken) as info:
            domain.check_parent_covers(parent, start, end)
        assert field_of(info.value) == "parent_id"
        assert "does not cover" in info.value.message


def test_check_closable() -> None:
    domain.check_closable(0, date(2020, 1, 1))
    with pytest.raises(StateConflict) as info:
        domain.check_closable(2, date(2020, 1, 1))
    assert "2 child unit(s)" in info.value.message


def test_check_split_successor_and_kind() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    domain.check_split_successor(0, a, b)
    domain.check_split_kind(0, UnitKind.COMMUNE, UnitKind.COMMUNE)
    with pytest.raises(RuleBroken) as info:
        domain.check_split_successor(1, a, a)
    assert field_of(info.value) == "successors.1.unit_id"
    with pytest.raises(RuleBroken) as info:
        domain.check_split_kind(2, UnitKind.COMMUNE, UnitKind.VILLAGE)
    assert field_of(info.value) == "successors.2.kind"


def test_check_split_refuses_naming_the_field() -> None:
    s1, s2, c1, c2 = (uuid.uuid4() for _ in range(4))
    for successors, moves, field in (([s1, s1], [(c1, 0)], "successors"),
                                     ([s1, s2], [(c2, 0)], "children.0.unit_id"),
                                     ([s1, s2], [(c1, 2)], "children.0.successor"),
                                     ([s1, s2], [(c1, 1)], "children")):
        with pytest.raises(RuleBroken) as info:
            domain.check_split(successors, {c1} if field != "children" else {c1, c2}, moves,
                               closes_predecessor=True)
        assert field_of(info.value) == field, field


def test_check_split_lets_children_stay_when_the_unit_does() -> None:
    s1, c1, c2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    domain.check_split([s1], {c1, c2}, [(c1, 0)], closes_predecessor=False)
    domain.check_split([s1], {c1, c2}, [(c1, 0), (c2, 0)], closes_predecessor=True)
