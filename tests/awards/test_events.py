"""Every event the awards service publishes reaches the real broker through its outbox, keyed
by its subject, and matches the committed JSON Schema of its type (docs/events/)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from chungtay_common.contracts.awards import NominationReviewed, NominationReviewedV2
from chungtay_common.events import parse_event
from chungtay_common.topics import topic_name
from services.awards.service import SEED_FORMS
from tests.awards.conftest import DECISION, Flow, Json, Tokens, World, awards_settings
from tests.conftest import REPO, TestStack
from tests.support import eventually, ok

SCHEMAS = REPO / "docs" / "events"
TYPES = {"enrollment.registered", "nomination.submitted", "nomination.reviewed",
         "nomination.appraised", "nomination.approved", "nomination.rejected",
         "nomination.returned", "nomination.forwarded", "award.revoked", "award_rule.changed"}
PM = "thu_su_kien_thu_tuong"


def validator(event_type: str, version: int) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{event_type}.v{version}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


async def _every_kind_of_event(awards: httpx.AsyncClient, tokens: Tokens, flow: Flow,
                               world: World) -> Json:
    """Take nominations through every kind of step; return the one approved then revoked."""
    year = 2025  # a year of its own: the API tests set 2024's registration window
    ok(await awards.put(f"/v1/enrollment-windows/{year}", headers=tokens.board,
                        json={"closes_on": (date.today() + timedelta(days=7)).isoformat()}))
    person = flow.person()
    ok(await awards.post("/v1/enrollments", headers=tokens.reporter(world.commune), json={
        "unit_id": str(world.commune), "year": year,
        "items": [{"form_code": "lao_dong_tien_tien", "nominee": person}]}), 201)
    ok(await awards.post("/v1/forms", headers=tokens.board, json={
        "code": PM, "name_vi": "Bằng khen Thủ tướng (sự kiện)", "category": "commendation",
        "for_whom": "individual", "authority_level": "prime_minister",
        "rule": {"type": "no_award_within", "years": 1}}), 201)
    ok(await awards.put(f"/v1/forms/{PM}/rule", headers=tokens.board,
                        json={"rule": {"type": "no_award_within", "years": 2}}))

    approved = await flow.to(await flow.nominate("lao_dong_tien_tien", person, year=year),
                             "appraised")
    approved = await flow.take(approved, "approve", tokens.chairman(world.district_a),
                               DECISION)
    await flow.take(approved, "revoke", tokens.chairman(world.district_a),
                    {"reason": "Khai man", "decision": DECISION})
    rejected = await flow.to(await flow.nominate("lao_dong_tien_tien", flow.person()),
                             "reviewed")
    await flow.take(rejected, "reject", tokens.board, {"reason": "Không đạt"})
    returned = await flow.submit(await flow.nominate("lao_dong_tien_tien", flow.person()))
    await flow.take(returned, "return", tokens.council, {"reason": "Bổ sung"})
    forwarded = await flow.to(await flow.nominate(PM, flow.person()), "appraised")
    await flow.take(forwarded, "forward", tokens.board, {})
    return approved


async def test_published_events_match_their_committed_schemas(
    stack: TestStack, awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
    awards_db: asyncpg.Connection,
) -> None:
    revoked_nomination = await _every_kind_of_event(awards, tokens, flow, world)
    # everything this run's service wrote to its outbox (the API tests' events too)
    async for attempt in eventually(20):
        with attempt:
            pending = await awards_db.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert pending == 0
    rows = await awards_db.fetch("SELECT event_id, key, event_type FROM outbox")
    expected = {r["event_id"]: r for r in rows}
    assert {r["event_type"] for r in rows} == TYPES

    topic = topic_name("awards", stack.namespace)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=awards_settings(stack).kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    seen: dict[uuid.UUID, dict[str, Any]] = {}
    validators: dict[tuple[str, int], Draft202012Validator] = {}
    try:
        async with asyncio.timeout(30):
            while not set(expected) <= set(seen):
                batches = await consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for msg in messages:
                        body = json.loads(msg.value)
                        key = (body["event_type"], body["schema_version"])
                        if key not in validators:
                            validators[key] = validator(*key)
                        errors = [e.message for e in validators[key].iter_errors(body)]
                        assert errors == [], (body["event_type"], errors)
                        assert msg.key.decode() == body["subject_id"]
                        seen[uuid.UUID(body["event_id"])] = body
    finally:
        await consumer.stop()

    for event_id, row in expected.items():
        body = seen[event_id]
        assert body["event_type"] == row["event_type"] and body["subject_id"] == row["key"]
        assert body["producer"] == "awards"
    types = {b["event_type"] for b in seen.values()}
    assert types >= TYPES
    # the events carry what a subscriber needs
    by_type: dict[str, list[dict[str, Any]]] = {}
    for b in seen.values():
        by_type.setdefault(b["event_type"], []).append(b)
    assert {f["payload"]["authority_level"] for f in by_type["nomination.forwarded"]} == {
        "prime_minister"}
    [revoked] = [r for r in by_type["award.revoked"]
                 if r["payload"]["nomination_id"] == revoked_nomination["nomination_id"]]
    assert revoked["subject_id"] == revoked_nomination["nominee"]["nominee_id"]
    assert revoked["payload"]["reason"] == "Khai man"
    assert revoked["actor"]["subject"] == f"chairman-{world.district_a}"
    # the review says it all: the council's membership and whether it voted by secret
    # ballot (nomination.reviewed v2, validated above against its committed schema)
    reviewed = [b for b in by_type["nomination.reviewed"] if uuid.UUID(b["event_id"]) in expected]
    assert reviewed and {b["schema_version"] for b in reviewed} == {2}
    assert all(r["payload"]["members"] >= r["payload"]["votes_for"]
               and r["payload"]["secret_ballot"] in (True, False) for r in reviewed)
    appraised = by_type["nomination.appraised"]
    assert all(a["payload"]["results"] and a["payload"]["rule_version"] >= 1
               for a in appraised)
    rule_changes = [b["payload"] for b in by_type["award_rule.changed"]
                    if b["payload"]["form_code"] == PM]
    assert [c["version"] for c in rule_changes] == [1, 2]
    # the seeded catalogue announced each form's first rule
    seeded = {b["payload"]["form_code"] for b in by_type["award_rule.changed"]
              if b["actor"]["subject"] == "system"}
    # (by code: the indicators tests put rules of their own forms on this run's awards topic)
    assert seeded >= {form.code for form, _ in SEED_FORMS}


def _reviewed(version: int, extra: dict[str, Any]) -> bytes:
    nominee = {"kind": "person", "nominee_id": str(uuid.uuid4()), "unit_id": str(uuid.uuid4()),
               "name": "Trần Thị Hoa"}
    return json.dumps({
        "event_id": str(uuid.uuid4()), "event_type": "nomination.reviewed",
        "schema_version": version, "occurred_at": "2026-01-05T08:00:00+00:00",
        "producer": "awards", "subject_id": nominee["nominee_id"],
        "correlation_id": str(uuid.uuid4()), "actor": {"subject": "council", "roles": []},
        "payload": {"nomination_id": str(uuid.uuid4()), "form_code": "lao_dong_tien_tien",
                    "year": 2025, "nominee": nominee, "proposing_unit_id": str(uuid.uuid4()),
                    "council_unit_id": str(uuid.uuid4()), "votes_for": 7, "votes_against": 1,
                    "votes_abstain": 1, **extra}}).encode()


def test_the_review_event_v2_carries_the_council_and_v1_stays_readable() -> None:
    v2 = parse_event(_reviewed(2, {"members": 9, "secret_ballot": True}))
    assert isinstance(v2.payload, NominationReviewedV2)
    assert (v2.payload.members, v2.payload.secret_ballot) == (9, True)
    # what the reporting service's handler of "nomination.reviewed" reads is there
    assert isinstance(v2.payload, NominationReviewed)
    v1 = parse_event(_reviewed(1, {}))
    assert type(v1.payload) is NominationReviewed
    errors = list(validator("nomination.reviewed", 2).iter_errors(json.loads(
        _reviewed(2, {"members": 9, "secret_ballot": False}))))
    assert errors == []
    assert list(validator("nomination.reviewed", 2).iter_errors(json.loads(_reviewed(2, {}))))
