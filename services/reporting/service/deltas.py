"""Keeping the rollups by difference: a commune's new or corrected report adds what it changed
to each rollup above it, instead of summing the whole subtree again.

The live consumer's batches use it for report submissions (``updates.refreshes_batched``);
what it cannot prove equal to a recomputation is left to one (``updates.refresh``), which
runs after it and overwrites what it touches:
- a unit that is not a commune (only communes are summed);
- a unit whose ancestry changed in the years the change reaches (its year, the one before
  for the reduction, the one after whose reduction compares with it): the rollups it left or
  joined are recomputed;
- the same unit's report of an adjacent year changed in the same batch (the reduction pairs
  them);
- a correction that reports other indicators than the version it replaces (a sum could lose
  an indicator no report holds any more);
- any figure that is not an integer, in the reports or the rollups: integers add exactly in
  any order, so a rollup kept by difference equals the sum over its subtree, while decimal
  figures would differ from a recomputation in the last digit;
- a rollup row that is not there.
Everything else of a rollup (its hierarchy day, due date, expected count) does not move with a
report: it changes with unit events and campaigns, which recompute.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from chungtay_common.contracts.indicators import Figures
from chungtay_common.db import Conn
from services.reporting import domain, repository
from services.reporting import metrics as m

ACCEPTED = "accepted"
RollupKey = tuple[uuid.UUID, int, uuid.UUID]  # campaign, year, unit


@dataclass(frozen=True)
class Change:
    """A fact as a batch left it and as it was before (``old_values`` None: a new report)."""

    campaign_id: uuid.UUID
    unit_id: uuid.UUID
    year: int
    kind: str | None
    values: Mapping[str, Any]
    figures: str
    first_submitted_at: datetime
    state: str
    old_values: Mapping[str, Any] | None
    old_figures: str | None
    old_first_submitted_at: datetime | None
    old_state: str | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Change:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    @property
    def new(self) -> bool:
        return self.old_values is None


class Ancestry(Protocol):
    async def __call__(self, conn: Conn, keys: Sequence[tuple[uuid.UUID, int, int]]
                       ) -> list[repository.RootsOver]: ...


def _integers(values: Mapping[str, Any] | None, codes: Collection[str]) -> bool:
    return values is None or all(type(v) is int for c, v in values.items() if c in codes)


def _codes(values: Mapping[str, Any], summable: Collection[str]) -> set[str]:
    return {c for c in values if c in summable}


def _add(into: dict[str, int], values: Mapping[str, Any], summable: Collection[str],
         sign: int = 1) -> None:
    for code, value in values.items():
        if code in summable:
            into[code] = into.get(code, 0) + sign * value


def _punctuality(first: datetime, due: datetime) -> str:
    return "on_time" if first < due else "late"


def _on_its_year(row: dict[str, Any], c: Change, before: Mapping[str, Any] | None,
                 summable: Collection[str], counted: bool) -> None:
    """The change in the rollup of its own year; ``before``: the unit's report of the year
    before (the reduction compares the units that reported in both); ``counted``: the unit is
    of a kind expected to report (compliance counts)."""
    row["reports"] += int(c.new)
    row["official"] += (int(c.figures == Figures.OFFICIAL.value)
                        - int(c.old_figures == Figures.OFFICIAL.value))
    _add(row["sums"], c.values, summable)
    if c.old_values is not None:
        _add(row["sums"], c.old_values, summable, -1)
    if before is not None:
        row["both_reports"] += int(c.new)
        _add(row["both_now"], c.values, summable)
        if c.old_values is not None:
            _add(row["both_now"], c.old_values, summable, -1)
        else:
            _add(row["both_before"], before, summable)
    if counted:
        row[_punctuality(c.first_submitted_at, row["due_at"])] += 1
        if c.old_first_submitted_at is not None:
            row[_punctuality(c.old_first_submitted_at, row["due_at"])] -= 1
        row["accepted"] += int(c.state == ACCEPTED) - int(c.old_state == ACCEPTED)


def _on_next_year(row: dict[str, Any], c: Change, after: Mapping[str, Any],
                  summable: Collection[str]) -> None:
    """The change in the rollup of the next year, where the unit reported too (``after``):
    the reduction there compares with this year's figures."""
    _add(row["both_before"], c.values, summable)
    if c.old_values is not None:
        _add(row["both_before"], c.old_values, summable, -1)
    else:
        row["both_reports"] += 1
        _add(row["both_now"], after, summable)


def _integral(row: Mapping[str, Any]) -> bool:
    return all(type(v) is int for part in ("sums", "both_now", "both_before")
               for v in row[part].values())


async def apply(conn: Conn, changes: Sequence[Change], ancestry: Ancestry,
                summable: Collection[str]) -> list[Change]:
    """Add the changes to the rollups above them (``summable``: the indicators summed);
    returns those left to a recomputation."""
    if not changes:
        return []
    changed = {(c.campaign_id, c.unit_id, c.year) for c in changes}
    rest: list[Change] = []
    candidates: list[Change] = []
    for c in changes:
        adjacent = ((c.campaign_id, c.unit_id, c.year - 1) in changed
                    or (c.campaign_id, c.unit_id, c.year + 1) in changed)
        if (c.kind != domain.SUMMED_KIND.value or adjacent
                or not _integers(c.values, summable) or not _integers(c.old_values, summable)
                or (c.old_values is not None
                    and _codes(c.old_values, summable) != _codes(c.values, summable))):
            rest.append(c)
        else:
            candidates.append(c)
    if not candidates:
        m.ROLLUP_CHANGES.labels("recomputed").inc(len(rest))
        return rest
    over = await ancestry(conn, [(c.unit_id, c.year - 1, c.year + 1) for c in candidates])
    neighbours = await repository.values_of(
        conn, [(c.campaign_id, c.unit_id, y) for c in candidates for y in (c.year - 1,
                                                                          c.year + 1)])
    wanted = {(c.campaign_id, y, root) for c, o in zip(candidates, over, strict=True)
              if o.stable for root in o.roots for y in (c.year, c.year + 1)}
    rows = {key: row for key, row in (await repository.rollups_at(conn, wanted)).items()
            if _integral(row)}
    kinds = await repository.participating_kinds(conn, {c.campaign_id for c in candidates})
    touched: dict[RollupKey, dict[str, Any]] = {}
    for c, o in zip(candidates, over, strict=True):
        before = neighbours.get((c.campaign_id, c.unit_id, c.year - 1))
        after = neighbours.get((c.campaign_id, c.unit_id, c.year + 1))
        here = [(c.campaign_id, c.year, root) for root in o.roots]
        there = ([(c.campaign_id, c.year + 1, root) for root in o.roots]
                 if after is not None else [])
        if (not o.stable or not _integers(before, summable) or not _integers(after, summable)
                or any(key not in rows for key in [*here, *there])):
            rest.append(c)
            continue
        counted = c.kind in kinds.get(c.campaign_id, ())
        for key in here:
            _on_its_year(touched.setdefault(key, rows[key]), c, before, summable, counted)
        for key in there:
            assert after is not None
            _on_next_year(touched.setdefault(key, rows[key]), c, after, summable)
    await repository.save_rollups(conn, list(touched.values()))
    m.ROLLUP_CHANGES.labels("difference").inc(len(changes) - len(rest))
    m.ROLLUP_CHANGES.labels("recomputed").inc(len(rest))
    return rest


def recomputed(changes: Sequence[Change]) -> Sequence[Change]:
    """Changes left to a recomputation as a whole (a unit event in the batch), counted."""
    m.ROLLUP_CHANGES.labels("recomputed").inc(len(changes))
    return changes


def keys_of(changes: Iterable[Change]) -> list[tuple[uuid.UUID, uuid.UUID, int, int]]:
    """What a recomputation of the changes refreshes: (campaign, unit, first year, last)."""
    return [(c.campaign_id, c.unit_id, c.year, c.year + 1) for c in changes]
