"""Commands of the reporting service: ``python -m services.reporting rebuild``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from services.reporting.service import rebuild
from services.reporting.settings import ReportingSettings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.reporting")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rebuild", help="replay every topic into fresh views and swap them in")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        outcome = asyncio.run(rebuild.run(ReportingSettings()))
    except rebuild.RebuildRunning as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    assert outcome is not None
    sys.stdout.write(f"rebuilt the views from {outcome.events} events ({outcome.applied} "
                     f"applied) in {outcome.seconds:.1f} s: "
                     f"{outcome.events_per_second:,.0f} events/s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
