"""Scenario 2, bulk import: values per second of the indicators import (CSV, the reports
submitted) for one district's file and for one province's file, the 13 entered indicators of
2020 for each commune, on the national stack; a new campaign each round, so every round writes
new reports, each file timed once what was written before it (the campaign, one untimed import
of another province's district: ``warm_up``, the file before) is published and applied."""

from __future__ import annotations

import uuid
from typing import Any

from dataset import reports_csv
from figures import shown, spread
from harness import say
from national import YEAR, National, import_file, new_campaign, settled
from options import Options


def _district_file(nat: National, province_at: int) -> tuple[int, bytes]:
    province = nat.country.provinces[min(province_at, len(nat.country.provinces) - 1)]
    in_district = {c.code for c in province.communes_of(province.districts[0].code)}
    return len(in_district), reports_csv(
        [r for r in nat.country.reports(province, [YEAR]) if r.unit_code in in_district],
        backfill=False)


def files(nat: National) -> dict[str, bytes]:
    """A district's file and a province's file (of the second province: the first one's
    figures are read by the queries scenario)."""
    province = nat.country.provinces[min(1, len(nat.country.provinces) - 1)]
    communes, district = _district_file(nat, 1)
    return {f"district ({communes} communes)": district,
            f"province ({len(province.communes)} communes)": reports_csv(
                nat.country.reports(province, [YEAR]), backfill=False)}


def warm_up(nat: National) -> bytes:
    """A district of another province, imported untimed first into each round's campaign:
    what only a campaign's first import pays (its plan read, the statements prepared on the
    connection) is not counted against the files timed after it."""
    return _district_file(nat, 2)[1]


async def scenario(opts: Options, nat: National) -> dict[str, Any]:
    bodies = files(nat)
    runs: dict[str, list[tuple[int, int, float]]] = {name: [] for name in bodies}
    async with nat.client() as client:
        for i in range(opts.rounds):
            campaign = await new_campaign(client, nat.run, f"bench-import-{uuid.uuid4().hex[:8]}",
                                          [YEAR])
            # each import is timed on a quiet system, as the other scenarios are: not while
            # the new campaign's rollups are built, nor while the last import's reports are
            # published and applied to the views
            await settled(client, nat.run)
            await import_file(client, nat.run, campaign, warm_up(nat))
            for name, body in bodies.items():
                await settled(client, nat.run)
                runs[name].append(await import_file(client, nat.run, campaign, body))
                n, v, s = runs[name][-1]
                say(f"  round {i + 1}, {name}: {n} reports, {v:,} values in {s:.2f} s: "
                    f"{v / s:,.0f} values/s")
    out: dict[str, Any] = {}
    for name, rounds in runs.items():
        out[name] = {"reports": rounds[0][0], "values": rounds[0][1],
                     "seconds": spread([s for _, _, s in rounds]),
                     "values_per_second": spread([v / s for _, v, s in rounds])}
        say(f"  {name}: {shown(out[name]['values_per_second'])} values/s")
    return {"files": out}
