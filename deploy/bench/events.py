"""Events of the national data set put straight on a run's topics, as the services publish them
(the contract models, the envelope of ``new_envelope``, the outbox relay's JSON, key and
header): the hierarchy's ``unit.registered``, the indicator catalogue, one campaign 2016–2020,
the national averages, then every commune's yearly ``report.submitted`` and corrections of them
(new versions) until the wanted number of events is reached. Used by the rebuild scenario."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from aiokafka import AIOKafkaProducer
from dataset import YEARS, Country, Report, Unit, unit_id_of
from harness import REPO
from pydantic import BaseModel

from chungtay_common.contracts import indicators as ind
from chungtay_common.contracts.registration import (
    UnitKind,
    UnitRegistered,
    UnitSnapshot,
    UnitVersion,
)
from chungtay_common.events import Actor, new_envelope
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name
from services.indicators import domain

CACHE = REPO / ".local" / "bench"
_HEAD = struct.Struct(">HHHI")  # sizes of a cached message's topic suffix, key, type, value
ADMIN = Actor(subject="bench-admin", roles=["admin"])
SYSTEM = Actor(subject="system", roles=["system"])
VALID_FROM = date(2016, 1, 1)
KINDS = {"tinh": UnitKind.PROVINCE, "huyen": UnitKind.DISTRICT, "thanh_pho": UnitKind.DISTRICT}
Message = tuple[str, str, str, bytes]  # topic, key, event type, value


@dataclass(frozen=True)
class Produced:
    events: int
    reports: int  # first submissions
    corrections: int
    bytes: int
    seconds: float


def campaign_id(country: Country) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"chungtay-bench-campaign-{country.seed}")


def _message(topic: str, producer: str, subject: object, actor: Actor, payload: BaseModel
             ) -> Message:
    env = new_envelope(payload=payload, producer=producer, subject_id=str(subject), actor=actor)
    # the outbox stores ``model_dump(mode="json")`` and the relay sends it as compact JSON
    body = env.model_dump(mode="json", serialize_as_any=True)
    return topic, env.subject_id, env.event_type, json.dumps(body, separators=(",", ":")).encode()


def _unit_registered(topic: str, unit: Unit, parent: Unit | None) -> Message:
    kind = KINDS.get(unit.subkind, UnitKind.COMMUNE)
    snap = UnitSnapshot(unit_id=unit.unit_id, kind=kind, revision=1, versions=[UnitVersion(
        valid_from=VALID_FROM, code=unit.code, name=unit.name, subkind=unit.subkind,
        parent_id=parent.unit_id if parent else None)])
    return _message(topic, "registration", unit.unit_id, ADMIN,
                    UnitRegistered(unit_id=unit.unit_id, units=[snap]))


def reference_events(country: Country, namespace: str) -> Iterator[Message]:
    """The hierarchy, the catalogue, the campaign and the national averages."""
    units = topic_name("registration", namespace)
    for p in country.provinces:
        yield _unit_registered(units, p.unit, None)
        districts = {d.code: d for d in p.districts}
        for d in p.districts:
            yield _unit_registered(units, d, p.unit)
        for c in p.communes:
            assert c.parent_code is not None
            yield _unit_registered(units, c, districts[c.parent_code])
    topic = topic_name("indicators", namespace)
    for indicator in domain.SEED_CATALOGUE:
        yield _message(topic, "indicators", indicator.code, SYSTEM, ind.IndicatorDefined(
            **{**asdict(indicator), "reported_by": list(indicator.reported_by)}))
    cid = campaign_id(country)
    yield _message(topic, "indicators", cid, ADMIN, ind.CampaignCreated(
        campaign_id=cid, code="bench-national", name="Chung tay vì người nghèo (bench)",
        first_year=YEARS[0], last_year=YEARS[-1], legal_basis=[],
        participating_kinds=[UnitKind.COMMUNE],
        cycles=[ind.ReportingCycle(year=y, due_at=due) for y, due in
                domain.cycles(YEARS[0], YEARS[-1], 11, 20)]))
    for i, year in enumerate(YEARS):
        yield _message(topic, "indicators", year, ADMIN, ind.NationalAverageSet(
            year=year, poor_rate_pct=round(9.9 - 1.6 * i, 2), source="bench (synthetic)"))


def submission(namespace: str, cid: uuid.UUID, unit_id: uuid.UUID, report: Report,
               version: int) -> Message:
    """``report`` submitted by its commune's clerk (``version`` > 1: a correction)."""
    due = domain.due_at(report.year)
    return _message(
        topic_name("indicators", namespace), "indicators", unit_id,
        Actor(subject=f"clerk-{report.unit_code}", roles=["reporter"]),
        ind.ReportSubmittedV2(
            report_id=uuid.uuid5(cid, f"{report.unit_code}-{report.year}"), campaign_id=cid,
            unit_id=unit_id, year=report.year, version=version, values=report.values,
            submitted_at=report.submitted_at, due_at=due,
            on_time=domain.is_on_time(report.submitted_at, due), resubmission=version > 1,
            warnings=[], figures=ind.Figures.ESTIMATED, status="submitted"))


def all_events(country: Country, namespace: str, total: int) -> Iterator[Message]:
    """The reference events, every report once, then corrections of random reports (each a
    new version of its unit-year) until ``total`` events."""
    n = 0
    for m in reference_events(country, namespace):
        n += 1
        yield m
    reports = [r for p in country.provinces for r in country.reports(p)]
    cid = campaign_id(country)
    versions = dict.fromkeys(((r.unit_code, r.year) for r in reports), 1)
    for r in reports:
        if n >= total:
            return
        n += 1
        yield submission(namespace, cid, unit_id_of(r.unit_code), r, 1)
    rng = random.Random(country.seed)
    while n < total:
        r = rng.choice(reports)
        key = (r.unit_code, r.year)
        versions[key] += 1
        values = dict(r.values)
        values["poor_households"] = max(0, values["poor_households"] + rng.randint(-3, 3))
        n += 1
        yield submission(namespace, cid, unit_id_of(r.unit_code),
                         Report(r.unit_code, r.year, values, r.submitted_at), versions[key])


def _fingerprint() -> str:
    """Of the code that shapes the events: a cache made by other code is not reused."""
    sources = sorted([*(REPO / "chungtay_common" / "contracts").glob("*.py"),
                      REPO / "chungtay_common" / "events.py",
                      REPO / "services" / "indicators" / "domain.py",
                      Path(__file__), Path(__file__).with_name("dataset.py")])
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]


def cached(country: Country, namespace: str, total: int) -> Iterator[Message]:
    """``all_events``, kept in .local/bench after the first run (building a million envelopes
    takes minutes; reading them back, seconds). The topics' namespace is not in the file."""
    fingerprint = _fingerprint()
    path = CACHE / f"events-{country.seed}-{len(country.communes)}-{total}-{fingerprint}.bin"
    if path.exists():
        with path.open("rb") as f:
            while head := f.read(_HEAD.size):
                sizes = _HEAD.unpack(head)
                suffix, key, event_type, value = (f.read(n) for n in sizes)
                yield (f"{namespace}.{suffix.decode()}", key.decode(), event_type.decode(),
                       value)
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob("events-*.bin"):
        if not old.stem.endswith(fingerprint):
            old.unlink()
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        for m in all_events(country, namespace, total):
            parts = (m[0].split(".", 1)[1].encode(), m[1].encode(), m[2].encode(), m[3])
            f.write(_HEAD.pack(*(len(x) for x in parts)) + b"".join(parts))
            yield m
    partial.rename(path)


async def produce(settings: ServiceSettings, country: Country, total: int) -> Produced:
    """Put ``total`` events of ``country`` on the topics of ``settings.topic_namespace``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks=1,
                                linger_ms=50, max_batch_size=512 * 1024,
                                compression_type=None, **settings.kafka_security())
    await producer.start()
    counts = {"events": 0, "bytes": 0, "reports": 0, "corrections": 0}
    try:
        pending: list[asyncio.Future[object]] = []
        for topic, key, event_type, value in cached(country, settings.topic_namespace, total):
            pending.append(await producer.send(topic, value=value, key=key.encode(),
                                               headers=[("event_type", event_type.encode())]))
            counts["events"] += 1
            counts["bytes"] += len(value)
            if event_type == "report.submitted":
                counts["reports" if b'"resubmission":false' in value else "corrections"] += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return Produced(counts["events"], counts["reports"], counts["corrections"], counts["bytes"],
                    loop.time() - started)
