from __future__ import annotations

import uuid

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.hierarchy import UnitOnDate
from services.reporting.domain import build_tree, totals


def _unit(kind: UnitKind, name: str, parent: UnitOnDate | None) -> UnitOnDate:
    return UnitOnDate(unit_id=uuid.uuid4(), kind=kind, code=None, name=name, subkind=None,
                      parent_id=parent.unit_id if parent else None)


def test_each_node_counts_the_units_of_each_kind_below_it() -> None:
    province = _unit(UnitKind.PROVINCE, "Tỉnh Quảng Bình", None)
    d1 = _unit(UnitKind.DISTRICT, "Huyện Minh Hóa", province)
    d2 = _unit(UnitKind.DISTRICT, "Huyện Tuyên Hóa", province)
    agency = _unit(UnitKind.AGENCY, "Sở Lao động", province)
    communes = [_unit(UnitKind.COMMUNE, f"Xã {i}", d1) for i in range(3)]
    village = _unit(UnitKind.VILLAGE, "Thôn 1", communes[0])
    units = [province, d1, d2, agency, *communes, village]
    [root] = build_tree(units)
    assert root.below == {UnitKind.DISTRICT: 2, UnitKind.AGENCY: 1, UnitKind.COMMUNE: 3,
                          UnitKind.VILLAGE: 1}
    minh_hoa = next(c for c in root.children if c.unit_id == d1.unit_id)
    assert minh_hoa.below == {UnitKind.COMMUNE: 3, UnitKind.VILLAGE: 1}
    tuyen_hoa = next(c for c in root.children if c.unit_id == d2.unit_id)
    assert tuyen_hoa.below == {} and tuyen_hoa.children == []
    assert totals(units) == {UnitKind.PROVINCE: 1, UnitKind.DISTRICT: 2, UnitKind.AGENCY: 1,
                             UnitKind.COMMUNE: 3, UnitKind.VILLAGE: 1}


def test_a_unit_whose_parent_is_not_there_that_day_is_a_root() -> None:
    gone = _unit(UnitKind.DISTRICT, "Huyện cũ", None)
    commune = _unit(UnitKind.COMMUNE, "Xã mồ côi", gone)
    roots = build_tree([commune])
    assert [r.unit_id for r in roots] == [commune.unit_id]
