"""The options of a `make bench` run (``deploy/bench/perf.py --help``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    rounds: int  # each scenario's figures are the median of this many rounds
    seconds: float  # how long each load round lasts (ingest, queries, freshness)
    events: int  # events on the topics for the rebuild
    rebuild_rounds: int  # a rebuild of a million events takes minutes: its own count
    scale: float  # the national data set's size (1.0: 63 provinces, about 10,000 communes)
    connections: int  # wrk's concurrent connections
    rate: int  # reports per second of the freshness stream
    compare: Path | None  # another checkout, measured alternately beside this one
