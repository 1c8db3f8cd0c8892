"""The README's tables of who may call what, written from each service's own routes and access
table (``services/<service>/access.py``): ``python -m services.access_tables`` rewrites them
in README.md between their markers; a test checks that they are current."""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

from fastapi.routing import APIRoute

from chungtay_common.access import OPERATIONS, Access

SERVICES = ("registration", "indicators", "awards", "reporting")
BEGIN = "<!-- access tables: written by `python -m services.access_tables` -->"
END = "<!-- end of access tables -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def _rows(service: str) -> list[str]:
    routers = import_module(f"services.{service}.api").ROUTERS
    table: dict[str, Access] = {**OPERATIONS, **import_module(f"services.{service}.access").ACCESS}
    calls = [(route.name, f"{method} {route.path}") for router in routers
             for route in router.routes
             if isinstance(route, APIRoute) for method in sorted(route.methods or ())]
    calls += [(name, f"GET /{name}") for name in OPERATIONS]
    return [f"| `{service}.{name}` | `{call}` | {table[name].who()} | "
            f"{table[name].scope or '–'} |" for name, call in calls]


def readme_tables() -> str:
    parts = [BEGIN]
    for service in SERVICES:
        parts += ["", f"**{service}**", "",
                  "| operation | call | who may call | scope checked against |",
                  "|---|---|---|---|", *_rows(service)]
    return "\n".join([*parts, "", END])


def main() -> int:
    text = README.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.stderr.write(f"README.md has no markers; put these two lines where the tables "
                         f"go:\n{BEGIN}\n{END}\n")
        return 1
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + readme_tables() + tail, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
