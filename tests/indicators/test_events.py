"""Events on the real broker match their committed JSON Schemas (``docs/events/``): what the
indicators service publishes, and the registration events it consumes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from chungtay_common.auth import Role
from chungtay_common.contracts.awards import AwardRuleChanged
from chungtay_common.events import SYSTEM_ACTOR, new_envelope
from chungtay_common.topics import topic_name
from tests.conftest import REPO, TestStack
from tests.indicators.conftest import Tree
from tests.support import assert_problem, bearer, eventually, ok

Json = dict[str, Any]
SCHEMAS = REPO / "docs" / "events"


@cache
def validator(event_type: str, version: int = 1) -> Draft202012Validator:
    path = SCHEMAS / f"{event_type}.v{version}.schema.json"
    assert path.exists(), f"no committed schema for {event_type}"
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(event: Json) -> None:
    version = event.get("schema_version")
    errors = sorted(validator(event["event_type"], version if version in (1, 2) else 1)
                    .iter_errors(event), key=str)
    assert not errors, f"{event['event_type']}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


async def read_topic(stack: TestStack, owner: str, done: Callable[[list[Json]], bool],
                     seconds: float = 15) -> list[Json]:
    """Every message of the run's ``owner`` topic from the earliest offset, until ``done``."""
    seen: list[Json] = []
    consumer = AIOKafkaConsumer(
        topic_name(owner, stack.namespace),
        bootstrap_servers=stack.settings_env(owner).get("CHUNGTAY_KAFKA_BOOTSTRAP",
                                                        "127.0.0.1:19092"),
        group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        async for attempt in eventually(seconds):
            with attempt:
                batches = await consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for m in messages:
                        try:
                            event = json.loads(m.value)
                        except ValueError:  # another test's deliberately malformed message
                            continue
                        assert m.key.decode() == event["subject_id"]
                        seen.append(event)
                assert done(seen), sorted({e["event_type"] for e in seen})
    finally:
        await consumer.stop()
    return seen


VALUES = {"households_total": 1000, "poor_households": 100, "near_poor_households": 80,
          "escaped_poverty": 20, "newly_poor": 5, "fell_back_into_poverty": 2,
          "resources_state_budget_vnd": 1_500_000_000}


async def test_indicators_events_match_their_schemas(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, indicators_db: asyncpg.Connection,
) -> None:
    board = bearer(stack.token(Role.BOARD, unit=tree.province, sub="board"))
    commune = bearer(stack.token(Role.REPORTER, unit=tree.commune_a1, sub="commune"))
    district = bearer(stack.token(Role.REVIEWER, unit=tree.district_a, sub="district"))
    campaign = ok(await api.post("/v1/campaigns", headers=board, json={
        "code": f"ev-{uuid.uuid4().hex[:10]}", "name": "Chung tay vì người nghèo 2016-2020",
        "first_year": 2017, "last_year": 2017, "participating_kinds": ["commune"],
        "legal_basis": [{"number": "1258/QĐ-TTg", "issued_on": "2016-07-01",
                         "title": "Phong trào thi đua"}]}), 201)
    cid = campaign["campaign_id"]
    # as if the campaign had existed since before its 2017 due date, so that the due date's
    # passing sends report.overdue (a cycle already past at creation never does)
    await indicators_db.execute("UPDATE campaigns SET created_at = '2017-01-01T00:00:00Z'"
                                " WHERE campaign_id = $1", uuid.UUID(cid))
    code = f"t_{uuid.uuid4().hex[:10]}"
    ok(await api.post("/v1/indicators", headers=board, json={
        "code": code, "name_vi": "Chỉ tiêu thử", "name_en": "Test indicator",
        "unit_of_measure": "count", "reported_by": ["commune"]}))
    ok(await api.post(f"/v1/indicators/{code}/retire", headers=board))
    ok(await api.put(f"/v1/campaigns/{cid}/targets/2017/{tree.commune_a1}", headers=board,
                     json={"reduction_pp_min": 1.5, "households_out_min": 10}))
    year = 2000 + uuid.uuid4().int % 90
    ok(await api.put(f"/v1/national-averages/{year}", headers=board,
                     json={"poor_rate_pct": 8.23, "source": "MOLISA"}))
    path = f"/v1/campaigns/{cid}/reports/{tree.commune_a1}/2017"
    ok(await api.post(path + "/submit", headers=commune, json={"values": VALUES}))
    ok(await api.post(path + "/return", headers=district,
                      json={"reason": "Thiếu số liệu nguồn lực"}))
    corrected = {**VALUES, "resources_state_budget_vnd": 1_750_000_000}
    ok(await api.post(path + "/submit", headers=commune,
                      json={"values": corrected}))
    ok(await api.post(path + "/accept", headers=district))
    ok(await api.post(path + "/reopen", headers=board,
                      json={"reason": "Phúc tra"}))

    mine = {cid, code, str(year), str(tree.commune_a1)}

    def ours(e: Json) -> bool:
        p = e["payload"]
        return bool({e["subject_id"], str(p.get("campaign_id")), str(p.get("code"))} & mine)

    wanted = {"campaign.created", "indicator.defined", "target.set", "national_average.set",
              "report.submitted", "report.returned", "report.accepted", "report.reopened",
              "report.overdue"}

    communes = {str(tree.commune_a1), str(tree.commune_a2), str(tree.commune_b1)}

    def overdue(seen: list[Json]) -> list[str]:
        return [e["payload"]["unit_id"] for e in seen if e["event_type"] == "report.overdue"
                and e["payload"]["campaign_id"] == cid and e["payload"]["unit_id"] in communes]

    def complete(seen: list[Json]) -> bool:
        return ({e["event_type"] for e in seen if ours(e)} >= wanted
                and set(overdue(seen)) == communes)

    seen = await read_topic(stack, "indicators", complete)
    for event in seen:  # every message on the topic, ours or not, matches its schema
        check(event)
    got = [e for e in seen if ours(e)]
    by_type: dict[str, list[Json]] = {}
    for e in got:
        by_type.setdefault(e["event_type"], []).append(e)

    assert {e["payload"]["version"] for e in by_type["indicator.defined"]
            if e["payload"]["code"] == code} == {1, 2}
    submitted = [e["payload"] for e in by_type["report.submitted"]]
    assert [(p["version"], p["values"], p["resubmission"], p["on_time"]) for p in submitted] == [
        (1, VALUES, False, False), (3, corrected, True, False)]
    assert [e["payload"]["version"] for e in by_type["report.returned"]] == [2]
    assert by_type["report.returned"][0]["payload"]["reason"] == "Thiếu số liệu nguồn lực"
    assert [e["payload"]["accepted_by_unit_id"] for e in by_type["report.accepted"]] == [
        str(tree.district_a)]
    assert [e["payload"]["version"] for e in by_type["report.reopened"]] == [5]
    assert sorted(overdue(seen)) == sorted(communes)  # once each
    for e in got:
        if e["event_type"].startswith("report."):
            assert e["subject_id"] == e["payload"]["unit_id"]  # one unit's events keep order
    assert {e["actor"]["subject"] for e in by_type["report.submitted"]} == {"commune"}
    # the service's own events (the deadline's) are the system's
    assert {(e["actor"]["subject"], tuple(e["actor"]["roles"]))
            for e in by_type["report.overdue"]} == {("system", ("system",))}
    assert {e["producer"] for e in got} == {"indicators"}


@pytest.mark.parametrize("invalid", [
    {"payload": {"values": {"poor_households": "many"}}},
    {"schema_version": 2},
    {"payload": {"version": 0}},
])
def test_the_schemas_refuse_what_a_consumer_would_refuse(invalid: Json) -> None:
    """Each check above can fail: a schema refuses a malformed event."""
    event: Json = {
        "event_id": str(uuid.uuid4()), "event_type": "report.submitted", "schema_version": 1,
        "occurred_at": "2017-11-19T10:00:00+00:00", "producer": "indicators",
        "subject_id": "x", "correlation_id": str(uuid.uuid4()),
        "actor": {"subject": "a", "roles": ["reporter"]},
        "payload": {"report_id": str(uuid.uuid4()), "campaign_id": str(uuid.uuid4()),
                    "unit_id": str(uuid.uuid4()), "year": 2017, "version": 1,
                    "values": {"poor_households": 1}, "submitted_at": "2017-11-19T10:00:00Z",
                    "due_at": "2017-11-19T17:00:00Z", "on_time": True, "resubmission": False,
                    "warnings": []},
    }
    assert not list(validator("report.submitted").iter_errors(event)), "the sample is valid"
    broken = json.loads(json.dumps(event))
    for k, v in invalid.items():
        if isinstance(v, dict):
            broken[k].update(v)
        else:
            broken[k] = v
    with pytest.raises(AssertionError):
        check(broken)


async def test_registration_events_match_their_schemas(
    stack: TestStack, registration: httpx.AsyncClient, tree: Tree,
    unique_code: Callable[[], str],
) -> None:
    admin = bearer(stack.token(Role.ADMIN, sub="admin"))
    units = str(tree.commune_a1), str(tree.commune_a2), str(tree.commune_b1)
    ok(await registration.post(f"/v1/units/{units[0]}/rename", headers=admin,
                               json={"name": "Xã Hóa Hợp Mới", "effective_date": "2019-01-01"}))
    ok(await registration.post(f"/v1/units/{units[2]}/move", headers=admin,
                               json={"parent_id": str(tree.district_a),
                                     "effective_date": "2019-01-01"}))
    merged = ok(await registration.post("/v1/units/merge", headers=admin, json={
        "predecessor_ids": [units[0], units[1]], "effective_date": "2020-01-01",
        "successor": {"kind": "commune", "subkind": "xa", "code": unique_code(),
                      "name": "Xã Hợp Nhất", "parent_id": str(tree.district_a)}}))
    [successor] = [u["unit_id"] for u in merged["units"] if u["unit_id"] not in units]
    ok(await registration.post(f"/v1/units/{successor}/split", headers=admin, json={
        "effective_date": "2021-01-01", "close_predecessor": False,
        "successors": [{"kind": "commune", "subkind": "xa", "code": unique_code(),
                        "name": "Xã Tách Ra", "parent_id": str(tree.district_a)}]}))
    ok(await registration.post(f"/v1/units/{units[2]}/close", headers=admin,
                               json={"effective_date": "2022-01-01", "reason": "Giải thể"}))

    mine = {str(u) for u in tree.units} | {successor}
    wanted = {"unit.registered", "unit.renamed", "unit.moved", "unit.merged", "unit.split",
              "unit.closed"}

    def ours(e: Json) -> bool:
        units = e["payload"].get("units") or []
        return e.get("producer") == "registration" and bool(
            {s.get("unit_id") for s in units if isinstance(s, dict)} & mine)

    seen = await read_topic(
        stack, "registration",
        lambda seen: {e["event_type"] for e in seen if ours(e)} >= wanted)
    # every event the registration service published on the run's topic (other tests also put
    # deliberately invalid messages there, from other producers)
    for event in seen:
        if event.get("producer") == "registration":
            check(event)
    assert {e["event_type"] for e in seen if ours(e)} == wanted


async def test_an_award_rule_on_the_awards_topic_stops_the_retirement_of_what_it_reads(
        api: httpx.AsyncClient, stack: TestStack, indicators_db: asyncpg.Connection) -> None:
    board = bearer(stack.token(Role.BOARD, unit=uuid.uuid4(), sub="board"))
    code, form = f"t_{uuid.uuid4().hex[:10]}", f"t_{uuid.uuid4().hex[:8]}"
    ok(await api.post("/v1/indicators", headers=board, json={
        "code": code, "name_vi": "Chỉ tiêu thử", "name_en": "Test indicator",
        "unit_of_measure": "count", "reported_by": ["commune"]}))

    async def rule_changed(version: int, rule: Json) -> None:
        """``award_rule.changed`` as the awards service publishes it; consumed once the
        indicators service has recorded its version."""
        envelope = new_envelope(
            payload=AwardRuleChanged(form_code=form, version=version, rule=rule),
            producer="awards", subject_id=form, actor=SYSTEM_ACTOR)
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings_env("awards").get(
            "CHUNGTAY_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topic_name("awards", stack.namespace),
                envelope.model_dump_json(serialize_as_any=True).encode(), key=form.encode())
        finally:
            await producer.stop()
        async for attempt in eventually(30):
            with attempt:
                assert await indicators_db.fetchval(
                    "SELECT version FROM award_rule_indicators WHERE form_code = $1",
                    form) == version

    await rule_changed(1, {"type": "indicator_at_least", "indicator": code, "value": 1})
    r = await api.post(f"/v1/indicators/{code}/retire", headers=board)
    assert f"the current award rule of {form} reads it" in assert_problem(r, 409)["detail"]
    # the form's next rule no longer reads it: it may be retired
    await rule_changed(2, {"type": "report_on_time"})
    assert ok(await api.post(f"/v1/indicators/{code}/retire", headers=board))["retired"]
