"""The awards API over HTTP on the real stack: catalogue and rule versions, registrations,
the nomination lifecycle by role and state, authority levels, facts from the indicators topic,
evidence and the lists."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from chungtay_common.events import Actor, new_envelope
from services.awards.consumers import on_report_submitted
from services.awards.domain import SEED_FORMS
from tests.awards.conftest import (
    DECISION,
    POOR_BEFORE,
    TARGET_PP,
    YEAR,
    Facts,
    Flow,
    Json,
    Tokens,
    World,
    awards_settings,
    eventually,
    json_codecs,
)
from tests.conftest import TestStack

LDTT = "lao_dong_tien_tien"  # individuals; the district chairman grants it
GKH = "giay_khen_chu_tich_huyen"  # collectives; district chairman; report on time + target
BKT = "bang_khen_chu_tich_tinh"  # collectives; provincial chairman
GDVH = "gia_dinh_van_hoa"  # households; commune chairman
PM = "thu_bang_khen_thu_tuong"  # added by the tests: individuals, the Prime Minister


@pytest.fixture(scope="session")
async def pm_form(awards: httpx.AsyncClient, tokens: Tokens) -> str:
    """A form above the province's authority, for individuals, that a fresh person meets."""
    r = await awards.post("/v1/forms", headers=tokens.board, json={
        "code": PM, "name_vi": "Bằng khen của Thủ tướng (thử)", "category": "commendation",
        "for_whom": "individual", "authority_level": "prime_minister",
        "rule": {"type": "no_award_within", "years": 1}})
    assert r.status_code == 201, r.text
    return PM


async def get(client: httpx.AsyncClient, tokens: Tokens, n: Json) -> Json:
    r = await client.get(f"/v1/nominations/{n['nomination_id']}", headers=tokens.board)
    assert r.status_code == 200, r.text
    result: Json = r.json()
    return result


# --------------------------------------------------------------------------- catalogue


async def test_catalogue_is_seeded_with_its_rules(awards: httpx.AsyncClient,
                                                  tokens: Tokens) -> None:
    r = await awards.get("/v1/forms", headers=tokens.reporter(tokens.world.commune))
    assert r.status_code == 200, r.text
    forms = {f["code"]: f for f in r.json()}
    seeded = {form.code: (form, rule) for form, rule in SEED_FORMS}
    assert len(seeded) == 15 and set(seeded) <= set(forms)
    for code, (form, rule) in seeded.items():
        got = forms[code]
        assert got["authority_level"] == form.authority_level.value
        assert got["rule_version"] == 1 and got["rule"] == rule
        assert got["above_province"] is (form.authority_level.value in (
            "prime_minister", "state_president"))
    assert forms["chien_si_thi_dua_cap_tinh"]["rule"] == SEED_FORMS[2][1]
    assert (await awards.get("/v1/forms")).status_code == 401


async def test_add_form(awards: httpx.AsyncClient, tokens: Tokens, pm_form: str) -> None:
    body = {"code": "thu_giay_khen_xa", "name_vi": "Giấy khen (thử)",
            "category": "commendation", "for_whom": "household",
            "authority_level": "commune_chairman",
            "rule": {"all": [{"type": "no_award_within", "years": 1}]}}
    r = await awards.post("/v1/forms", headers=tokens.reporter(tokens.world.commune),
                          json=body)
    assert r.status_code == 403, r.text
    r = await awards.post("/v1/forms", headers=tokens.board, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["rule_version"] == 1 and r.json()["above_province"] is False
    r = await awards.post("/v1/forms", headers=tokens.board, json=body)
    assert r.status_code == 409, r.text
    bad = {**body, "code": "thu_sai", "rule": {"type": "reduction_at_least"}}
    r = await awards.post("/v1/forms", headers=tokens.board, json=bad)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rule", r.text
    forms = {f["code"]: f for f in (await awards.get("/v1/forms",
                                                     headers=tokens.board)).json()}
    assert "thu_sai" not in forms
    assert forms[pm_form]["above_province"] is True


async def test_rule_change_is_versioned_and_nominations_keep_their_version(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, awards_db: asyncpg.Connection,
) -> None:
    code = "thu_lao_dong_gioi"
    r = await awards.post("/v1/forms", headers=tokens.board, json={
        "code": code, "name_vi": "Lao động giỏi (thử)", "category": "title",
        "for_whom": "individual", "authority_level": "district_chairman",
        "rule": {"type": "no_award_within", "years": 1}})
    assert r.status_code == 201, r.text
    before = await flow.to(await flow.nominate(code, flow.person()), "appraised")
    assert before["rule_version"] == 1 and before["appraisal"]["eligible"] is True

    new_rule = {"all": [{"type": "no_award_within", "years": 1}, {"type": "report_on_time"}]}
    r = await awards.put(f"/v1/forms/{code}/rule", headers=tokens.council,
                         json={"rule": new_rule})
    assert r.status_code == 403, r.text
    r = await awards.put(f"/v1/forms/{code}/rule", headers=tokens.board,
                         json={"rule": {"all": []}})
    assert r.status_code == 422, r.text
    r = await awards.put("/v1/forms/no_such_form/rule", headers=tokens.board,
                         json={"rule": new_rule})
    assert r.status_code == 404, r.text
    r = await awards.put(f"/v1/forms/{code}/rule", headers=tokens.board,
                         json={"rule": new_rule, "note": "Quyết định 12/QĐ-UBND"})
    assert r.status_code == 200, r.text
    assert r.json()["rule_version"] == 2 and r.json()["rule"] == new_rule
    r = await awards.get(f"/v1/forms/{code}/rules", headers=tokens.board)
    history = r.json()
    assert [(v["version"], v["changed_by"]) for v in history] == [(1, "board"), (2, "board")]
    assert history[1]["note"] == "Quyết định 12/QĐ-UBND"

    after = await flow.to(await flow.nominate(code, flow.person()), "appraised")
    assert after["rule_version"] == 2 and after["appraisal"]["rule_version"] == 2
    assert after["appraisal"]["eligible"] is False  # a person has no report on time
    kept = await get(awards, tokens, before)
    assert kept["rule_version"] == 1 and kept["appraisal"]["rule_version"] == 1
    assert kept["appraisal"]["eligible"] is True
    audit = await awards_db.fetch(
        "SELECT actor, action, before, after FROM audit_log WHERE entity_type = 'award_form'"
        " AND entity_id = $1 ORDER BY id", code)
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("board", "award_form.add"), ("board", "award_rule.change")]
    assert audit[1]["before"]["rule_version"] == 1 and audit[1]["after"]["rule_version"] == 2


# --------------------------------------------------------------------------- enrollments


async def test_enrollment_window_and_not_enrolled_flag(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
) -> None:
    closes = (date.today() + timedelta(days=30)).isoformat()
    reporter = tokens.reporter(world.commune)
    r = await awards.put(f"/v1/enrollment-windows/{YEAR}", headers=reporter,
                         json={"closes_on": closes})
    assert r.status_code == 403, r.text
    r = await awards.put(f"/v1/enrollment-windows/{YEAR}", headers=tokens.board,
                         json={"closes_on": closes})
    assert r.status_code == 200 and r.json()["closes_on"] == closes, r.text

    person = flow.person()
    body = {"unit_id": str(world.commune), "year": YEAR, "items": [
        {"form_code": LDTT, "nominee": person},
        {"form_code": "tap_the_lao_dong_tien_tien", "nominee": flow.unit(world.commune)}]}
    r = await awards.post("/v1/enrollments", headers=tokens.reporter(world.short), json=body)
    assert r.status_code == 403, r.text  # another commune's reporter
    r = await awards.post("/v1/enrollments", headers=reporter, json=body)
    assert r.status_code == 201, r.text
    enrollment = r.json()
    assert [i["form_code"] for i in enrollment["items"]] == [LDTT, "tap_the_lao_dong_tien_tien"]
    r = await awards.get("/v1/enrollments", headers=reporter,
                         params={"year": YEAR, "unit_id": str(world.commune)})
    assert {row["enrollment_id"] for row in r.json()} == {enrollment["enrollment_id"]}

    enrolled = await flow.nominate(LDTT, person)
    assert enrolled["enrolled"] is True and enrolled["flags"] == []
    not_enrolled = await flow.nominate("chien_si_thi_dua_co_so", person)
    assert not_enrolled["enrolled"] is False and not_enrolled["flags"] == ["not_enrolled"]
    submitted = await flow.submit(not_enrolled)
    assert submitted["flags"] == ["not_enrolled"]

    # a year whose window the board has not set, then one that closed yesterday
    other = {**body, "year": YEAR - 2}
    r = await awards.post("/v1/enrollments", headers=reporter, json=other)
    assert r.status_code == 409 and "not open" in r.json()["detail"], r.text
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    r = await awards.put(f"/v1/enrollment-windows/{YEAR - 2}", headers=tokens.board,
                         json={"closes_on": yesterday})
    assert r.status_code == 200, r.text
    r = await awards.post("/v1/enrollments", headers=reporter, json=other)
    assert r.status_code == 409 and "closed" in r.json()["detail"], r.text


# --------------------------------------------------------------------------- the whole path


async def test_whole_path_to_approval_at_the_district_level(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
    awards_db: asyncpg.Connection,
) -> None:
    commune = world.eligible_commune()
    n = await flow.nominate(GKH, flow.unit(commune))
    assert n["status"] == "drafted" and n["nominee"]["kind"] == "unit"
    n = await flow.take(n, "edit", tokens.reporter(commune),
                        {"achievements": "Giảm 2,00 điểm tỷ lệ hộ nghèo, đạt chỉ tiêu."})
    assert n["achievements"].startswith("Giảm 2,00")
    n = await flow.submit(n)
    assert n["status"] == "submitted"
    n = await flow.review(n)
    assert n["status"] == "reviewed"
    assert n["council"]["votes_for"] == 7 and n["council"]["council_unit_id"] == str(
        world.district_a)
    n = await flow.appraise(n)
    assert n["status"] == "appraised" and n["rule_version"] == 1
    appraisal = n["appraisal"]
    assert appraisal["eligible"] is True and appraisal["years_used"] == [YEAR - 1, YEAR]
    assert appraisal["report_versions"] == {str(YEAR - 1): 1, str(YEAR): 1}
    parts = {p["rule"]["type"]: p for p in appraisal["result"]["facts"]["parts"]}
    assert parts["report_on_time"]["passed"] and parts["report_on_time"]["facts"] == {
        "on_time": True}
    assert parts["reduction_meets_target"]["facts"] == {"reduction_pp": pytest.approx(2.0),
                                                        "required_pp": 2.0}

    # the province's and the commune's chairmen do not sign a district form
    for wrong in (world.province, commune):
        await flow.take(n, "approve", tokens.chairman(wrong), DECISION, expect=403)
    n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
    assert n["status"] == "approved"
    assert n["decision"] == {**DECISION, "authority_level": "district_chairman"}

    steps = [(s["seq"], s["step"], s["status"], s["actor"]) for s in n["steps"]]
    assert steps == [
        (1, "draft", "drafted", "reporter"), (2, "edit", "drafted", "reporter"),
        (3, "submit", "submitted", "reporter"), (4, "review", "reviewed", "council-a"),
        (5, "appraise", "appraised", "board"),
        (6, "approve", "approved", f"chairman-{world.district_a}")]
    by_step = {s["step"]: s for s in n["steps"]}
    assert by_step["review"]["comment"] == "Hội đồng nhất trí"
    assert by_step["review"]["actor_roles"] == ["council"]
    assert by_step["appraise"]["comment"] == "Đủ điều kiện"
    assert by_step["approve"]["details"]["number"] == DECISION["number"]
    ats = [s["at"] for s in n["steps"]]
    assert ats == sorted(ats)
    audit = await awards_db.fetch(
        "SELECT actor, actor_roles, action, at, after FROM audit_log"
        " WHERE entity_type = 'nomination' AND entity_id = $1 ORDER BY id", n["nomination_id"])
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("reporter", "nomination.draft"), ("reporter", "nomination.edit"),
        ("reporter", "nomination.submit"), ("council-a", "nomination.review"),
        ("board", "nomination.appraise"),
        (f"chairman-{world.district_a}", "nomination.approve")]
    assert audit[-1]["after"]["status"] == "approved" and audit[-1]["actor_roles"] == [
        "chairman"]


@pytest.mark.parametrize(("form", "nominee", "right", "wrong", "level"), [
    (BKT, "pool", "province", ["district_a", "pool"], "provincial_chairman"),
    (GDVH, "household", "commune", ["district_a", "province"], "commune_chairman"),
    (LDTT, "person", "district_a", ["province", "commune", "district_b"], "district_chairman"),
])
async def test_a_form_is_approved_only_at_its_authority_level(
    flow: Flow, tokens: Tokens, world: World, form: str, nominee: str, right: str,
    wrong: list[str], level: str,
) -> None:
    pool = world.eligible_commune() if nominee == "pool" else None
    if nominee == "pool":
        assert pool is not None
        n = await flow.nominate(form, flow.unit(pool))
    elif nominee == "household":
        n = await flow.nominate(form, {"kind": "household", "unit_id": str(world.village),
                                       "name": f"Hộ ông Hồ Văn {uuid.uuid4().hex[:6]}"},
                                proposing=world.commune)
    else:
        n = await flow.nominate(form, flow.person())
    n = await flow.to(n, "appraised")
    assert n["appraisal"]["eligible"] is True, n["appraisal"]

    def unit(name: str) -> uuid.UUID:
        found: uuid.UUID | None = pool if name == "pool" else getattr(world, name)
        assert found is not None
        return found

    for name in wrong:
        await flow.take(n, "approve", tokens.chairman(unit(name)), DECISION, expect=403)
    await flow.take(n, "approve", tokens.board, DECISION, expect=403)
    n = await flow.take(n, "approve", tokens.chairman(unit(right)), DECISION)
    assert n["status"] == "approved" and n["decision"]["authority_level"] == level


async def test_not_eligible_appraisal_cannot_be_approved(
    flow: Flow, tokens: Tokens, world: World,
) -> None:
    short = await flow.to(await flow.nominate(GKH, flow.unit(world.short)), "appraised")
    appraisal = short["appraisal"]
    assert appraisal["eligible"] is False
    parts = {p["rule"]["type"]: p for p in appraisal["result"]["facts"]["parts"]}
    assert parts["report_on_time"]["passed"] is True
    target = parts["reduction_meets_target"]
    assert target["passed"] is False
    assert target["facts"]["reduction_pp"] == pytest.approx(1.99)
    assert "1.99" in target["explanation"]
    r = await flow.client.post(f"/v1/nominations/{short['nomination_id']}/approve",
                               headers=tokens.chairman(world.district_a), json=DECISION)
    assert r.status_code == 409 and "not eligible" in r.json()["detail"], r.text

    late = await flow.to(await flow.nominate(GKH, flow.unit(world.late)), "appraised")
    parts = {p["rule"]["type"]: p for p in late["appraisal"]["result"]["facts"]["parts"]}
    assert parts["report_on_time"]["passed"] is False
    assert parts["reduction_meets_target"]["passed"] is True
    await flow.take(late, "approve", tokens.chairman(world.district_a), DECISION, expect=409)
    # the board rejects it instead
    rejected = await flow.take(late, "reject", tokens.board,
                               {"reason": "Báo cáo nộp muộn"})
    assert rejected["status"] == "rejected"


async def test_form_above_the_province_is_forwarded_then_the_central_decision_recorded(
    flow: Flow, tokens: Tokens, world: World, pm_form: str,
) -> None:
    n = await flow.to(await flow.nominate(pm_form, flow.person()), "appraised")
    assert n["appraisal"]["eligible"] is True
    # the province does not grant it: neither its chairman nor the board approves it yet
    await flow.take(n, "approve", tokens.chairman(world.province), DECISION, expect=403)
    await flow.take(n, "approve", tokens.board, DECISION, expect=409)
    for wrong in (tokens.chairman(world.province), tokens.council,
                  tokens.reporter(world.commune)):
        await flow.take(n, "forward", wrong, {}, expect=403)
    n = await flow.take(n, "forward", tokens.board, {"comment": "Trình Thủ tướng"})
    assert n["status"] == "forwarded"
    await flow.take(n, "approve", tokens.chairman(world.province), DECISION, expect=403)
    central = {"number": "456/QĐ-TTg", "signed_on": "2025-04-01", "signer": "Thủ tướng"}
    n = await flow.take(n, "approve", tokens.board, central)
    assert n["status"] == "approved"
    assert n["decision"] == {**central, "authority_level": "prime_minister"}
    assert [s["step"] for s in n["steps"]][-2:] == ["forward", "approve"]

    # a form the province grants is approved, not forwarded
    own = await flow.to(await flow.nominate(LDTT, flow.person()), "appraised")
    r = await flow.client.post(f"/v1/nominations/{own['nomination_id']}/forward",
                               headers=tokens.board, json={})
    assert r.status_code == 409 and "approve it instead" in r.json()["detail"], r.text


async def test_return_for_correction_then_resubmit(flow: Flow, tokens: Tokens,
                                                  world: World) -> None:
    n = await flow.submit(await flow.nominate(LDTT, flow.person()))
    n = await flow.take(n, "return", tokens.council, {"reason": "Thiếu biên bản họp"})
    assert n["status"] == "returned"
    assert n["steps"][-1]["comment"] == "Thiếu biên bản họp"
    n = await flow.take(n, "edit", tokens.reporter(world.commune),
                        {"achievements": "Bổ sung biên bản họp bình xét."})
    assert n["status"] == "drafted"
    n = await flow.to(n, "appraised")
    n = await flow.take(n, "return", tokens.board, {"reason": "Cần bổ sung minh chứng"})
    assert n["status"] == "returned"
    n = await flow.submit(n)  # a returned dossier may be submitted again as it is
    assert n["status"] == "submitted"
    assert [s["step"] for s in n["steps"]] == [
        "draft", "submit", "return", "edit", "submit", "review", "appraise", "return",
        "submit"]


async def test_reject_then_the_nominee_may_be_nominated_again(flow: Flow,
                                                             tokens: Tokens) -> None:
    person = flow.person()
    n = await flow.to(await flow.nominate(LDTT, person), "reviewed")
    n = await flow.take(n, "reject", tokens.board, {"reason": "Không đủ tiêu chuẩn"})
    assert n["status"] == "rejected" and n["steps"][-1]["comment"] == "Không đủ tiêu chuẩn"
    again = await flow.nominate(LDTT, person)
    assert again["nominee"]["nominee_id"] == n["nominee"]["nominee_id"]


async def test_duplicate_open_nomination_is_refused(flow: Flow, world: World) -> None:
    person = flow.person()
    first = await flow.nominate(LDTT, person)
    r = await flow.nominate(LDTT, person, expect=409)
    assert r["type"] == "conflict"
    await flow.submit(first)
    await flow.nominate(LDTT, person, expect=409)
    # another form, or another year, is another nomination
    await flow.nominate("chien_si_thi_dua_co_so", person)
    await flow.nominate(LDTT, person, year=YEAR - 1)
    await flow.nominate(GKH, flow.unit(world.commune))
    await flow.nominate(GKH, flow.unit(world.commune), expect=409)


async def test_revocation(flow: Flow, tokens: Tokens, world: World,
                          awards: httpx.AsyncClient) -> None:
    person = flow.person()
    n = await flow.to(await flow.nominate(LDTT, person), "appraised")
    n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
    revoke: Json = {"reason": "Hồ sơ khai man", "decision": {
        "number": "789/QĐ-UBND", "signed_on": "2025-06-01", "signer": "Chủ tịch huyện"}}
    await flow.take(n, "revoke", tokens.reporter(world.commune), revoke, expect=403)
    await flow.take(n, "revoke", tokens.chairman(world.province), revoke, expect=403)
    await flow.take(n, "revoke", tokens.chairman(world.district_a), {"reason": "x"},
                    expect=422)
    n = await flow.take(n, "revoke", tokens.chairman(world.district_a), revoke)
    assert n["status"] == "revoked"
    assert n["revocation"] == {"reason": "Hồ sơ khai man", "decision": {
        **revoke["decision"], "authority_level": "district_chairman"}}
    assert n["decision"]["number"] == DECISION["number"]  # the granting decision is kept
    assert n["steps"][-1]["comment"] == "Hồ sơ khai man"
    await flow.take(n, "revoke", tokens.chairman(world.district_a), revoke, expect=409)
    public = (await awards.get("/v1/awards", params={"year": YEAR})).json()
    assert person["name"] not in {a["nominee_name"] for a in public}
    history = await awards.get(f"/v1/nominees/person/{n['nominee']['nominee_id']}/awards",
                               headers=tokens.board)
    assert [(h["status"], h["form_code"]) for h in history.json()] == [("revoked", LDTT)]
    # a revoked award no longer blocks a nomination
    await flow.nominate(LDTT, person)


# --------------------------------------------------------------------------- by role, by state

STATUSES = ["drafted", "submitted", "reviewed", "appraised", "approved", "rejected",
            "returned", "forwarded", "revoked"]
ALLOWED = {
    "edit": {"drafted", "returned"},
    "submit": {"drafted", "returned"},
    "review": {"submitted"},
    "appraise": {"reviewed", "appraised", "forwarded"},
    "approve": {"appraised", "forwarded"},
    "reject": {"submitted", "reviewed", "appraised", "forwarded"},
    "return": {"submitted", "reviewed", "appraised"},
    "forward": {"appraised"},
    "revoke": {"approved"},
}
BODIES: dict[str, Json] = {
    "edit": {"achievements": "Sửa đổi"},
    "submit": {},
    "review": {"votes_for": 5, "votes_against": 0},
    "appraise": {},
    "approve": DECISION,
    "reject": {"reason": "Không đạt"},
    "return": {"reason": "Bổ sung"},
    "forward": {},
    "revoke": {"reason": "Khai man", "decision": DECISION},
}

Build = Callable[[str, str], Awaitable[Json]]


@pytest.fixture
def build(flow: Flow, tokens: Tokens, world: World, pm_form: str) -> Build:
    """A fresh nomination of a person, in ``status``, of ``form``."""

    async def at(status: str, form: str = LDTT) -> Json:
        if status == "forwarded":
            form = pm_form
        n = await flow.nominate(form, flow.person())
        if status == "drafted":
            return n
        if status in ("rejected", "returned"):
            n = await flow.submit(n)
            step = {"rejected": "reject", "returned": "return"}[status]
            return await flow.take(n, step, tokens.council, {"reason": "Chưa đạt"})
        n = await flow.to(n, {"submitted": "submitted", "reviewed": "reviewed"}.get(
            status, "appraised"))
        if status == "forwarded":
            return await flow.take(n, "forward", tokens.board, {})
        if status in ("approved", "revoked"):
            n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
        if status == "revoked":
            n = await flow.take(n, "revoke", tokens.chairman(world.district_a),
                                BODIES["revoke"])
        assert n["status"] == status
        return n

    return at


def actor(tokens: Tokens, step: str, status: str) -> dict[str, str]:
    """Who takes ``step`` on a nomination in ``status`` (of a district form, or forwarded)."""
    w = tokens.world
    if step in ("edit", "submit"):
        return tokens.reporter(w.commune)
    if step == "review" or (step in ("reject", "return") and status == "submitted"):
        return tokens.council
    if step in ("approve", "revoke") and status != "forwarded":
        return tokens.chairman(w.district_a)
    return tokens.board


@pytest.mark.parametrize("status", STATUSES)
async def test_every_step_refused_by_state(build: Build, flow: Flow, tokens: Tokens,
                                           status: str) -> None:
    n = await build(status, LDTT)
    for step, allowed in ALLOWED.items():
        if status in allowed:
            continue
        r = await flow.client.post(
            f"/v1/nominations/{n['nomination_id']}/{step}", headers=actor(tokens, step, status),
            json=BODIES[step]) if step != "edit" else await flow.client.patch(
            f"/v1/nominations/{n['nomination_id']}", headers=actor(tokens, step, status),
            json=BODIES[step])
        assert r.status_code == 409, (step, status, r.text)
        assert f"cannot {step} a nomination that is {status}" == r.json()["detail"]
    after = await get(flow.client, tokens, n)
    assert after["status"] == status and after["version"] == n["version"]


ALLOWED_CELLS = [(step, status) for step, statuses in ALLOWED.items()
                 for status in sorted(statuses)]


@pytest.mark.parametrize(("step", "status"), ALLOWED_CELLS)
async def test_every_step_allowed_from_its_states(build: Build, flow: Flow, tokens: Tokens,
                                                  step: str, status: str) -> None:
    form = PM if step == "forward" else LDTT
    n = await build(status, form)
    after = await flow.take(n, step, actor(tokens, step, status), BODIES[step])
    want = {"edit": "drafted", "submit": "submitted", "review": "reviewed",
            "appraise": "appraised", "approve": "approved", "reject": "rejected",
            "return": "returned", "forward": "forwarded", "revoke": "revoked"}[step]
    assert after["status"] == want
    assert after["steps"][-1]["step"] == step and after["steps"][-1]["status"] == want


def wrong_actors(tokens: Tokens, step: str) -> list[dict[str, str]]:
    w = tokens.world
    other_council = tokens(Role.COUNCIL, w.district_b)
    viewer = tokens(Role.VIEWER, w.province)
    return {
        "edit": [tokens.council, tokens.board, tokens.chairman(w.district_a),
                 tokens.reporter(w.short), viewer],
        "submit": [tokens.council, tokens.board, tokens.chairman(w.district_a),
                   tokens.reporter(w.district_b), viewer],
        "review": [tokens.reporter(w.commune), tokens.board, tokens.chairman(w.district_a),
                   other_council, viewer],
        "appraise": [tokens.reporter(w.commune), tokens.council,
                     tokens.chairman(w.province), tokens(Role.BOARD, w.district_b), viewer],
        "approve": [tokens.reporter(w.commune), tokens.council, tokens.board,
                    tokens.chairman(w.province), tokens.chairman(w.commune),
                    tokens.chairman(w.district_b), viewer],
        "reject": [tokens.reporter(w.commune), other_council, viewer],
        "return": [tokens.reporter(w.commune), other_council, viewer],
        "forward": [tokens.reporter(w.commune), tokens.council, tokens.chairman(w.province),
                    viewer],
        "revoke": [tokens.reporter(w.commune), tokens.council, tokens.board,
                   tokens.chairman(w.province), viewer],
    }[step]


@pytest.mark.parametrize("step", list(ALLOWED))
async def test_every_step_refused_by_role(build: Build, flow: Flow, tokens: Tokens,
                                          step: str, awards_db: asyncpg.Connection) -> None:
    status = {"edit": "drafted", "submit": "drafted", "review": "submitted",
              "appraise": "reviewed", "approve": "appraised", "reject": "reviewed",
              "return": "reviewed", "forward": "appraised", "revoke": "approved"}[step]
    n = await build(status, PM if step == "forward" else LDTT)
    audits = await awards_db.fetchval(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1", n["nomination_id"])
    for headers in wrong_actors(tokens, step):
        await flow.take(n, step, headers, BODIES[step], expect=403)
    after = await get(flow.client, tokens, n)
    assert after["status"] == status and len(after["steps"]) == len(n["steps"])
    assert await awards_db.fetchval(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1", n["nomination_id"]) == audits
    await flow.take(n, step, {}, BODIES[step], expect=401)


async def test_unknown_nomination_is_404(flow: Flow, tokens: Tokens) -> None:
    await flow.take({"nomination_id": str(uuid.uuid4())}, "submit",
                    tokens.reporter(tokens.world.commune), {}, expect=404)
    r = await flow.client.get(f"/v1/nominations/{uuid.uuid4()}", headers=tokens.board)
    assert r.status_code == 404


async def test_nomination_is_drafted_only_by_the_proposing_units_reporter(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    body = {"form_code": LDTT, "year": YEAR, "nominee": flow.person(),
            "proposing_unit_id": str(world.commune), "achievements": "x"}
    for headers in (tokens.reporter(world.short), tokens.council, tokens.board):
        r = await awards.post("/v1/nominations", headers=headers, json=body)
        assert r.status_code == 403, r.text
    # the nominee must be the proposing unit or below it; the form must suit the nominee
    r = await awards.post("/v1/nominations", headers=tokens.reporter(world.short), json={
        **body, "proposing_unit_id": str(world.short)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "nominee.unit_id"
    r = await awards.post("/v1/nominations", headers=tokens.reporter(world.commune),
                          json={**body, "form_code": GKH})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "nominee.kind"
    r = await awards.post("/v1/nominations", headers=tokens.reporter(world.commune),
                          json={**body, "form_code": "no_such_form"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "form_code"


# --------------------------------------------------------------------------- re-appraisal


async def test_corrected_report_flags_the_appraised_nomination_for_reappraisal(
    flow: Flow, tokens: Tokens, world: World, facts: Facts, awards_db: asyncpg.Connection,
) -> None:
    commune = world.eligible_commune()
    n = await flow.to(await flow.nominate(GKH, flow.unit(commune)), "appraised")
    assert n["appraisal"]["eligible"] is True and "needs_reappraisal" not in n["flags"]
    # the same version again (a redelivery) flags nothing: a target set after it, for the
    # same unit (same key, so consumed after it), shows it was processed
    await facts.report(commune, YEAR, 800, version=1)
    await facts.target(commune, YEAR + 1, 1.0)
    await facts.held({}, {(commune, YEAR + 1)})
    assert (await get(flow.client, tokens, n))["needs_reappraisal"] is False
    # a higher version does
    await facts.report(commune, YEAR, 850, version=2)
    await facts.held({(commune, YEAR): 2})
    async for attempt in eventually():
        with attempt:
            flagged = await get(flow.client, tokens, n)
            assert flagged["needs_reappraisal"] is True
    assert flagged["flags"] == ["not_enrolled", "needs_reappraisal"]
    assert "version 1 → 2" in flagged["reappraisal_reason"]
    assert flagged["version"] == n["version"] + 1
    flag = flagged["steps"][-1]
    assert (flag["step"], flag["status"], flag["actor"], flag["actor_roles"]) == (
        "flag_reappraisal", "appraised", "system", ["system"])
    assert flag["comment"] == flagged["reappraisal_reason"]
    assert flag["details"]["from_version"] == 1 and flag["details"]["to_version"] == 2
    audit = await awards_db.fetchrow(
        "SELECT actor, after FROM audit_log WHERE entity_id = $1"
        " AND action = 'nomination.flag_reappraisal'", n["nomination_id"])
    assert audit is not None
    assert audit["actor"] == "system" and audit["after"]["year"] == YEAR
    r = await flow.client.post(f"/v1/nominations/{n['nomination_id']}/approve",
                               headers=tokens.chairman(world.district_a), json=DECISION)
    assert r.status_code == 409 and "appraise it again" in r.json()["detail"], r.text

    again = await flow.appraise(flagged)
    assert again["needs_reappraisal"] is False and again["flags"] == ["not_enrolled"]
    assert again["appraisal"]["report_versions"] == {str(YEAR - 1): 1, str(YEAR): 2}
    assert again["appraisal"]["eligible"] is False  # 1.50 points now
    await flow.take(again, "approve", tokens.chairman(world.district_a), DECISION,
                    expect=409)
    # the year before is read too: correcting it flags the nomination again
    await facts.report(commune, YEAR - 1, POOR_BEFORE + 60, version=2)
    async for attempt in eventually():
        with attempt:
            assert (await get(flow.client, tokens, n))["needs_reappraisal"] is True
    final = await flow.appraise(again)
    assert final["appraisal"]["eligible"] is True  # 10.60 % → 8.50 %: 2.10 points
    assert final["appraisal"]["report_versions"] == {str(YEAR - 1): 2, str(YEAR): 2}
    approved = await flow.take(final, "approve", tokens.chairman(world.district_a), DECISION)
    assert approved["status"] == "approved"


# --------------------------------------------------------------------------- evidence


async def test_evidence_is_stored_as_sent(flow: Flow, tokens: Tokens, world: World,
                                          awards: httpx.AsyncClient,
                                          awards_db: asyncpg.Connection) -> None:
    n = await flow.nominate(LDTT, flow.person())
    nid = n["nomination_id"]
    content = b"%PDF-1.7\n" + bytes(range(256)) * 40
    headers = {**tokens.reporter(world.commune), "content-type": "application/pdf",
               "x-file-name": "bien-ban-hop.pdf"}
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers, content=content)
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["file_name"] == "bien-ban-hop.pdf" and ev["media_type"] == "application/pdf"
    assert ev["size_bytes"] == len(content)
    assert ev["sha256"] == hashlib.sha256(content).hexdigest()
    assert ev["added_by"] == "reporter"

    r = await awards.get(f"/v1/nominations/{nid}/evidence/{ev['evidence_id']}",
                         headers=tokens.board)
    assert r.status_code == 200 and r.content == content
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["digest"] == f"sha-256={ev['sha256']}"
    assert "bien-ban-hop.pdf" in r.headers["content-disposition"]
    r = await awards.get(f"/v1/nominations/{nid}/evidence/{uuid.uuid4()}",
                         headers=tokens.board)
    assert r.status_code == 404

    dossier = await get(awards, tokens, n)
    assert [(e["file_name"], e["sha256"]) for e in dossier["evidence"]] == [
        ("bien-ban-hop.pdf", ev["sha256"])]
    step = dossier["steps"][-1]
    assert step["step"] == "evidence" and step["comment"] == "bien-ban-hop.pdf"
    assert step["details"]["size_bytes"] == len(content)
    assert await awards_db.fetchval(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action = 'nomination.evidence'",
        nid) == 1

    limit = 5 * 1024 * 1024
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers,
                          content=b"x" * (limit + 1))
    assert r.status_code == 413 and r.json()["type"] == "payload_too_large", r.text
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers, content=b"")
    assert r.status_code == 422, r.text
    r = await awards.post(f"/v1/nominations/{nid}/evidence",
                          headers={**headers, **tokens.reporter(world.short)}, content=b"x")
    assert r.status_code == 403, r.text
    r = await awards.post(f"/v1/nominations/{nid}/evidence",
                          headers={**headers, "x-file-name": ""}, content=b"x")
    assert r.status_code == 422, r.text
    assert len((await get(awards, tokens, n))["evidence"]) == 1

    approved = await flow.take(await flow.to(n, "appraised"), "approve",
                               tokens.chairman(world.district_a), DECISION)
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers, content=b"x")
    assert r.status_code == 409, r.text
    assert approved["status"] == "approved"


# --------------------------------------------------------------------------- lists


async def test_search_candidates_public_list_and_history(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    # candidates in district B: the eligible commune, not the one 0.01 short, not the one
    # already nominated, not the district (no data)
    nominated = await flow.nominate(GKH, flow.unit(world.cand_nominated))
    r = await awards.get("/v1/candidates", headers=tokens.board, params={
        "form_code": GKH, "year": YEAR, "unit_id": str(world.district_b)})
    assert r.status_code == 200, r.text
    candidates = r.json()
    assert [c["unit_id"] for c in candidates] == [str(world.cand_eligible)]
    assert candidates[0]["kind"] == "commune" and candidates[0]["results"][0]["passed"]
    r = await awards.get("/v1/candidates", headers=tokens.board,
                         params={"form_code": LDTT, "year": YEAR})
    assert r.status_code == 422, r.text

    async def search(**params: Any) -> list[str]:
        r = await awards.get("/v1/nominations", headers=tokens.board,
                             params={**params, "limit": 500})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == len(page["items"])
        return [i["nomination_id"] for i in page["items"]]

    nid = nominated["nomination_id"]
    assert await search(unit_id=str(world.district_b)) == [nid]
    assert await search(unit_id=str(world.district_b), status="drafted", year=YEAR,
                        form_code=GKH) == [nid]
    assert await search(unit_id=str(world.district_b), status="submitted") == []
    assert await search(unit_id=str(world.district_b), year=YEAR - 1) == []
    assert await search(unit_id=str(world.district_b), form_code=LDTT) == []
    assert nid not in await search(unit_id=str(world.district_a))
    assert nid in await search(unit_id=str(world.province), form_code=GKH)

    # the public list of a year's approved awards needs no token
    person = flow.person()
    n = await flow.to(await flow.nominate(LDTT, person), "appraised")
    n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
    r = await awards.get("/v1/awards", params={"year": YEAR})
    assert r.status_code == 200, r.text
    mine = [a for a in r.json() if a["nominee_name"] == person["name"]]
    assert mine == [{"year": YEAR, "form_code": LDTT, "form_name": "Lao động tiên tiến",
                     "nominee_kind": "person", "nominee_name": person["name"],
                     "unit_id": str(world.commune),
                     "decision": {**DECISION, "authority_level": "district_chairman"}}]
    r = await awards.get("/v1/awards", params={"year": YEAR - 1})
    assert person["name"] not in {a["nominee_name"] for a in r.json()}
    assert (await awards.get("/v1/awards")).status_code == 422

    history = await awards.get(f"/v1/nominees/person/{n['nominee']['nominee_id']}/awards",
                               headers=tokens.reporter(world.commune))
    assert [(h["form_code"], h["status"]) for h in history.json()] == [(LDTT, "approved")]
    assert (await awards.get(f"/v1/nominees/person/{n['nominee']['nominee_id']}/awards")
            ).status_code == 401


async def test_next_years_nomination_can_be_approved(flow: Flow, tokens: Tokens,
                                                     world: World) -> None:
    """A chairman signs today for a nomination of a year that has not ended (or begun)."""
    year = date.today().year + 1
    n = await flow.to(await flow.nominate(LDTT, flow.person(), year=year), "appraised")
    n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
    assert n["status"] == "approved" and n["year"] == year


async def test_forwarded_nomination_flagged_for_reappraisal_goes_back_to_the_board(
    flow: Flow, tokens: Tokens, world: World, facts: Facts, awards: httpx.AsyncClient,
) -> None:
    code = "thu_co_thi_dua_chinh_phu"
    r = await awards.post("/v1/forms", headers=tokens.board, json={
        "code": code, "name_vi": "Cờ thi đua của Chính phủ (thử)", "category": "title",
        "for_whom": "collective", "authority_level": "prime_minister",
        "rule": {"type": "reduction_meets_target"}})
    assert r.status_code == 201, r.text
    commune = world.eligible_commune()
    n = await flow.to(await flow.nominate(code, flow.unit(commune)), "appraised")
    n = await flow.take(n, "forward", tokens.board, {})
    await facts.report(commune, YEAR, 790, version=2)  # corrected: 2.10 points
    async for attempt in eventually():
        with attempt:
            flagged = await get(awards, tokens, n)
            assert flagged["needs_reappraisal"] is True and flagged["status"] == "forwarded"
    central = {"number": "9/QĐ-TTg", "signed_on": "2025-05-05", "signer": "Thủ tướng"}
    await flow.take(flagged, "approve", tokens.board, central, expect=409)
    again = await flow.appraise(flagged)
    assert again["status"] == "appraised" and again["needs_reappraisal"] is False
    assert again["appraisal"]["result"]["facts"]["reduction_pp"] == pytest.approx(2.1)
    again = await flow.take(again, "forward", tokens.board, {})
    approved = await flow.take(again, "approve", tokens.board, central)
    assert approved["decision"]["authority_level"] == "prime_minister"


async def test_a_step_retried_with_its_idempotency_key_is_taken_once(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    n = await flow.nominate(LDTT, flow.person())
    headers = {**tokens.reporter(world.commune), "idempotency-key": f"submit-{uuid.uuid4()}"}
    url = f"/v1/nominations/{n['nomination_id']}/submit"
    first = await awards.post(url, headers=headers)
    again = await awards.post(url, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["idempotency-replayed"] == "true" and again.json() == first.json()
    assert [s["step"] for s in (await get(awards, tokens, n))["steps"]] == ["draft", "submit"]
    # without the key, the same request is a second submit: refused by state
    r = await awards.post(url, headers=tokens.reporter(world.commune))
    assert r.status_code == 409, r.text


async def test_council_review_needs_a_majority_for(flow: Flow, tokens: Tokens) -> None:
    n = await flow.submit(await flow.nominate(LDTT, flow.person()))
    r = await flow.take(n, "review", tokens.council,
                        {"votes_for": 3, "votes_against": 3, "votes_abstain": 1}, expect=422)
    assert r["errors"][0]["field"] == "votes_for"
    await flow.take(n, "review", tokens.council, {"votes_for": -1, "votes_against": 0},
                    expect=422)
    assert (await get(flow.client, tokens, n))["status"] == "submitted"


async def test_each_stage_has_its_own_deciders(flow: Flow, tokens: Tokens, world: World) -> None:
    submitted = await flow.submit(await flow.nominate(LDTT, flow.person()))
    # before the council's review only the council returns or rejects
    await flow.take(submitted, "return", tokens.board, {"reason": "x"}, expect=403)
    await flow.take(submitted, "reject", tokens.chairman(world.district_a), {"reason": "x"},
                    expect=403)
    reviewed = await flow.review(submitted)
    # once reviewed, it is the board's
    await flow.take(reviewed, "return", tokens.council, {"reason": "x"}, expect=403)
    appraised = await flow.appraise(reviewed)
    await flow.take(appraised, "reject", tokens.council, {"reason": "x"}, expect=403)
    await flow.take(appraised, "return", tokens.chairman(world.district_a), {"reason": "x"},
                    expect=403)
    # the signing chairman may decline what is put before it
    n = await flow.take(appraised, "reject", tokens.chairman(world.district_a),
                        {"reason": "Không ký quyết định"})
    assert n["status"] == "rejected"


async def test_enrollment_is_looked_at_again_on_submission(
    flow: Flow, tokens: Tokens, world: World
) -> None:
    person = flow.person()
    n = await flow.nominate(LDTT, person)
    assert n["enrolled"] is False and "not_enrolled" in n["flags"]
    # open (tomorrow, wherever "today" is counted), register, then submit
    r = await flow.client.put(f"/v1/enrollment-windows/{YEAR}", headers=tokens.board,
                              json={"closes_on": (date.today() + timedelta(days=2)).isoformat()})
    assert r.status_code == 200, r.text
    r = await flow.client.post("/v1/enrollments", headers=tokens.reporter(world.commune), json={
        "unit_id": str(world.commune), "year": YEAR,
        "items": [{"form_code": LDTT, "nominee": person}]})
    assert r.status_code == 201, r.text
    n = await flow.submit(n)
    assert n["enrolled"] is True and "not_enrolled" not in n["flags"]


# --------------------------------------------------------------------------- review findings


CSTDCS = "chien_si_thi_dua_co_so"  # individuals; needs LDTT held the year before


async def test_a_chairman_declines_only_a_form_of_its_own_level(
    flow: Flow, tokens: Tokens, world: World,
) -> None:
    n = await flow.to(await flow.nominate(LDTT, flow.person()), "appraised")
    # in scope of the proposing commune, but LDTT is signed by the district's chairman
    for wrong in (world.commune, world.province):
        r = await flow.take(n, "reject", tokens.chairman(wrong), {"reason": "Không ký"},
                            expect=403)
        assert "district chairman" in r["detail"], r
    assert (await get(flow.client, tokens, n))["status"] == "appraised"
    n = await flow.take(n, "reject", tokens.chairman(world.district_a), {"reason": "Không ký"})
    assert n["status"] == "rejected"


async def test_granting_or_revoking_an_award_flags_the_nominations_that_read_awards(
    flow: Flow, tokens: Tokens, world: World, awards_db: asyncpg.Connection,
) -> None:
    person = flow.person()
    district_chair = tokens.chairman(world.district_a)
    earlier = await flow.to(await flow.nominate(LDTT, person, year=YEAR - 1), "appraised")
    reader = await flow.to(await flow.nominate(CSTDCS, person), "appraised")
    assert reader["appraisal"]["eligible"] is False  # no LDTT held in YEAR - 1 yet
    assert reader["appraisal"]["reads_awards"] is True
    # a nomination of the same nominee of an earlier year does not read that award
    older = await flow.to(await flow.nominate(CSTDCS, person, year=YEAR - 2), "appraised")

    await flow.take(earlier, "approve", district_chair, DECISION)
    flagged = await get(flow.client, tokens, reader)
    assert flagged["needs_reappraisal"] is True and "needs_reappraisal" in flagged["flags"]
    assert f"{LDTT} of {YEAR - 1} was granted" in flagged["reappraisal_reason"]
    step = flagged["steps"][-1]
    assert (step["step"], step["status"], step["actor"]) == (
        "flag_reappraisal", "appraised", f"chairman-{world.district_a}")
    assert step["details"]["nomination_id"] == earlier["nomination_id"]
    assert (await get(flow.client, tokens, older))["needs_reappraisal"] is False
    await flow.take(reader, "approve", district_chair, DECISION, expect=409)
    reader = await flow.appraise(flagged)
    assert reader["appraisal"]["eligible"] is True and reader["needs_reappraisal"] is False

    revoke: Json = {"reason": "Hồ sơ khai man", "decision": {
        "number": "790/QĐ-UBND", "signed_on": "2025-06-01", "signer": "Chủ tịch huyện"}}
    await flow.take(earlier, "revoke", district_chair, revoke)
    flagged = await get(flow.client, tokens, reader)
    assert flagged["needs_reappraisal"] is True
    assert f"{LDTT} of {YEAR - 1} was revoked" in flagged["reappraisal_reason"]
    audit = await awards_db.fetch(
        "SELECT actor, before, after FROM audit_log WHERE entity_id = $1"
        " AND action = 'nomination.flag_reappraisal' ORDER BY id", reader["nomination_id"])
    assert [(a["actor"], a["after"]["change"]) for a in audit] == [
        (f"chairman-{world.district_a}", "granted"), (f"chairman-{world.district_a}",
                                                      "revoked")]
    again = await flow.appraise(flagged)
    assert again["appraisal"]["eligible"] is False


async def test_a_nomination_flagged_for_reappraisal_is_not_forwarded(
    flow: Flow, tokens: Tokens, world: World, facts: Facts, awards: httpx.AsyncClient,
) -> None:
    code = "thu_bang_khen_chinh_phu_flag"
    r = await awards.post("/v1/forms", headers=tokens.board, json={
        "code": code, "name_vi": "Bằng khen của Chính phủ (thử)", "category": "commendation",
        "for_whom": "collective", "authority_level": "prime_minister",
        "rule": {"type": "reduction_meets_target"}})
    assert r.status_code == 201, r.text
    commune = world.eligible_commune()
    n = await flow.to(await flow.nominate(code, flow.unit(commune)), "appraised")
    await facts.report(commune, YEAR, 790, version=2)
    async for attempt in eventually():
        with attempt:
            flagged = await get(awards, tokens, n)
            assert flagged["needs_reappraisal"] is True
    r = await awards.post(f"/v1/nominations/{n['nomination_id']}/forward",
                          headers=tokens.board, json={})
    assert r.status_code == 409 and "appraise it again" in r.json()["detail"], r.text
    assert (await get(awards, tokens, n))["status"] == "appraised"
    again = await flow.appraise(flagged)
    forwarded = await flow.take(again, "forward", tokens.board, {})
    assert forwarded["status"] == "forwarded"


async def test_a_correction_consumed_while_appraising_is_read_or_flags_it(
    stack: TestStack, flow: Flow, tokens: Tokens, world: World, facts: Facts,
) -> None:
    """The consumer stores a corrected report in a transaction that is still open when the
    board appraises: the appraisal waits for it and reads the correction (before, it read the
    old version and nothing flagged it)."""
    commune = world.eligible_commune()
    n = await flow.to(await flow.nominate(GKH, flow.unit(commune)), "reviewed")
    env = new_envelope(payload=facts.submitted(commune, YEAR, 790, version=2),
                       producer="indicators", subject_id=str(commune),
                       actor=Actor(subject="indicators-test", roles=["reporter"]))
    conn = await asyncpg.connect(awards_settings(stack).dsn())
    await json_codecs(conn)
    try:
        tx = conn.transaction()
        await tx.start()
        await on_report_submitted(conn, env)  # the facts row is now locked, version 2
        appraisal = asyncio.create_task(flow.appraise(n))
        await asyncio.sleep(1.0)
        waited = not appraisal.done()
        await tx.commit()
        appraised = await appraisal
    finally:
        await conn.close()
    after = await get(flow.client, tokens, appraised)
    assert after["appraisal"]["report_versions"][str(YEAR)] == 2 or after["needs_reappraisal"]
    assert waited
    assert after["appraisal"]["result"]["facts"]["parts"][1]["facts"]["reduction_pp"] == (
        pytest.approx(2.1))


async def test_a_unit_that_existed_for_part_of_the_year_is_enrolled(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
    awards_registration: httpx.AsyncClient, awards_db: asyncpg.Connection,
    unique_code: Callable[[], str],
) -> None:
    admin = tokens.admin
    r = await awards_registration.post("/v1/units", headers=admin, json={
        "kind": "commune", "subkind": "xa", "name": f"Xã Tạm {uuid.uuid4().hex[:6]}",
        "code": unique_code(), "parent_id": str(world.district_a),
        "valid_from": f"{YEAR}-03-01"})
    assert r.status_code == 201, r.text
    unit = uuid.UUID(r.json()["unit_id"])
    r = await awards_registration.post(f"/v1/units/{unit}/close", headers=admin, json={
        "effective_date": f"{YEAR}-09-01", "reason": "Sáp nhập"})
    assert r.status_code == 200, r.text
    async for attempt in eventually():
        with attempt:
            assert await awards_db.fetchval(
                "SELECT valid_to FROM unit_versions WHERE unit_id = $1", unit) is not None
    r = await awards.put(f"/v1/enrollment-windows/{YEAR}", headers=tokens.board,
                         json={"closes_on": (date.today() + timedelta(days=30)).isoformat()})
    assert r.status_code == 200, r.text
    r = await awards.post("/v1/enrollments", headers=tokens.reporter(world.district_a), json={
        "unit_id": str(world.district_a), "year": YEAR,
        "items": [{"form_code": GKH, "nominee": flow.unit(unit)}]})
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["nominee"]["unit_id"] == str(unit)


async def test_a_promoted_person_is_the_same_nominee(flow: Flow, tokens: Tokens,
                                                    world: World) -> None:
    person = flow.person()
    earlier = await flow.to(await flow.nominate(LDTT, {**person, "position": "cán bộ"},
                                                year=YEAR - 1), "appraised")
    await flow.take(earlier, "approve", tokens.chairman(world.district_a), DECISION)
    promoted = await flow.to(await flow.nominate(CSTDCS, {**person, "position": "phó chủ tịch"}),
                             "appraised")
    assert promoted["nominee"]["nominee_id"] == earlier["nominee"]["nominee_id"]
    assert promoted["nominee_details"] == {"position": "phó chủ tịch"}
    assert promoted["appraisal"]["eligible"] is True  # LDTT held in YEAR - 1


async def test_a_rule_value_must_be_finite(awards: httpx.AsyncClient, tokens: Tokens) -> None:
    for value in (b"Infinity", b"NaN", b"-Infinity", b"1e300"):
        body = (b'{"rule": {"type": "indicator_at_least", "indicator": "initiatives",'
                b' "value": ' + value + b'}}')
        r = await awards.put(f"/v1/forms/{GKH}/rule", content=body,
                             headers={**tokens.board, "content-type": "application/json"})
        assert r.status_code == 422, (value, r.text)
        assert r.json()["errors"][0]["field"] == "rule", r.text
    r = await awards.get(f"/v1/forms/{GKH}/rules", headers=tokens.board)
    assert [v["version"] for v in r.json()] == [1]


async def test_evidence_is_read_only_in_scope(flow: Flow, tokens: Tokens, world: World,
                                              awards: httpx.AsyncClient) -> None:
    n = await flow.nominate(LDTT, flow.person())
    r = await awards.post(f"/v1/nominations/{n['nomination_id']}/evidence", content=b"%PDF-1",
                          headers={**tokens.reporter(world.commune),
                                   "content-type": "application/pdf", "x-file-name": "a.pdf"})
    assert r.status_code == 201, r.text
    url = f"/v1/nominations/{n['nomination_id']}/evidence/{r.json()['evidence_id']}"
    for outside in (tokens.reporter(world.short), tokens(Role.COUNCIL, world.district_b),
                    tokens.chairman(world.district_b), tokens(Role.VIEWER, world.district_b)):
        r = await awards.get(url, headers=outside)
        assert r.status_code == 403, r.text
    for inside in (tokens.reporter(world.commune), tokens.council, tokens.board,
                   tokens.admin, tokens(Role.VIEWER, world.province)):
        r = await awards.get(url, headers=inside)
        assert r.status_code == 200 and r.content == b"%PDF-1", r.text
    r = await awards.get(f"/v1/nominations/{uuid.uuid4()}/evidence/{uuid.uuid4()}",
                         headers=tokens.board)
    assert r.status_code == 404
    assert (await awards.get(url)).status_code == 401


async def test_the_target_set_last_is_the_one_appraised(
    flow: Flow, world: World, facts: Facts, awards_db: asyncpg.Connection,
) -> None:
    commune = world.eligible_commune()
    other = Facts(facts.producer, facts.topic, awards_db)  # another campaign
    await other.target(commune, YEAR, 5.0)
    await other.held({}, {(commune, YEAR)})
    n = await flow.to(await flow.nominate(GKH, flow.unit(commune)), "appraised")
    parts = {p["rule"]["type"]: p for p in n["appraisal"]["result"]["facts"]["parts"]}
    assert parts["reduction_meets_target"]["facts"]["required_pp"] == 5.0
    assert n["appraisal"]["eligible"] is False
    await facts.target(commune, YEAR, TARGET_PP)  # set again, later: that one counts
    async for attempt in eventually():
        with attempt:
            assert await awards_db.fetchval(
                "SELECT reduction_pp_min FROM unit_targets WHERE unit_id = $1"
                " ORDER BY set_at DESC LIMIT 1", commune) == TARGET_PP
    n = await flow.appraise(n)
    assert n["appraisal"]["eligible"] is True


async def test_seeded_forms_are_in_the_audit_log(awards: httpx.AsyncClient,
                                                 awards_db: asyncpg.Connection) -> None:
    rows = await awards_db.fetch(
        "SELECT actor, entity_id, after FROM audit_log WHERE action = 'award_form.seed'"
        " ORDER BY id")
    assert [r["entity_id"] for r in rows] == [form.code for form, _ in SEED_FORMS]
    assert {r["actor"] for r in rows} == {"system"}
    assert rows[0]["after"]["rule_version"] == 1
