"""Use cases of the awards service. Each runs inside the caller's transaction."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel, ValidationError

from chungtay_common import audit, hierarchy
from chungtay_common.auth import Principal, Role, ensure_may_act_on, require_role
from chungtay_common.context import Context, publish
from chungtay_common.contracts import awards as ev
from chungtay_common.contracts.awards import AuthorityLevel, Decision, Nominee, NomineeKind
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from chungtay_common.events import SYSTEM_ACTOR
from services.awards import domain, repository
from services.awards import metrics as m
from services.awards.domain import Facts, Form, ForWhom, Status, Step
from services.awards.schemas import (
    Candidate,
    DecisionIn,
    EnrollmentIn,
    EnrollmentOut,
    EvidenceOut,
    FormIn,
    FormOut,
    NominationIn,
    NominationOut,
    NominationPage,
    NomineeIn,
    PublicAward,
    RuleVersionOut,
    StepOut,
)

PRODUCER = "awards"


async def _system_publish(conn: Conn, topic: str, subject: object, payload: BaseModel) -> None:
    """An event of the service itself (seeding, deadlines), not of a caller."""
    await publish(conn, topic=topic, producer=PRODUCER, actor=SYSTEM_ACTOR, subject=subject,
                  payload=payload)

STAGE_DECIDERS: dict[Step, dict[Status, tuple[Role, ...]]] = {
    Step.RETURN: {Status.SUBMITTED: (Role.COUNCIL,), Status.REVIEWED: (Role.BOARD,),
                  Status.APPRAISED: (Role.BOARD,)},
    Step.REJECT: {Status.SUBMITTED: (Role.COUNCIL,), Status.REVIEWED: (Role.BOARD,),
                  Status.APPRAISED: (Role.BOARD, Role.CHAIRMAN),
                  Status.FORWARDED: (Role.BOARD,)},
}
VN = ZoneInfo("Asia/Ho_Chi_Minh")
_IDS = uuid.UUID("6f1c1f2e-6b0c-4d43-9f4e-6e0f3c7a2a10")  # namespace of person/household ids


def _today() -> date:
    return datetime.now(VN).date()


# --------------------------------------------------------------------------- catalogue


def _form_out(r: asyncpg.Record) -> FormOut:
    level = AuthorityLevel(r["authority_level"])
    return FormOut(code=r["code"], name_vi=r["name_vi"], category=r["category"],
                   for_whom=r["for_whom"], authority_level=level,
                   above_province=domain.above_province(level),
                   rule_version=r["rule_version"], rule=r["rule"])


def _checked_rule(data: dict[str, Any], field: str = "rule") -> dict[str, Any]:
    try:
        return domain.rule_json(domain.parse_rule(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput.on(field, f"not a valid rule ({where}: {first['msg']})") from exc


async def seed_catalogue(conn: Conn, topic: str) -> int:
    """Put the seed forms and their rules in an empty catalogue (at start-up), each recorded
    in the audit log as the system's; return how many."""
    await repository.lock_seed(conn)
    if await repository.forms(conn):
        return 0
    for form, rule in domain.SEED_FORMS:
        await repository.insert_form(conn, form)
        rule = _checked_rule(rule)
        version = await repository.add_rule_version(conn, form.code, rule,
                                                    "seed: Quyết định 3630/QĐ-UBND (configurable)",
                                                    SYSTEM_ACTOR.subject)
        out = _form_out(await _form(conn, form.code, field=""))
        await audit.record(conn, actor=SYSTEM_ACTOR, action="award_form.seed",
                           entity_type="award_form", entity_id=form.code, before=None,
                           after=out.model_dump(mode="json"))
        await _system_publish(conn, topic, form.code,
                       ev.AwardRuleChanged(form_code=form.code, version=version, rule=rule))
    return len(domain.SEED_FORMS)


async def list_forms(conn: Conn) -> list[FormOut]:
    return [_form_out(r) for r in await repository.forms(conn)]


async def _form(conn: Conn, code: str, field: str = "form_code") -> asyncpg.Record:
    row = await repository.form(conn, code)
    if row is None:
        raise InvalidInput.on(field, f"no award form {code}") if field else NotFound(
            f"award form {code} not found")
    return row


async def add_form(conn: Conn, ctx: Context, body: FormIn) -> FormOut:
    require_role(ctx.principal, Role.BOARD)
    rule = _checked_rule(body.rule)
    await repository.insert_form(conn, Form(body.code, body.name_vi, body.category,
                                            body.for_whom, body.authority_level))
    version = await repository.add_rule_version(conn, body.code, rule, None,
                                                ctx.principal.subject)
    out = _form_out(await _form(conn, body.code))
    await ctx.audit(conn, "award_form.add", "award_form", body.code,
                    None, out.model_dump(mode="json"))
    await ctx.publish(conn, body.code,
                   ev.AwardRuleChanged(form_code=body.code, version=version, rule=rule))
    return out


async def change_rule(conn: Conn, ctx: Context, code: str, rule_data: dict[str, Any],
                      note: str | None) -> FormOut:
    """A new version of a form's criteria; nominations keep the version they were checked on."""
    require_role(ctx.principal, Role.BOARD)
    before = _form_out(await _form(conn, code, field=""))
    rule = _checked_rule(rule_data)
    version = await repository.add_rule_version(conn, code, rule, note, ctx.principal.subject)
    out = _form_out(await _form(conn, code, field=""))
    await ctx.audit(conn, "award_rule.change", "award_form", code,
                    before.model_dump(mode="json"), out.model_dump(mode="json"))
    await ctx.publish(conn, code,
                   ev.AwardRuleChanged(form_code=code, version=version, rule=rule))
    ctx.after_commit(m.RULE_CHANGES.inc)
    return out


async def rule_history(conn: Conn, code: str) -> list[RuleVersionOut]:
    await _form(conn, code, field="")
    return [RuleVersionOut(**{k: r[k] for k in RuleVersionOut.model_fields})
            for r in await repository.rule_versions(conn, code)]


# --------------------------------------------------------------------------- nominees


async def _nominee(conn: Conn, n: NomineeIn, year: int, field: str = "nominee") -> Nominee:
    """Resolve a nominee: units by id; people and households get a stable id from their unit
    and name, so registrations, nominations and award history meet. A person's position is not
    part of it (a promotion does not make another person): it is kept in the details."""
    day = await hierarchy.last_day_active(conn, n.unit_id, date(year, 1, 1), date(year, 12, 31))
    unit = await hierarchy.unit_on(conn, n.unit_id, day) if day else None
    if unit is None:
        raise InvalidInput.on(f"{field}.unit_id", f"is not a unit active in {year}")
    if n.kind is NomineeKind.UNIT:
        return Nominee(kind=n.kind, nominee_id=str(n.unit_id), unit_id=n.unit_id,
                       name=unit.name)
    if not n.name:
        raise InvalidInput.on(f"{field}.name", f"a {n.kind} nominee needs a name")
    if n.kind is NomineeKind.HOUSEHOLD and unit.kind is not UnitKind.VILLAGE:
        raise InvalidInput.on(f"{field}.unit_id", "a household belongs to a village")
    key = f"{n.kind}:{n.unit_id}:{' '.join(n.name.lower().split())}"
    return Nominee(kind=n.kind, nominee_id=str(uuid.uuid5(_IDS, key)), unit_id=n.unit_id,
                   name=n.name)


def _check_for_whom(form: asyncpg.Record, nominee: Nominee, unit_kind: UnitKind,
                    field: str) -> None:
    for_whom = ForWhom(form["for_whom"])
    if domain.NOMINEE_KINDS[for_whom] is not nominee.kind:
        raise InvalidInput.on(f"{field}.kind", f"{form['code']} is for a {for_whom.value}, "
                                               f"not a {nominee.kind.value}")
    if for_whom is ForWhom.VILLAGE and unit_kind is not UnitKind.VILLAGE:
        raise InvalidInput.on(f"{field}.unit_id", f"{form['code']} is for a village")
    if for_whom is ForWhom.COLLECTIVE and unit_kind is UnitKind.VILLAGE:
        raise InvalidInput.on(f"{field}.unit_id", f"{form['code']} is for a collective unit")


async def _in_scope(conn: Conn, principal: Principal, unit_id: uuid.UUID, year: int,
                    what: str) -> list[uuid.UUID]:
    day = await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1), date(year, 12, 31))
    if day is None:
        raise InvalidInput.on("unit_id", f"is not a unit active in {year}")
    ancestry = await hierarchy.ancestry(conn, unit_id, day)
    ensure_may_act_on(principal, ancestry, what)
    return ancestry


# --------------------------------------------------------------------------- enrollments


async def set_window(conn: Conn, ctx: Context, year: int, closes_on: date) -> dict[str, Any]:
    require_role(ctx.principal, Role.BOARD)
    before = await repository.window(conn, year)
    await repository.set_window(conn, year, closes_on, ctx.principal.subject)
    await ctx.audit(conn, "enrollment_window.set", "enrollment_window", str(year),
                    {"closes_on": str(before)} if before else None, {"closes_on": str(closes_on)})
    return {"year": year, "closes_on": closes_on}


async def enroll(conn: Conn, ctx: Context, body: EnrollmentIn) -> EnrollmentOut:
    """Register the titles and forms a unit aims for in a year (before the window closes)."""
    require_role(ctx.principal, Role.REPORTER, Role.REGISTRAR)
    await _in_scope(conn, ctx.principal, body.unit_id, body.year, "the registering unit")
    closes = await repository.window(conn, body.year)
    if closes is None:
        raise Conflict(f"registrations for {body.year} are not open (the board sets the date "
                       "they close)")
    if _today() > closes:
        raise Conflict(f"registrations for {body.year} closed on {closes}")
    items = []
    for i, item in enumerate(body.items):
        form = await _form(conn, item.form_code, f"items.{i}.form_code")
        nominee = await _nominee(conn, item.nominee, body.year, f"items.{i}.nominee")
        # as for a nomination: the unit as it stood on its last day in the year (it may have
        # existed for part of the year only)
        day = await hierarchy.last_day_active(conn, nominee.unit_id, date(body.year, 1, 1),
                                              date(body.year, 12, 31))
        assert day is not None  # _nominee found it active in the year
        unit = await hierarchy.unit_on(conn, nominee.unit_id, day)
        assert unit is not None
        _check_for_whom(form, nominee, unit.kind, f"items.{i}.nominee")
        ancestry = await hierarchy.ancestry(conn, nominee.unit_id, day)
        if body.unit_id not in ancestry:
            raise InvalidInput.on(f"items.{i}.nominee.unit_id",
                                  "is not the registering unit or below it")
        items.append((item.form_code, nominee))
    enrollment_id = uuid.uuid4()
    await repository.insert_enrollment(
        conn, enrollment_id, body.unit_id, body.year, ctx.principal.subject,
        [(code, n.kind.value, n.nominee_id, n.name, n.unit_id) for code, n in items])
    out = EnrollmentOut(enrollment_id=enrollment_id, unit_id=body.unit_id, year=body.year,
                        items=[{"form_code": c, "nominee": n.model_dump(mode="json")}
                               for c, n in items])
    await ctx.audit(conn, "enrollment.register", "enrollment", str(enrollment_id),
                    None, out.model_dump(mode="json"))
    await ctx.publish(conn, str(body.unit_id), ev.EnrollmentRegistered(
        enrollment_id=enrollment_id, unit_id=body.unit_id, year=body.year,
        form_codes=sorted({c for c, _ in items}), nominees=[n for _, n in items]))
    return out


async def list_enrollments(conn: Conn, year: int, unit_id: uuid.UUID | None
                           ) -> list[dict[str, Any]]:
    return [dict(r) for r in await repository.enrollments(conn, year, unit_id)]


# --------------------------------------------------------------------------- nominations


async def create_nomination(conn: Conn, ctx: Context, body: NominationIn) -> NominationOut:
    """Draft a nomination dossier for the proposing unit."""
    require_role(ctx.principal, Role.REPORTER)
    await _in_scope(conn, ctx.principal, body.proposing_unit_id, body.year,
                    "the proposing unit")
    form = await _form(conn, body.form_code)
    nominee = await _nominee(conn, body.nominee, body.year)
    day = await hierarchy.last_day_active(conn, nominee.unit_id, date(body.year, 1, 1),
                                          date(body.year, 12, 31))
    assert day is not None
    unit = await hierarchy.unit_on(conn, nominee.unit_id, day)
    assert unit is not None
    _check_for_whom(form, nominee, unit.kind, "nominee")
    if body.proposing_unit_id not in await hierarchy.ancestry(conn, nominee.unit_id, day):
        raise InvalidInput.on("nominee.unit_id", "is not the proposing unit or below it")
    enrolled = await repository.is_enrolled(conn, body.year, body.form_code,
                                            nominee.kind.value, nominee.nominee_id)
    nomination_id = uuid.uuid4()
    details = {"position": body.nominee.position} if body.nominee.position else {}
    await repository.insert_nomination(conn, {
        "nomination_id": nomination_id, "form_code": body.form_code, "year": body.year,
        "nominee_kind": nominee.kind.value, "nominee_id": nominee.nominee_id,
        "nominee_name": nominee.name, "nominee_unit": nominee.unit_id,
        "nominee_details": details, "proposing_unit_id": body.proposing_unit_id,
        "achievements": body.achievements, "status": Status.DRAFTED.value,
        "enrolled": enrolled})
    await repository.add_step(conn, nomination_id, "draft", Status.DRAFTED.value,
                              ctx.principal.subject, sorted(ctx.principal.roles), None, None)
    out = await get_nomination(conn, nomination_id)
    await ctx.audit(conn, "nomination.draft", "nomination", str(nomination_id),
                    None, out.model_dump(mode="json"))
    ctx.after_commit(m.NOMINATION_STEPS.labels("draft").inc)
    return out


async def get_nomination(conn: Conn, nomination_id: uuid.UUID) -> NominationOut:
    row = await repository.nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    out = _nomination_out(row)
    out.steps = [StepOut(**{k: s[k] for k in StepOut.model_fields})
                 for s in await repository.steps(conn, nomination_id)]
    out.evidence = [EvidenceOut(**dict(e))
                    for e in await repository.evidence_list(conn, nomination_id)]
    return out


def _nominee_of(row: asyncpg.Record) -> Nominee:
    return Nominee(kind=row["nominee_kind"], nominee_id=row["nominee_id"],
                   unit_id=row["nominee_unit"], name=row["nominee_name"])


def _nomination_out(row: asyncpg.Record) -> NominationOut:
    flags = []
    if not row["enrolled"]:
        flags.append("not_enrolled")
    if row["needs_reappraisal"]:
        flags.append("needs_reappraisal")
    return NominationOut(
        nomination_id=row["nomination_id"], form_code=row["form_code"], year=row["year"],
        nominee=_nominee_of(row), nominee_details=row["nominee_details"],
        proposing_unit_id=row["proposing_unit_id"], achievements=row["achievements"],
        status=row["status"], enrolled=row["enrolled"], flags=flags, council=row["council"],
        appraisal=row["appraisal"], rule_version=row["rule_version"],
        needs_reappraisal=row["needs_reappraisal"],
        reappraisal_reason=row["reappraisal_reason"], decision=row["decision"],
        revocation=row["revocation"], version=row["version"], created_at=row["created_at"],
        updated_at=row["updated_at"])


async def _facts(conn: Conn, row: asyncpg.Record) -> Facts:
    """The facts an appraisal checks. The unit's reported facts are read FOR SHARE: a
    correction being consumed meanwhile either commits first (and is read here) or waits for
    this appraisal to commit (and then finds it, and flags it for re-appraisal)."""
    facts = Facts(year=row["year"], form_code=row["form_code"],
                  awards=await repository.granted(conn, row["nominee_kind"], row["nominee_id"]))
    if row["nominee_kind"] == NomineeKind.UNIT.value:
        facts.reports, facts.targets = await repository.unit_facts(conn, row["nominee_unit"],
                                                                   lock=True)
    return facts


async def step(conn: Conn, ctx: Context, nomination_id: uuid.UUID, action: Step,
               body: BaseModel | None = None) -> NominationOut:
    """Take one step on a nomination, by a role with the authority for it; recorded."""
    if action in (Step.APPROVE, Step.REVOKE):
        # these also lock the nominee's other nominations (to flag them): one at a time per
        # nominee, taken before any row lock, or two of them could wait for each other
        found = await repository.nomination(conn, nomination_id)
        if found is not None:
            await repository.lock_nominee(conn, found["nominee_kind"], found["nominee_id"])
    row = await repository.lock_nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    current = Status(row["status"])
    after = domain.next_status(current, action)
    if not isinstance(after, Status):
        raise Conflict(after)
    form = await _form(conn, row["form_code"], field="")
    level = AuthorityLevel(form["authority_level"])
    year, proposer = row["year"], row["proposing_unit_id"]
    data: dict[str, Any] = body.model_dump(mode="json") if body is not None else {}
    comment: str | None = data.get("comment") or data.get("reason")
    changes: dict[str, Any] = {"status": after.value}
    details: Any = None
    payload: BaseModel | None = None
    common = {"nomination_id": nomination_id, "form_code": row["form_code"], "year": year,
              "nominee": _nominee_of(row), "proposing_unit_id": proposer}

    if action in (Step.EDIT, Step.SUBMIT):
        require_role(ctx.principal, Role.REPORTER)
        await _in_scope(conn, ctx.principal, proposer, year, "the proposing unit")
        if action is Step.EDIT:
            changes["achievements"] = data["achievements"]
        else:
            # registrations may have been made since the draft: look again
            enrolled = await repository.is_enrolled(conn, year, row["form_code"],
                                                    row["nominee_kind"], row["nominee_id"])
            changes["enrolled"] = enrolled
            payload = ev.NominationSubmitted(**common, enrolled=enrolled)
    elif action is Step.REVIEW:
        require_role(ctx.principal, Role.COUNCIL)
        await _in_scope(conn, ctx.principal, proposer, year, "the proposing unit")
        if data["votes_for"] <= data["votes_against"]:
            raise InvalidInput.on("votes_for", "the council did not vote for it; reject or "
                                               "return the nomination instead")
        council = {**data, "council_unit_id": str(ctx.principal.unit_id)}
        changes["council"] = council
        details = council
        payload = ev.NominationReviewed(
            **common, council_unit_id=ctx.principal.unit_id or proposer,
            votes_for=data["votes_for"], votes_against=data["votes_against"],
            votes_abstain=data["votes_abstain"])
    elif action is Step.APPRAISE:
        require_role(ctx.principal, Role.BOARD)
        await _in_scope(conn, ctx.principal, proposer, year, "the proposing unit")
        rule = domain.parse_rule(form["rule"])
        facts = await _facts(conn, row)
        result = domain.evaluate(rule, facts)
        used = domain.years_used(rule, year)
        appraisal = {
            "eligible": result.passed, "rule_version": form["rule_version"],
            "result": result.model_dump(mode="json"), "years_used": used,
            "reads_awards": domain.reads_awards(rule),
            "report_versions": {str(y): facts.reports[y].version for y in used
                                if y in facts.reports},
            "appraised_at": datetime.now(UTC).isoformat(),
        }
        changes.update(appraisal=appraisal, rule_version=form["rule_version"],
                       needs_reappraisal=False, reappraisal_reason=None)
        details = {"eligible": result.passed, "rule_version": form["rule_version"]}
        payload = ev.NominationAppraised(
            **common, rule_version=form["rule_version"], eligible=result.passed,
            results=[result])
    elif action is Step.APPROVE:
        decision = await _decision(conn, ctx, row, level, current, data)
        if row["needs_reappraisal"]:
            raise Conflict("a report or award this appraisal used has changed (a report was "
                           "corrected): appraise it again")
        if not (row["appraisal"] or {}).get("eligible"):
            raise Conflict("the appraisal found the nominee not eligible")
        changes["decision"] = decision.model_dump(mode="json")
        details = changes["decision"]
        payload = ev.NominationApproved(**common, decision=decision)
    elif action is Step.FORWARD:
        require_role(ctx.principal, Role.BOARD)
        await _in_scope(conn, ctx.principal, proposer, year, "the proposing unit")
        if not domain.above_province(level):
            raise Conflict(f"{row['form_code']} is granted within the province "
                           f"({level.value}); approve it instead")
        if row["needs_reappraisal"]:
            raise Conflict("facts this appraisal used have changed: appraise it again")
        if not (row["appraisal"] or {}).get("eligible"):
            raise Conflict("the appraisal found the nominee not eligible")
        payload = ev.NominationForwarded(**common, authority_level=level)
    elif action in (Step.REJECT, Step.RETURN):
        # each stage's own decider: the council before its review, the board after it, the
        # signing chairman may decline what is put before it
        require_role(ctx.principal, *STAGE_DECIDERS[action][current])
        await _in_scope(conn, ctx.principal, proposer, year, "the proposing unit")
        if (Role.CHAIRMAN in STAGE_DECIDERS[action][current]
                and not ctx.principal.has_any(Role.ADMIN, Role.BOARD)):
            # declined as the signing chairman: only the chairman who would sign it
            problem = domain.check_approval_level(level, await _chairman_level(conn, ctx, row))
            if problem:
                raise Forbidden(problem)
        reason = data["reason"]
        payload = (ev.NominationRejected(**common, reason=reason) if action is Step.REJECT
                   else ev.NominationReturned(**common, reason=reason))
    elif action is Step.REVOKE:
        decision = await _decision(conn, ctx, row, level, Status.APPRAISED, data["decision"])
        changes["revocation"] = {"reason": data["reason"],
                                 "decision": decision.model_dump(mode="json")}
        details = changes["revocation"]
        payload = ev.AwardRevoked(**common, reason=data["reason"], decision=decision)

    before = _nomination_out(row).model_dump(mode="json")
    await repository.update_nomination(conn, nomination_id, **changes)
    await repository.add_step(conn, nomination_id, action.value, after.value,
                              ctx.principal.subject, sorted(ctx.principal.roles), comment,
                              details)
    if action in (Step.APPROVE, Step.REVOKE):
        await _flag_award_readers(conn, ctx, row, action)
    out = await get_nomination(conn, nomination_id)
    await ctx.audit(conn, f"nomination.{action.value}", "nomination", str(nomination_id),
                    before, out.model_dump(mode="json", exclude={"steps", "evidence"}))
    if payload is not None:
        await ctx.publish(conn, row["nominee_id"], payload)
    ctx.after_commit(m.NOMINATION_STEPS.labels(action.value).inc)
    return out


async def _flag_award_readers(conn: Conn, ctx: Context, row: asyncpg.Record,
                              action: Step) -> None:
    """Granting or revoking an award changes what the rules reading the nominee's awards
    (``held_title_consecutive``, ``no_award_within``) see: the nominee's other appraised or
    decided nominations of later years whose rule reads awards are flagged for re-appraisal
    (those rules read only the years before the nominated one)."""
    verb = "granted" if action is Step.APPROVE else "revoked"
    reason = (f"the nominee's award {row['form_code']} of {row['year']} was {verb}: "
              "appraise again")
    details = {"nomination_id": str(row["nomination_id"]), "form_code": row["form_code"],
               "year": row["year"], "change": verb}
    flagged = 0
    for other in await repository.lock_award_readers(
            conn, row["nominee_kind"], row["nominee_id"], row["nomination_id"], row["year"]):
        appraisal: dict[str, Any] = other["appraisal"]
        reads = appraisal.get("reads_awards")
        if reads is None:  # appraised before this was recorded: look at the rule it used
            reads = domain.reads_awards(domain.parse_rule(appraisal["result"]["rule"]))
        if not reads:
            continue
        await repository.update_nomination(conn, other["nomination_id"],
                                           needs_reappraisal=True, reappraisal_reason=reason)
        await repository.add_step(conn, other["nomination_id"], "flag_reappraisal",
                                  other["status"], ctx.principal.subject,
                                  sorted(ctx.principal.roles), reason, details)
        await ctx.audit(conn, "nomination.flag_reappraisal", "nomination",
                        other["nomination_id"],
                        {"needs_reappraisal": other["needs_reappraisal"]},
                        {"needs_reappraisal": True, "reason": reason, **details})
        flagged += 1
    ctx.after_commit(partial(m.REAPPRAISAL_FLAGS.inc, flagged))


async def _chairman_level(conn: Conn, ctx: Context, row: asyncpg.Record) -> AuthorityLevel:
    """The level a chairman in scope of the proposing unit signs at (by its unit's kind)."""
    require_role(ctx.principal, Role.CHAIRMAN)
    assert ctx.principal.unit_id is not None
    await _in_scope(conn, ctx.principal, row["proposing_unit_id"], row["year"],
                    "the proposing unit")
    # the chairman signs today, as its unit stands now; the period starts no later than
    # today, or a nomination of a year not yet begun made PostgreSQL fail (500)
    today = _today()
    day = await hierarchy.last_day_active(conn, ctx.principal.unit_id,
                                          min(date(row["year"], 1, 1), today), today)
    unit = await hierarchy.unit_on(conn, ctx.principal.unit_id, day) if day else None
    chair = domain.CHAIRMAN_LEVEL.get(unit.kind) if unit else None
    if chair is None:
        raise Forbidden("only the chairman of a commune, district or province signs")
    return chair


async def _decision(conn: Conn, ctx: Context, row: asyncpg.Record, level: AuthorityLevel,
                    current: Status, data: dict[str, Any]) -> Decision:
    """Who may sign at ``level``: the chairman of a unit of that level above the proposing
    unit; for a form above the province (forwarded), the board records the central decision."""
    if domain.above_province(level):
        require_role(ctx.principal, Role.BOARD)
        if current is not Status.FORWARDED and row["status"] != Status.APPROVED.value:
            raise Conflict("a form above the province's authority is forwarded first")
        await _in_scope(conn, ctx.principal, row["proposing_unit_id"], row["year"],
                        "the proposing unit")
        signer_level = level
    else:
        if Role.ADMIN in ctx.principal.roles:
            signer_level = level
        else:
            chair = await _chairman_level(conn, ctx, row)
            problem = domain.check_approval_level(level, chair)
            if problem:
                raise Forbidden(problem)
            signer_level = chair
    d = DecisionIn.model_validate(data) if not isinstance(data, DecisionIn) else data
    return Decision(number=d.number, signed_on=d.signed_on, signer=d.signer,
                    authority_level=signer_level)


async def add_evidence(conn: Conn, ctx: Context, nomination_id: uuid.UUID, file_name: str,
                       media_type: str, content: bytes) -> EvidenceOut:
    row = await repository.lock_nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    require_role(ctx.principal, Role.REPORTER, Role.COUNCIL, Role.BOARD)
    await _in_scope(conn, ctx.principal, row["proposing_unit_id"], row["year"],
                    "the proposing unit")
    if Status(row["status"]) not in domain.OPEN:
        raise Conflict(f"evidence cannot be added to a nomination that is {row['status']}")
    if not content:
        raise InvalidInput.on("body", "the file is empty")
    evidence_id = uuid.uuid4()
    digest = hashlib.sha256(content).hexdigest()
    await repository.add_evidence(conn, evidence_id, nomination_id, file_name, media_type,
                                  content, digest, ctx.principal.subject)
    meta = {"evidence_id": str(evidence_id), "file_name": file_name, "media_type": media_type,
            "size_bytes": len(content), "sha256": digest}
    await repository.add_step(conn, nomination_id, "evidence", row["status"],
                              ctx.principal.subject, sorted(ctx.principal.roles), file_name,
                              meta)
    await ctx.audit(conn, "nomination.evidence", "nomination", str(nomination_id),
                    None, meta)
    return EvidenceOut(evidence_id=evidence_id, file_name=file_name, media_type=media_type,
                       size_bytes=len(content), sha256=digest, added_by=ctx.principal.subject,
                       added_at=datetime.now(UTC))


async def evidence_file(conn: Conn, principal: Principal, nomination_id: uuid.UUID,
                        evidence_id: uuid.UUID) -> asyncpg.Record:
    """A file of a dossier, for the board, or for whoever may act on the proposing unit."""
    row = await repository.nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    if not principal.has_any(Role.ADMIN, Role.BOARD):
        await _in_scope(conn, principal, row["proposing_unit_id"], row["year"],
                        "the proposing unit")
    found = await repository.evidence_content(conn, nomination_id, evidence_id)
    if found is None:
        raise NotFound(f"evidence {evidence_id} not found")
    return found


# --------------------------------------------------------------------------- lists


async def search(conn: Conn, *, year: int | None, status: Status | None,
                 form_code: str | None, unit_id: uuid.UUID | None, limit: int,
                 offset: int) -> NominationPage:
    unit_ids = None
    if unit_id is not None:
        unit_ids = [u.unit_id for u in await hierarchy.subtree(
            conn, unit_id, date(year, 12, 31) if year else _today())]
    total, rows = await repository.search_nominations(
        conn, year=year, status=status.value if status else None, form_code=form_code,
        unit_ids=unit_ids, limit=limit, offset=offset)
    return NominationPage(total=total, limit=limit, offset=offset,
                          items=[_nomination_out(r) for r in rows])


async def public_awards(conn: Conn, year: int) -> list[PublicAward]:
    forms = {r["code"]: r["name_vi"] for r in await repository.forms(conn)}
    return [PublicAward(year=r["year"], form_code=r["form_code"],
                        form_name=forms.get(r["form_code"], r["form_code"]),
                        nominee_kind=r["nominee_kind"], nominee_name=r["nominee_name"],
                        unit_id=r["nominee_unit"], decision=r["decision"])
            for r in await repository.approved_in(conn, year)]


async def nominee_history(conn: Conn, kind: NomineeKind, nominee_id: str
                          ) -> list[NominationOut]:
    return [_nomination_out(r) for r in await repository.nominee_awards(conn, kind.value,
                                                                        nominee_id)]


async def candidates(conn: Conn, form_code: str, year: int, root: uuid.UUID | None
                     ) -> list[Candidate]:
    """Units whose reported data meets the form's rules and that have no nomination yet."""
    form = await _form(conn, form_code)
    for_whom = ForWhom(form["for_whom"])
    if domain.NOMINEE_KINDS[for_whom] is not NomineeKind.UNIT:
        raise InvalidInput.on("form_code", "candidates are found for units only")
    rule = domain.parse_rule(form["rule"])
    day = date(year, 12, 31)
    units = (await hierarchy.subtree(conn, root, day) if root
             else await hierarchy.active_on(conn, day))
    kinds = {UnitKind.VILLAGE} if for_whom is ForWhom.VILLAGE else {UnitKind.COMMUNE,
                                                                    UnitKind.DISTRICT}
    taken = await repository.nominated(conn, form_code, year)
    out = []
    for u in units:
        if u.kind not in kinds or str(u.unit_id) in taken:
            continue
        facts = Facts(year=year, form_code=form_code,
                      awards=await repository.granted(conn, NomineeKind.UNIT.value,
                                                      str(u.unit_id)))
        facts.reports, facts.targets = await repository.unit_facts(conn, u.unit_id)
        result = domain.evaluate(rule, facts)
        if result.passed:
            out.append(Candidate(unit_id=u.unit_id, code=u.code, name=u.name,
                                 kind=u.kind.value, results=[result.model_dump(mode="json")]))
    return out
