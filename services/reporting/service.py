"""Use cases of the reporting service."""

from __future__ import annotations

from datetime import date

from chungtay_common import hierarchy
from chungtay_common.db import Conn
from services.reporting import domain
from services.reporting.schemas import UnitTree


async def unit_tree(conn: Conn, as_of: date) -> UnitTree:
    units = await hierarchy.active_on(conn, as_of)
    return UnitTree(as_of=as_of, totals=domain.totals(units), roots=domain.build_tree(units))
