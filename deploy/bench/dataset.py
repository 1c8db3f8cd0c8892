"""The national-size data set of `make bench`: the Quảng Bình hierarchy's shape scaled to the
country (about 63 provinces, 700 districts, 10,000 communes), 13 entered indicators, five years
(2016 baseline to 2020). Pure and deterministic (seeded): no I/O.

A province looks like Quảng Bình: 8 to 14 districts of 10 to 19 communes each (wards, towns and
rural communes), the names borrowed from Quảng Bình's list. ``scale`` keeps that shape and
changes only the number of provinces, so a province's or a district's file is as large at any
scale. The figures are SYNTHETIC, made like the demo's: households that grow slowly, a poverty
rate falling every year, flows (escaped, newly poor, fell back) that balance.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from chungtay_common.clock import VN
from chungtay_common.poverty import (
    ESCAPED,
    FELL_BACK,
    HOUSEHOLDS,
    NEAR_POOR,
    NEWLY_POOR,
    POOR,
    RESOURCES_CREDIT,
    RESOURCES_SOCIAL,
    RESOURCES_STATE_BUDGET,
)
from services.indicators import demo, domain

PROVINCES = 63
YEARS = demo.YEARS
ENTERED = demo.ENTERED
SEED = 20_171_016
QUANG_BINH = (Path(__file__).resolve().parents[2] / "services" / "registration" / "data"
              / "quang_binh_units_2020.csv")
# unit ids of the events put straight on the topics (the rebuild scenario): stable per code
ID_NAMESPACE = uuid.UUID("6c1b0f1e-3a55-4c8e-9b8e-2f4f8c0ab012")
# a commune's households in 2016, by kind (as the demo's)
_SIZE = {"phuong": (1500, 4000), "thi_tran": (1500, 3500), "xa": (800, 2500)}


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    subkind: str  # tinh; huyen, thanh_pho, thi_xa; phuong, thi_tran, xa
    parent_code: str | None

    @property
    def unit_id(self) -> uuid.UUID:
        return unit_id_of(self.code)


def unit_id_of(code: str) -> uuid.UUID:
    """The id a unit of the data set has in the events put straight on the topics."""
    return uuid.uuid5(ID_NAMESPACE, code)


@dataclass(frozen=True)
class Province:
    unit: Unit
    districts: tuple[Unit, ...]
    communes: tuple[Unit, ...]  # every district's, in district order

    def communes_of(self, district_code: str) -> list[Unit]:
        return [c for c in self.communes if c.parent_code == district_code]


@dataclass(frozen=True)
class Report:
    """A commune's yearly report: its 13 values and when it was submitted."""

    unit_code: str
    year: int
    values: dict[str, int]
    submitted_at: datetime


@dataclass(frozen=True)
class Country:
    provinces: tuple[Province, ...]
    seed: int

    @property
    def districts(self) -> list[Unit]:
        return [d for p in self.provinces for d in p.districts]

    @property
    def communes(self) -> list[Unit]:
        return [c for p in self.provinces for c in p.communes]

    def reports(self, province: Province, years: Iterable[int] = YEARS) -> list[Report]:
        """The province's commune reports of ``years`` (the same figures on every call)."""
        wanted = set(years)
        rng = random.Random(f"{self.seed}-{province.unit.code}")
        base_rate = rng.uniform(0.02, 0.28)  # the province's poverty rate of 2016
        fall = rng.uniform(0.12, 0.3)  # its yearly relative reduction
        out: list[Report] = []
        for c in province.communes:
            for year, values in zip(YEARS, _commune_figures(rng, c, base_rate, fall),
                                    strict=True):
                if year in wanted:
                    out.append(Report(c.code, year, values, _submitted(rng, year)))
        return out


def country(scale: float = 1.0, seed: int = SEED) -> Country:
    """About ``63 × scale`` provinces (at least one) shaped like Quảng Bình."""
    names = [(r["district_name"], r["commune_name"], r["commune_kind"])
             for r in csv.DictReader(io.StringIO(
                 QUANG_BINH.read_text(encoding="utf-8").lstrip("\ufeff")))]
    district_names = sorted({d for d, _, _ in names})
    rng = random.Random(seed)
    provinces: list[Province] = []
    n_districts = n_communes = 0
    for p in range(max(1, round(PROVINCES * scale))):
        province = Unit(f"{p + 1:02d}", f"Tỉnh Bench {p + 1:02d}", "tinh", None)
        districts: list[Unit] = []
        communes: list[Unit] = []
        for _ in range(rng.randint(8, 14)):
            n_districts += 1
            name = district_names[n_districts % len(district_names)]
            district = Unit(f"{n_districts:03d}", f"{name} {n_districts:03d}",
                            "thanh_pho" if name.startswith("Thành phố") else "huyen",
                            province.code)
            districts.append(district)
            for _ in range(rng.randint(10, 19)):
                n_communes += 1
                _, cname, kind = names[n_communes % len(names)]
                communes.append(Unit(f"{n_communes:05d}", f"{cname} {n_communes:05d}", kind,
                                     district.code))
        provinces.append(Province(province, tuple(districts), tuple(communes)))
    return Country(tuple(provinces), seed)


def _commune_figures(rng: random.Random, commune: Unit, base_rate: float, fall: float
                     ) -> Iterator[dict[str, int]]:
    households = rng.uniform(*_SIZE.get(commune.subkind, _SIZE["xa"]))
    rate = min(0.6, base_rate * rng.uniform(0.5, 1.6))
    before = round(households * rate * rng.uniform(1.15, 1.3))
    for i, _ in enumerate(YEARS):
        hh = round(households * 1.009 ** i)
        poor = min(round(hh * rate * (1 - fall) ** i), int(hh * 0.7))
        near = min(round(hh * min(0.2, 0.55 * poor / hh + rng.uniform(0.03, 0.06))), hh - poor)
        newly = round(before * rng.uniform(0.02, 0.06))
        fell = round(before * rng.uniform(0.005, 0.02))
        escaped = before + newly + fell - poor
        if escaped < 0:  # the commune's poor grew: more newly poor, nobody escaped
            newly, escaped = newly - escaped, 0
        yield {
            HOUSEHOLDS: hh, POOR: poor, NEAR_POOR: near, ESCAPED: escaped,
            NEWLY_POOR: newly, FELL_BACK: fell,
            RESOURCES_STATE_BUDGET: round(poor * rng.uniform(3, 8) + rng.uniform(150, 400))
            * 1_000_000,
            RESOURCES_CREDIT: round(poor * rng.uniform(15, 35)) * 1_000_000,
            RESOURCES_SOCIAL: round(rng.uniform(40, 600)) * 1_000_000,
            demo.HOUSES: round(poor * rng.uniform(0.01, 0.04)),
            demo.MODELS: rng.randint(0, 6), demo.INITIATIVES: rng.randint(0, 4),
            demo.TRAINED: rng.randint(15, 160),
        }
        before = poor


def _submitted(rng: random.Random, year: int) -> datetime:
    """On time mostly (a few days before 20 November), one in eight late."""
    due = domain.due_at(year)
    day = (due.date() + timedelta(days=rng.randint(1, 25)) if rng.random() < 0.12
           else due.date() - timedelta(days=rng.randint(2, 19)))
    return datetime.combine(day, time(rng.randint(7, 16), rng.choice((0, 15, 30, 45))),
                            tzinfo=VN)


def units_csv(province: Province) -> bytes:
    """The province's communes in the national list's format (the registration import)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["province_code", "province_name", "district_code", "district_name",
                     "commune_code", "commune_name", "commune_kind"])
    districts = {d.code: d for d in province.districts}
    for c in province.communes:
        assert c.parent_code is not None
        d = districts[c.parent_code]
        writer.writerow([province.unit.code, province.unit.name, d.code, d.name, c.code, c.name,
                         c.subkind])
    return out.getvalue().encode("utf-8")


def reports_csv(reports: Iterable[Report], *, backfill: bool) -> bytes:
    """The reports as one indicators import file; with ``backfill`` each carries its
    historical submission time (``Ngày nộp``, inside a data migration)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Năm", "Mã đơn vị", "Mã chỉ tiêu", "Giá trị"]
                    + (["Ngày nộp"] if backfill else []))
    for r in reports:
        when = [r.submitted_at.isoformat(timespec="minutes")] if backfill else []
        for code in ENTERED:
            writer.writerow([r.year, r.unit_code, code, r.values[code], *when])
    return out.getvalue().encode("utf-8")
