"""SYNTHETIC demo reports 2016 (baseline) to 2020 for Quảng Bình's 8 districts and 159
communes. Pure and deterministic (seeded): no I/O.

The figures are invented. They are made consistent with the few public facts known
(DOMAIN.md, the 2017 district targets): about 240,000 households in 2016 rising slowly;
each district's 2017 reduction inside its real target range; about 6% poor province-wide in
2018; Tuyên Hóa at 9.51% (2,332 poor households) in 2019; Đồng Hới's wards low, Minh Hóa high.
Everything else (commune figures, flows, resources, who reported late or not at all) is
made up and must be presented as synthetic.

District figures are the sums of their communes. For most units poor(Y) = poor(Y−1) − escaped
+ newly poor + fell back exactly; a few commune reports are deliberately off so the balance
warning shows in the demo.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from chungtay_common.clock import VN
from chungtay_common.poverty import (
    ESCAPED,
    FELL_BACK,
    HOUSEHOLDS,
    NEAR_POOR,
    NEWLY_POOR,
    POOR,
    RESOURCES,
    RESOURCES_CREDIT,
    RESOURCES_SOCIAL,
    RESOURCES_STATE_BUDGET,
)
from services.indicators import domain

SYNTHETIC_NOTE = ("DỮ LIỆU GIẢ LẬP / SYNTHETIC DEMO DATA: số liệu minh họa, không phải số "
                  "liệu thật (invented figures, consistent with a few public facts only)")
YEARS = tuple(range(2016, 2021))
BASELINE = 2016
SEED = 20171016  # the date of Decision 3630/QĐ-UBND

HOUSES = "houses_built_or_repaired"
MODELS = "livelihood_models"
INITIATIVES = "initiatives"
TRAINED = "people_trained_or_employed"
ENTERED = (HOUSEHOLDS, POOR, NEAR_POOR, ESCAPED, NEWLY_POOR, FELL_BACK, *RESOURCES, HOUSES,
           MODELS, INITIATIVES, TRAINED)

# Per district: households in 2016 and the poor-household rate (%) of 2016..2020 (synthetic,
# except where a public fact pins it: the 2017 reductions sit inside the real target ranges,
# Tuyên Hóa 2019 is 9.51%).
_DISTRICTS: dict[str, tuple[int, tuple[float, ...]]] = {
    "450": (32_000, (1.30, 1.17, 0.85, 0.65, 0.50)),  # Đồng Hới: the provincial city
    "452": (13_000, (28.0, 21.2, 14.6, 11.0, 7.6)),  # Minh Hóa: mountains, the poorest
    "453": (23_900, (20.0, 15.3, 11.8, 9.51, 7.2)),  # Tuyên Hóa
    "454": (30_000, (12.4, 10.05, 7.0, 5.4, 4.0)),  # Quảng Trạch
    "455": (47_500, (11.0, 8.9, 5.9, 4.4, 3.2)),  # Bố Trạch
    "456": (26_200, (12.0, 9.65, 6.6, 5.0, 3.7)),  # Quảng Ninh
    "457": (40_400, (10.2, 8.1, 5.2, 3.9, 2.8)),  # Lệ Thủy
    "458": (27_600, (7.2, 5.55, 3.7, 2.8, 2.0)),  # Ba Đồn town
}
_GROWTH = 0.009  # households grow slowly (240,000 in 2016, about 257,000 in 2022)
# Tuyên Hóa 2019: 2,332 poor households at 9.51% (the published figures) pin its households.
_PINNED = {("453", 2019): (24_521, 2_332)}
_SUBKIND_POVERTY = {"phuong": (0.35, 0.65), "thi_tran": (0.55, 0.85), "xa": (0.8, 1.6)}


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    district_code: str
    district_name: str
    subkind: str  # phuong, xa, thi_tran


@dataclass(frozen=True)
class DemoReport:
    unit_code: str
    kind: str  # district or commune
    year: int
    values: dict[str, int]
    submitted_at: datetime | None  # None: the report is missing
    accepted: bool

    @property
    def on_time(self) -> bool | None:
        if self.submitted_at is None:
            return None
        return domain.is_on_time(self.submitted_at, domain.due_at(self.year))


@dataclass
class DemoData:
    reports: list[DemoReport]
    balance_off: set[tuple[str, int]] = field(default_factory=set)  # (commune code, year)

    def of(self, code: str, year: int) -> DemoReport:
        return next(r for r in self.reports if r.unit_code == code and r.year == year)


def communes_from_csv(text: str) -> list[Commune]:
    """The communes of the national list's file (the registration service's format)."""
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return [Commune(r["commune_code"], r["commune_name"], r["district_code"],
                    r["district_name"], r["commune_kind"]) for r in rows]


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integers proportional to ``weights`` that sum to ``total`` exactly (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[
            :total - sum(out)]:
        out[i] += 1
    return out


def generate(communes: Sequence[Commune], seed: int = SEED) -> DemoData:
    rng = random.Random(seed)
    by_district: dict[str, list[Commune]] = {}
    for c in sorted(communes, key=lambda c: c.code):
        by_district.setdefault(c.district_code, []).append(c)
    values: dict[tuple[str, int], dict[str, int]] = {}
    off: set[tuple[str, int]] = set()

    for d_code, members in sorted(by_district.items()):
        hh_2016, rates = _DISTRICTS[d_code]
        size = [rng.uniform(*{"phuong": (1500, 4000), "thi_tran": (1500, 3500)}.get(
            c.subkind, (800, 2500))) for c in members]
        mountain = d_code in ("452", "453")
        poverty = [rng.uniform(*((0.6, 1.5) if mountain and c.subkind == "xa"
                                 else _SUBKIND_POVERTY.get(c.subkind, (0.8, 1.6))))
                   for c in members]
        previous: list[int] | None = None
        for i, year in enumerate(YEARS):
            households, poor = _PINNED.get((d_code, year), (0, 0))
            if not households:
                households = round(hh_2016 * (1 + _GROWTH) ** i)
                poor = round(households * rates[i] / 100)
            hh = _apportion(households, [s * (1 + _GROWTH) ** i for s in size])
            weights = [h * f * rng.uniform(0.93, 1.07) for h, f in zip(hh, poverty, strict=True)]
            poor_c = _apportion(poor, weights)
            for j, c in enumerate(members):
                p = min(poor_c[j], int(hh[j] * 0.7))
                near_rate = min(0.2, (0.55 * p / hh[j]) + rng.uniform(0.03, 0.06))
                near = min(round(hh[j] * near_rate), hh[j] - p)
                before = previous[j] if previous is not None else round(p * rng.uniform(1.15, 1.3))
                newly = round(before * rng.uniform(0.02, 0.06))
                fell = round(before * rng.uniform(0.005, 0.02))
                escaped = before + newly + fell - p
                if escaped < 0:  # the commune's poor grew: more newly poor, nobody escaped
                    newly, escaped = newly - escaped, 0
                values[(c.code, year)] = {
                    HOUSEHOLDS: hh[j], POOR: p, NEAR_POOR: near, ESCAPED: escaped,
                    NEWLY_POOR: newly, FELL_BACK: fell,
                    RESOURCES_STATE_BUDGET: round(p * rng.uniform(3, 8) + rng.uniform(150, 400))
                    * 1_000_000,
                    RESOURCES_CREDIT: round(p * rng.uniform(15, 35)) * 1_000_000,
                    RESOURCES_SOCIAL: round(rng.uniform(40, 600)) * 1_000_000,
                    HOUSES: round(p * rng.uniform(0.01, 0.04)),
                    MODELS: rng.randint(0, 6), INITIATIVES: rng.randint(0, 4),
                    TRAINED: rng.randint(15, 160),
                }
            previous = [values[(c.code, year)][POOR] for c in members]

    # a few reports whose flows do not add up (a data-entry slip to be caught by the warning)
    codes = sorted(c.code for c in communes)
    for year in YEARS[1:]:
        for code in rng.sample(codes, 2):
            v = values[(code, year)]
            v[ESCAPED] += rng.choice((-1, 1)) * rng.randint(3, 9)
            v[ESCAPED] = max(v[ESCAPED], 0)
            off.add((code, year))

    reports: list[DemoReport] = []
    for year in YEARS:
        missing = set() if year == BASELINE else set(rng.sample(codes, rng.randint(3, 6)))
        for c in sorted(communes, key=lambda c: c.code):
            if c.code in missing:
                reports.append(DemoReport(c.code, "commune", year, values[(c.code, year)],
                                          None, False))
                continue
            late = rng.random() < 0.12
            reports.append(DemoReport(c.code, "commune", year, values[(c.code, year)],
                                      _submitted(rng, year, late),
                                      accepted=rng.random() < (0.85 if year == 2020 else 0.95)))
        for d_code, members in sorted(by_district.items()):
            summed = _sum(values[(c.code, year)] for c in members)
            late = rng.random() < 0.1
            reports.append(DemoReport(d_code, "district", year, summed,
                                      _submitted(rng, year, late, after_communes=True),
                                      accepted=year != 2020 or rng.random() < 0.6))
    return DemoData(reports, off & {(r.unit_code, r.year) for r in reports
                                    if r.submitted_at is not None})


def _sum(rows: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in rows:
        for k, n in v.items():
            out[k] = out.get(k, 0) + n
    return out


def _submitted(rng: random.Random, year: int, late: bool,
               after_communes: bool = False) -> datetime:
    due = domain.due_at(year)
    if late:
        day = due.date() + timedelta(days=rng.randint(1, 25))
    else:
        day = due.date() - timedelta(days=rng.randint(1, 5) if after_communes
                                     else rng.randint(2, 19))
    moment = time(rng.randint(7, 16), rng.choice((0, 15, 30, 45)))
    return datetime.combine(day, moment, tzinfo=VN)


def _when(d: date | datetime) -> str:
    return d.isoformat(timespec="minutes") if isinstance(d, datetime) else d.isoformat()


def import_csv(reports: Iterable[DemoReport], *, backfill: bool = True) -> bytes:
    """The reports as one import file. With ``backfill``, only the submitted ones, each with
    its historical submission time (``Ngày nộp``); without, every report's values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Năm", "Mã đơn vị", "Mã chỉ tiêu", "Giá trị"]
                    + (["Ngày nộp"] if backfill else []))
    for r in reports:
        if backfill and r.submitted_at is None:
            continue
        when = [_when(r.submitted_at)] if backfill and r.submitted_at else []
        for code in ENTERED:
            writer.writerow([r.year, r.unit_code, code, r.values[code], *when])
    return out.getvalue().encode("utf-8")
