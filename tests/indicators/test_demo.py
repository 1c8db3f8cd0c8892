"""The synthetic demo reports agree with the known facts."""

from __future__ import annotations

import pytest

from chungtay_common.poverty import ESCAPED, FELL_BACK, HOUSEHOLDS, NEAR_POOR, NEWLY_POOR, POOR
from services.indicators import demo, import_service
from services.indicators.imports import parse_number
from tests.conftest import REPO

UNITS = REPO / "services" / "registration" / "data" / "quang_binh_units_2020.csv"
TARGETS = REPO / "services" / "indicators" / "data" / "quang_binh_targets_2017.csv"


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(demo.communes_from_csv(UNITS.read_text(encoding="utf-8")))


def rate(values: dict[str, int]) -> float:
    return values[POOR] / values[HOUSEHOLDS] * 100


def province(data: demo.DemoData, year: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in data.reports:
        if r.kind == "district" and r.year == year:
            for k, v in r.values.items():
                out[k] = out.get(k, 0) + v
    return out


def test_deterministic_and_complete(data: demo.DemoData) -> None:
    again = demo.generate(demo.communes_from_csv(UNITS.read_text(encoding="utf-8")))
    assert again.reports == data.reports
    assert len(data.reports) == (159 + 8) * 5
    assert all(set(r.values) == set(demo.ENTERED) for r in data.reports)


def test_tuyen_hoa_2019(data: demo.DemoData) -> None:
    v = data.of("453", 2019).values
    assert v[POOR] == 2332
    assert round(rate(v), 2) == 9.51


def test_province_households_and_2018_rate(data: demo.DemoData) -> None:
    households = [province(data, y)[HOUSEHOLDS] for y in demo.YEARS]
    assert all(240_000 <= h <= 257_000 for h in households)
    assert households == sorted(households)
    assert 5.5 <= rate(province(data, 2018)) <= 6.5


def test_districts_are_sums_of_communes(data: demo.DemoData) -> None:
    communes = demo.communes_from_csv(UNITS.read_text(encoding="utf-8"))
    members = [c.code for c in communes if c.district_code == "452"]
    for year in demo.YEARS:
        total = sum(data.of(c, year).values[POOR] for c in members)
        assert data.of("452", year).values[POOR] == total


def test_balance_holds_for_most(data: demo.DemoData) -> None:
    checked, off = 0, set()
    for r in data.reports:
        if r.kind != "commune" or r.year == demo.BASELINE:
            continue
        before = data.of(r.unit_code, r.year - 1).values[POOR]
        v = r.values
        checked += 1
        if before - v[ESCAPED] + v[NEWLY_POOR] + v[FELL_BACK] != v[POOR]:
            off.add((r.unit_code, r.year))
    assert 0 < len(off) <= 0.02 * checked
    assert data.balance_off <= off
    assert all(r.values[POOR] + r.values[NEAR_POOR] <= r.values[HOUSEHOLDS]
               for r in data.reports)


def test_2017_district_reductions_within_targets(data: demo.DemoData) -> None:
    # the file is written as the province's officers write: Vietnamese headers and numbers
    targets = import_service.parse_targets_csv(TARGETS.read_text(encoding="utf-8"))
    assert len(targets) == 8
    for t in targets:
        reduction = (rate(data.of(t.code, 2016).values) - rate(data.of(t.code, 2017).values))
        low, high = (parse_number(t.cells[c]) for c in ("reduction_pp_min", "reduction_pp_max"))
        assert isinstance(low, (int, float)) and isinstance(high, (int, float))
        assert low <= round(reduction, 2) <= high, (t.code, reduction)


def test_urban_low_mountain_high(data: demo.DemoData) -> None:
    assert rate(data.of("450", 2018).values) < 1.5  # Đồng Hới
    assert rate(data.of("452", 2018).values) > 10  # Minh Hóa


def test_late_and_missing(data: demo.DemoData) -> None:
    for year in demo.YEARS:
        of_year = [r for r in data.reports if r.year == year]
        missing = [r for r in of_year if r.submitted_at is None]
        late = [r for r in of_year if r.on_time is False]
        assert (not missing) if year == demo.BASELINE else 1 <= len(missing) <= 8
        assert 0 < len(late) < len(of_year) // 4
        assert not any(r.accepted for r in missing)


def test_import_file_is_parseable(data: demo.DemoData) -> None:
    from chungtay_common.http import CSV_TYPE
    from services.indicators.imports import parse

    rows = parse(demo.import_csv(data.reports), CSV_TYPE, max_bytes=5 * 2**20,
                 max_rows=50_000)
    submitted = [r for r in data.reports if r.submitted_at is not None]
    assert len(rows) == len(submitted) * len(demo.ENTERED)
