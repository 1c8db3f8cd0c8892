"""SQL of the exports: the Vietnamese names of the indicators (the catalogue as the views hold
it), for the files' column headers."""

from __future__ import annotations

from chungtay_common.db import Conn


async def summed_indicator_names(conn: Conn) -> dict[str, tuple[str, bool]]:
    """Each indicator summed above a unit: its Vietnamese name and whether it is retired."""
    rows = await conn.fetch(
        "SELECT code, name_vi, retired FROM indicators"
        " WHERE aggregation = 'sum' AND NOT derived ORDER BY code")
    return {r["code"]: (r["name_vi"], r["retired"]) for r in rows}
