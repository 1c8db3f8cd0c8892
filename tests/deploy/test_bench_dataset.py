"""The national data set of `make bench` (deploy/bench/dataset.py): its size, its determinism,
figures that balance, and files within the services' import limits."""

from __future__ import annotations

import csv
import io
import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "bench"))

import dataset

from chungtay_common.poverty import ESCAPED, FELL_BACK, HOUSEHOLDS, NEWLY_POOR, POOR
from services.indicators.settings import IndicatorsSettings
from services.registration.settings import RegistrationSettings


@pytest.fixture(scope="module")
def country() -> dataset.Country:
    return dataset.country()


def test_the_country_has_the_national_size(country: dataset.Country) -> None:
    assert len(country.provinces) == 63
    assert 600 <= len(country.districts) <= 800
    assert 9_000 <= len(country.communes) <= 11_500
    assert len({u.code for u in (*country.districts, *country.communes)}) == \
        len(country.districts) + len(country.communes)


def test_the_same_seed_gives_the_same_figures(country: dataset.Country) -> None:
    again = dataset.country()
    p = country.provinces[5]
    assert again.provinces[5] == p
    assert again.reports(again.provinces[5]) == country.reports(p)
    assert dataset.country(seed=1).reports(dataset.country(seed=1).provinces[0]) != \
        country.reports(country.provinces[0])


def test_a_smaller_scale_keeps_the_shape_of_a_province() -> None:
    small = dataset.country(0.1)
    assert len(small.provinces) == 6
    assert small.provinces[0] == dataset.country().provinces[0]


def test_the_poor_households_balance_from_year_to_year(country: dataset.Country) -> None:
    reports = country.reports(country.provinces[0])
    by_unit: dict[str, list[dataset.Report]] = {}
    for r in reports:
        by_unit.setdefault(r.unit_code, []).append(r)
    for years in by_unit.values():
        assert [r.year for r in years] == list(dataset.YEARS)
        for before, now in itertools.pairwise(years):
            v = now.values
            assert v[POOR] == before.values[POOR] - v[ESCAPED] + v[NEWLY_POOR] + v[FELL_BACK]
            assert 0 <= v[POOR] <= v[HOUSEHOLDS]
            assert set(v) == set(dataset.ENTERED)


def test_every_province_file_fits_the_import_limits(country: dataset.Country) -> None:
    units_max = RegistrationSettings().import_max_rows
    values_max = IndicatorsSettings().import_max_rows
    values_bytes = IndicatorsSettings().import_max_bytes
    for p in country.provinces:
        rows = list(csv.DictReader(io.StringIO(dataset.units_csv(p).decode())))
        assert len(rows) == len(p.communes) <= units_max
        assert {r["district_code"] for r in rows} == {d.code for d in p.districts}
    biggest = max(country.provinces, key=lambda p: len(p.communes))
    body = dataset.reports_csv(country.reports(biggest), backfill=True)
    assert body.count(b"\n") - 1 == len(biggest.communes) * len(dataset.YEARS) * 13
    assert body.count(b"\n") - 1 <= values_max and len(body) <= values_bytes
