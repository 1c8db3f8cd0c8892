"""Small helpers the tests share: reading metrics, walking trees, building CSV files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.registration.service import IMPORT_COLUMNS


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` (with the given labels) on the service's /metrics."""
    text = (await client.get("/metrics")).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                total += sample.value
    return total


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node["children"])


def find(tree: dict[str, Any], unit_id: str) -> dict[str, Any] | None:
    return next((n for n in walk(tree["roots"]) if n["unit_id"] == unit_id), None)


def units_csv(province_code: str, districts: int, communes_per_district: int,
              code: Iterator[str]) -> tuple[str, int]:
    """A file in the national list's format with fresh codes; returns it and its unit count."""
    tag = uuid.uuid4().hex[:6]
    lines = [",".join(IMPORT_COLUMNS)]
    for d in range(districts):
        district_code = next(code)
        for c in range(communes_per_district):
            lines.append(",".join([
                province_code, f"Tỉnh Thử {tag}", district_code, f"Huyện Thử {tag} {d}",
                next(code), f"Xã Thử {tag} {d}-{c}", "xa",
            ]))
    return "\n".join(lines) + "\n", 1 + districts + districts * communes_per_district
