"""Use cases of the awards service. Each runs inside the caller's transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Principal, Role, require_role
from chungtay_common.context import Context
from chungtay_common.contracts import awards as ev
from chungtay_common.contracts.awards import AuthorityLevel, Decision, Nominee, NomineeKind
from chungtay_common.contracts.indicators import (
    ReportAccepted,
    ReportReopened,
    ReportReturned,
    ReportSubmitted,
    TargetSet,
)
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import InvalidInput, NotFound
from chungtay_common.refusals import RuleBroken
from chungtay_common.request_body import clean_name
from services.awards import domain, repository
from services.awards import metrics as m
from services.awards.domain import Facts, Form, ForWhom, Status, Step
from services.awards.schemas import (
    Candidate,
    CommentIn,
    DecisionIn,
    EditIn,
    EnrollmentIn,
    EnrollmentOut,
    EvidenceFile,
    EvidenceOut,
    FormIn,
    FormOut,
    InitiativeIn,
    InitiativeOut,
    NominationIn,
    NominationOut,
    NominationPage,
    NomineeIn,
    PersonLinkIn,
    PersonOut,
    PublicAward,
    ReasonIn,
    ReviewIn,
    RevokeIn,
    RuleIn,
    RuleVersionOut,
    StepOut,
    VotingIn,
    WindowIn,
    WindowOut,
)

# The catalogue an installation starts with, as data: rules summarised from the Law on
# Emulation and Commendation (2003, amended 2013) and Decree 91/2017/NĐ-CP, standing in for the
# province's regulation (Quyết định 3630/QĐ-UBND, text not at hand); the board edits them.
SEED_FORMS = domain.seed_forms(
    (Path(__file__).parents[1] / "data" / "seed_forms.csv").read_text(encoding="utf-8"))
SEED_NOTE = ("seed: summarised from the Law on Emulation and Commendation and Decree "
             "91/2017/NĐ-CP, standing in for Quyết định 3630/QĐ-UBND (the board edits it)")

# --------------------------------------------------------------------------- catalogue


def _form_out(r: asyncpg.Record) -> FormOut:
    level = AuthorityLevel(r["authority_level"])
    return FormOut(code=r["code"], name_vi=r["name_vi"], category=r["category"],
                   for_whom=r["for_whom"], authority_level=level,
                   above_province=domain.above_province(level),
                   rule_version=r["rule_version"], rule=r["rule"],
                   vote_threshold=float(r["vote_threshold"]),
                   vote_comparison=r["vote_comparison"],
                   secret_ballot_required=r["secret_ballot_required"],
                   signer_unit_kinds=list(_signers(r)), also_for=r["also_for"])


def _signers(form: asyncpg.Record) -> tuple[UnitKind, ...]:
    """The kinds of unit whose head signs a form (stored, or by its authority level)."""
    if form["signer_unit_kinds"] is None:
        return domain.default_signers(AuthorityLevel(form["authority_level"]))
    return tuple(UnitKind(k) for k in form["signer_unit_kinds"])


async def _form(conn: Conn, code: str, field: str = "form_code") -> asyncpg.Record:
    """A form by its code: a form named in the body is refused naming ``field``, one named by
    the path (``field`` empty) is not found."""
    row = await repository.form(conn, code)
    if row is None:
        raise InvalidInput.on(field, f"no award form {code}") if field else NotFound(
            f"award form {code} not found")
    return row


async def _add_form(conn: Conn, ctx: Context, form: Form, rule_data: dict[str, Any],
                    note: str | None, action: str, *, announce: bool = True) -> FormOut:
    """A new form with the first version of its rule: audited, and the rule announced (unless
    the caller announces it)."""
    rule = domain.checked_rule(rule_data)
    await repository.insert_form(conn, form)
    version = await repository.add_rule_version(conn, form.code, rule, note, ctx.actor.subject)
    out = _form_out(await _form(conn, form.code, field=""))
    await ctx.audit(conn, action, "award_form", form.code, None, out.model_dump(mode="json"))
    if announce:
        await ctx.publish(conn, form.code,
                          ev.AwardRuleChanged(form_code=form.code, version=version, rule=rule))
    return out


async def seed_catalogue(conn: Conn, ctx: Context) -> int:
    """Bring the catalogue to the seed (at start-up, as the system): a missing form is added;
    an existing one takes the seed's official name, and the seed's rule as a new rule version
    by the system unless the board has changed the rule since (then the board's stands).
    Then every form's current rule is announced (``award_rule.changed`` with its version, the
    same event again for a rule announced before): a service that learns the rules from these
    events (the indicators service, which keeps the indicators a rule reads from retirement)
    learns the rules written before it listened, or whose events retention dropped.
    Returns how many forms were added or changed."""
    await repository.lock_seed(conn)
    existing = {r["code"]: r for r in await repository.forms(conn)}
    changed = 0
    for form, rule in SEED_FORMS:
        row = existing.get(form.code)
        if row is None:
            await _add_form(conn, ctx, form, rule, SEED_NOTE, "award_form.seed", announce=False)
            changed += 1
        elif await _reseed(conn, ctx, row, form, domain.checked_rule(rule)):
            changed += 1
    for row in await repository.forms(conn):
        if row["rule_version"] is not None:
            await ctx.publish(conn, row["code"], ev.AwardRuleChanged(
                form_code=row["code"], version=row["rule_version"], rule=row["rule"]))
    return changed


async def _reseed(conn: Conn, ctx: Context, row: asyncpg.Record, form: Form,
                  rule: dict[str, Any]) -> bool:
    """A seeded form brought to the current seed; audited when it changed (its rule is
    announced with the others')."""
    rename = row["name_vi"] != form.name_vi
    by_system = await repository.latest_rule_author(conn, form.code) == ctx.actor.subject
    new_rule = by_system and row["rule"] != rule
    if not (rename or new_rule):
        return False
    before = _form_out(row)
    if rename:
        await repository.rename_form(conn, form.code, form.name_vi)
    if new_rule:
        await repository.add_rule_version(conn, form.code, rule, SEED_NOTE, ctx.actor.subject)
    out = _form_out(await _form(conn, form.code, field=""))
    await ctx.audit(conn, "award_form.reseed", "award_form", form.code,
                    before.model_dump(mode="json"), out.model_dump(mode="json"))
    return True


async def list_forms(conn: Conn) -> list[FormOut]:
    return [_form_out(r) for r in await repository.forms(conn)]


async def add_form(conn: Conn, ctx: Context, body: FormIn) -> FormOut:
    require_role(ctx.principal, Role.BOARD)
    form = Form(body.code, body.name_vi, body.category, body.for_whom, body.authority_level,
                domain.vote_rule(body.vote_threshold, body.vote_comparison,
                                 body.secret_ballot_required),
                None if body.signer_unit_kinds is None else tuple(body.signer_unit_kinds),
                tuple(body.also_for))
    return await _add_form(conn, ctx, form, body.rule, None, "award_form.add")


async def change_rule(conn: Conn, ctx: Context, code: str, body: RuleIn) -> FormOut:
    """A new version of a form's criteria; nominations keep the version they were checked on."""
    require_role(ctx.principal, Role.BOARD)
    before = _form_out(await _form(conn, code, field=""))
    rule = domain.checked_rule(body.rule)
    version = await repository.add_rule_version(conn, code, rule, body.note, ctx.actor.subject)
    out = _form_out(await _form(conn, code, field=""))
    await ctx.audit(conn, "award_rule.change", "award_form", code,
                    before.model_dump(mode="json"), out.model_dump(mode="json"))
    await ctx.publish(conn, code,
                      ev.AwardRuleChanged(form_code=code, version=version, rule=rule))
    ctx.after_commit(m.RULE_CHANGES.inc)
    return out


async def set_voting(conn: Conn, ctx: Context, code: str, body: VotingIn) -> FormOut:
    """The board sets what a form needs of the council (the share of all members, more than or
    at least, a secret ballot), whose head signs it and the other kinds of nominee it goes to;
    audited. The start-up's seed does not change them back."""
    require_role(ctx.principal, Role.BOARD)
    row = await _form(conn, code, field="")
    before = _form_out(row)
    await repository.set_voting(conn, Form(
        code, row["name_vi"], domain.Category(row["category"]), ForWhom(row["for_whom"]),
        AuthorityLevel(row["authority_level"]),
        domain.vote_rule(body.vote_threshold, body.vote_comparison,
                         body.secret_ballot_required),
        None if body.signer_unit_kinds is None else tuple(body.signer_unit_kinds),
        tuple(body.also_for)))
    out = _form_out(await _form(conn, code, field=""))
    await ctx.audit(conn, "award_form.voting", "award_form", code,
                    before.model_dump(mode="json"), out.model_dump(mode="json"))
    return out


async def rule_history(conn: Conn, code: str) -> list[RuleVersionOut]:
    await _form(conn, code, field="")
    return [RuleVersionOut(**{k: r[k] for k in RuleVersionOut.model_fields})
            for r in await repository.rule_versions(conn, code)]


# --------------------------------------------------------------------------- nominees


async def _nominee(conn: Conn, n: NomineeIn, form: asyncpg.Record, year: int,
                   under: uuid.UUID, field: str, proposer: str) -> Nominee:
    """The nominee of a registration or a nomination as its unit stood on its last day in the
    year (it may have existed for part of the year only): of the kind ``form`` is for, and the
    ``proposer`` unit ``under`` or below it."""
    day = await hierarchy.last_day_active(conn, n.unit_id, date(year, 1, 1), date(year, 12, 31))
    unit = await hierarchy.unit_on(conn, n.unit_id, day) if day else None
    if day is None or unit is None:
        raise InvalidInput.on(f"{field}.unit_id", f"is not a unit active in {year}")
    domain.check_nominee(n.kind, n.name, unit.kind, field)
    domain.check_for_whom(form["code"], ForWhom(form["for_whom"]), n.kind, unit.kind, field,
                          [ForWhom(k) for k in form["also_for"]])
    if under not in await hierarchy.ancestry(conn, n.unit_id, day):
        raise InvalidInput.on(f"{field}.unit_id", f"is not the {proposer} unit or below it")
    return await _person_or(conn, n, field,
                            unit.name if n.kind is NomineeKind.UNIT else str(n.name))


async def _person_or(conn: Conn, n: NomineeIn, field: str, name: str) -> Nominee:
    """The nominee with its id; a person is recorded, so namesakes can be flagged and records
    linked: by citizen ID number when given (found by it; a new one gets a random id, and the
    number given under another name is refused), else by unit and name as compared."""
    domain.check_citizen_id(n.kind, n.citizen_id, field)
    name = clean_name(name)
    key = domain.name_key(name)
    if n.kind is NomineeKind.PERSON and n.citizen_id:
        person = await repository.citizen(conn, str(uuid.uuid4()), n.unit_id, name, key,
                                          n.citizen_id)
        domain.check_citizen_name(person["name_key"], key, field)
        return Nominee(kind=n.kind, unit_id=n.unit_id, name=name,
                       nominee_id=person["nominee_id"])
    nominee = Nominee(kind=n.kind, unit_id=n.unit_id, name=name,
                      nominee_id=domain.nominee_id(n.kind, n.unit_id, name))
    if n.kind is NomineeKind.PERSON:
        await repository.save_person(conn, nominee.nominee_id, n.unit_id, name, key)
    return nominee


async def _history(conn: Conn, kind: str, nominee_id: str) -> list[str]:
    """The records whose awards and initiatives are the nominee's: a person's own and those
    of the earlier records the board linked it to."""
    if kind != NomineeKind.PERSON.value:
        return [nominee_id]
    return await repository.earlier_records(conn, nominee_id)


async def _possible_duplicates(conn: Conn, row: asyncpg.Record) -> list[str]:
    """Other person records of the nominee's unit with the same name (one of the two without
    a citizen ID number), not linked to the nominee: flagged, never merged."""
    if row["nominee_kind"] != NomineeKind.PERSON.value:
        return []
    nid = row["nominee_id"]
    linked = (await repository.earlier_records(conn, nid)
              + await repository.later_records(conn, nid))
    return await repository.namesakes(conn, nid, row["nominee_unit"],
                                      domain.name_key(row["nominee_name"]), linked)


async def _in_scope(conn: Conn, principal: Principal, unit_id: uuid.UUID, year: int,
                    what: str) -> list[uuid.UUID]:
    """Refuse unless the unit existed in ``year`` (422) and the caller holds authority over it
    today, the day of the action (403): the acting unit as the hierarchy stands today, so a
    district abolished since has lost its authority and the unit's present district holds it.
    The unit's chain of authority is returned."""
    day = await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1), date(year, 12, 31))
    if day is None:
        raise InvalidInput.on("unit_id", f"is not a unit active in {year}")
    return await hierarchy.ensure_authority(conn, principal, unit_id, clock.today(), what)


# --------------------------------------------------------------------------- enrollments


async def set_window(conn: Conn, ctx: Context, year: int, body: WindowIn) -> WindowOut:
    require_role(ctx.principal, Role.BOARD)
    before = await repository.window(conn, year)
    await repository.set_window(conn, year, body.closes_on, ctx.actor.subject)
    await ctx.audit(conn, "enrollment_window.set", "enrollment_window", str(year),
                    {"closes_on": str(before)} if before else None,
                    {"closes_on": str(body.closes_on)})
    return WindowOut(year=year, closes_on=body.closes_on)


async def enroll(conn: Conn, ctx: Context, body: EnrollmentIn) -> EnrollmentOut:
    """Register the titles and forms a unit aims for in a year (before the window closes)."""
    require_role(ctx.principal, Role.REPORTER, Role.REGISTRAR)
    await _in_scope(conn, ctx.principal, body.unit_id, body.year, "the registering unit")
    domain.check_window(body.year, await repository.window(conn, body.year), clock.today())
    items = []
    for i, item in enumerate(body.items):
        where = f"items.{i}"
        form = await _form(conn, item.form_code, f"{where}.form_code")
        items.append((item.form_code, await _nominee(
            conn, item.nominee, form, body.year, body.unit_id, f"{where}.nominee",
            "registering")))
    enrollment_id = uuid.uuid4()
    await repository.insert_enrollment(
        conn, enrollment_id, body.unit_id, body.year, ctx.actor.subject,
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


async def list_enrollments(conn: Conn, ctx: Context, year: int, unit_id: uuid.UUID | None
                           ) -> list[dict[str, Any]]:
    """The registrations of a year that the caller may read (of one unit of its subtree, or
    of all of it); the read is audited."""
    units = [unit_id] if unit_id else await readable_units(conn, ctx, None)
    if unit_id:
        await _may_read(conn, ctx, unit_id, "unit_id")
    rows = [dict(r) for r in await repository.enrollments(conn, year, units)]
    await _audit_read(ctx, conn, "enrollment.list", "enrollment", {
        "year": year, "unit_id": str(unit_id) if unit_id else None, "count": len(rows)})
    return rows


# --------------------------------------------------------------------------- reading dossiers


async def _may_read(conn: Conn, ctx: Context, unit_id: uuid.UUID, what: str) -> None:
    """Refuse (403) a read of a dossier, registration or person of a unit the caller holds no
    authority over today (the board: of its province; the administrator: all)."""
    await hierarchy.ensure_authority(conn, ctx.principal, unit_id, clock.today(), what)


async def readable_units(conn: Conn, ctx: Context, unit_id: uuid.UUID | None
                          ) -> list[uuid.UUID] | None:
    """The units whose dossiers the caller may list: the subtree of ``unit_id`` (by default
    the caller's own unit) as the hierarchy stands today, units since closed where they stood
    last (``hierarchy.authority_subtree``); None: every unit (the administrator, asking for no
    unit)."""
    if unit_id is None and Role.ADMIN in ctx.principal.roles:
        return None
    root = unit_id or ctx.principal.unit_id
    assert root is not None  # a token without a unit is an administrator's
    await _may_read(conn, ctx, root, "unit_id")
    return await hierarchy.authority_subtree(conn, root, clock.today())


async def _audit_read(ctx: Context, conn: Conn, action: str, entity_type: str,
                      what: dict[str, Any], entity_id: object = "-") -> None:
    """A read of personal data, in the audit log: who, when, which record or which query."""
    await ctx.audit(conn, action, entity_type, entity_id, None, what)


# --------------------------------------------------------------------------- nominations


async def create_nomination(conn: Conn, ctx: Context, body: NominationIn) -> NominationOut:
    """Draft a nomination dossier for the proposing unit."""
    require_role(ctx.principal, Role.REPORTER)
    await _in_scope(conn, ctx.principal, body.proposing_unit_id, body.year,
                    "the proposing unit")
    form = await _form(conn, body.form_code)
    nominee = await _nominee(conn, body.nominee, form, body.year, body.proposing_unit_id,
                             "nominee", "proposing")
    enrolled = await repository.is_enrolled(conn, body.year, body.form_code,
                                            nominee.kind.value, nominee.nominee_id)
    nomination_id = uuid.uuid4()
    await repository.insert_nomination(conn, {
        "nomination_id": nomination_id, "form_code": body.form_code, "year": body.year,
        "nominee_kind": nominee.kind.value, "nominee_id": nominee.nominee_id,
        "nominee_name": nominee.name, "nominee_unit": nominee.unit_id,
        "nominee_details": {"position": body.nominee.position} if body.nominee.position else {},
        "proposing_unit_id": body.proposing_unit_id, "achievements": body.achievements,
        "status": Status.DRAFTED.value, "enrolled": enrolled})
    await repository.add_step(conn, nomination_id, "draft", Status.DRAFTED.value,
                              ctx.actor.subject, ctx.actor.roles, None, None)
    out = await get_nomination(conn, nomination_id)
    await ctx.audit(conn, "nomination.draft", "nomination", str(nomination_id),
                    None, out.model_dump(mode="json"))
    ctx.after_commit(m.NOMINATION_STEPS.labels("draft").inc)
    return out


async def read_nomination(conn: Conn, ctx: Context, nomination_id: uuid.UUID
                          ) -> NominationOut:
    """A dossier, for a caller with authority over its proposing unit (the board: of its
    province); the read is audited (``nomination.read``)."""
    row = await repository.nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    await _may_read(conn, ctx, row["proposing_unit_id"], "the proposing unit")
    await _audit_read(ctx, conn, "nomination.read", "nomination", {}, nomination_id)
    return await get_nomination(conn, nomination_id)


async def get_nomination(conn: Conn, nomination_id: uuid.UUID) -> NominationOut:
    row = await repository.nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    out = _nomination_out(row)
    out.possible_duplicate_of = await _possible_duplicates(conn, row)
    if out.possible_duplicate_of:
        out.flags.append("possible_duplicate")
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


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class _Dossier:
    """A nomination a step is taken on (its row locked), with its form."""

    row: asyncpg.Record
    form: asyncpg.Record

    @property
    def status(self) -> Status:
        return Status(self.row["status"])

    @property
    def level(self) -> AuthorityLevel:
        return AuthorityLevel(self.form["authority_level"])

    @property
    def year(self) -> int:
        year: int = self.row["year"]
        return year

    def event(self) -> dict[str, Any]:
        """What every nomination event says."""
        return {"nomination_id": self.row["nomination_id"], "form_code": self.row["form_code"],
                "year": self.year, "nominee": _nominee_of(self.row),
                "proposing_unit_id": self.row["proposing_unit_id"]}


@dataclass
class _Change:
    """What a step changes besides the status, what its record says, what it announces."""

    fields: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    details: Any = None
    event: BaseModel | None = None


async def _dossier(conn: Conn, nomination_id: uuid.UUID, action: Step) -> _Dossier:
    if action in (Step.APPROVE, Step.REVOKE):
        # these also lock the nominee's other nominations (to flag them): one at a time per
        # nominee, taken before any row lock, or two of them could wait for each other
        found = await repository.nomination(conn, nomination_id)
        if found is not None:
            await repository.lock_nominee(conn, found["nominee_kind"], found["nominee_id"])
    row = await repository.lock_nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    return _Dossier(row, await _form(conn, row["form_code"], field=""))


async def step(conn: Conn, ctx: Context, nomination_id: uuid.UUID, action: Step,
               body: BaseModel | None = None) -> NominationOut:
    """Take one step on a nomination, by a role with the authority for it; recorded."""
    d = await _dossier(conn, nomination_id, action)
    after = domain.next_status(d.status, action)
    domain.may_take(action, d.status, d.level, ctx.principal.roles)
    await _in_scope(conn, ctx.principal, d.row["proposing_unit_id"], d.year,
                    "the proposing unit")
    if action in domain.DECIDING_STEPS:
        domain.check_not_proposer(ctx.principal.subject, await repository.proposers(
            conn, nomination_id))
    change = await STEPS[action](conn, ctx, d, body)
    before = _nomination_out(d.row).model_dump(mode="json")
    await repository.update_nomination(conn, nomination_id, status=after.value, **change.fields)
    await repository.add_step(conn, nomination_id, action.value, after.value,
                              ctx.actor.subject, ctx.actor.roles, change.comment or None,
                              change.details)
    if action in (Step.APPROVE, Step.REVOKE):
        await _flag_award_readers(conn, ctx, d, action)
    out = await get_nomination(conn, nomination_id)
    await ctx.audit(conn, f"nomination.{action.value}", "nomination", str(nomination_id),
                    before, out.model_dump(mode="json", exclude={"steps", "evidence"}))
    if change.event is not None:
        await ctx.publish(conn, d.row["nominee_id"], change.event)
    ctx.after_commit(m.NOMINATION_STEPS.labels(action.value).inc)
    return out


async def _edit(conn: Conn, ctx: Context, d: _Dossier, body: EditIn) -> _Change:
    return _Change({"achievements": body.achievements})


async def _submit(conn: Conn, ctx: Context, d: _Dossier, body: None) -> _Change:
    # registrations may have been made since the draft: look again
    enrolled = await repository.is_enrolled(conn, d.year, d.row["form_code"],
                                            d.row["nominee_kind"], d.row["nominee_id"])
    return _Change({"enrolled": enrolled},
                   event=ev.NominationSubmitted(**d.event(), enrolled=enrolled))


async def _council_may_decide(conn: Conn, ctx: Context, d: _Dossier) -> None:
    """The council that reviews, returns or rejects a submitted dossier is one above the
    proposing unit (``domain.check_council_may_review``)."""
    council = (await hierarchy.unit_on(conn, ctx.principal.unit_id, clock.today())
               if ctx.principal.unit_id else None)
    domain.check_council_may_review(
        d.row["proposing_unit_id"], ctx.principal.unit_id, ctx.principal.roles,
        NomineeKind(d.row["nominee_kind"]),
        council is not None and council.kind in _signers(d.form))


async def _review(conn: Conn, ctx: Context, d: _Dossier, body: ReviewIn) -> _Change:
    await _council_may_decide(conn, ctx, d)
    members = body.members
    domain.check_votes(
        domain.Ballot(body.votes_for, body.votes_against, body.votes_abstain, members,
                      body.secret_ballot),
        domain.vote_rule(d.form["vote_threshold"], d.form["vote_comparison"],
                         d.form["secret_ballot_required"]))
    record = {**body.model_dump(mode="json"), "members": members,
              "council_unit_id": str(ctx.principal.unit_id)}
    return _Change({"council": record}, body.comment, record, ev.NominationReviewedV2(
        **d.event(), council_unit_id=ctx.principal.unit_id or d.row["proposing_unit_id"],
        votes_for=body.votes_for, votes_against=body.votes_against,
        votes_abstain=body.votes_abstain, members=members, secret_ballot=body.secret_ballot))


async def _appraise(conn: Conn, ctx: Context, d: _Dossier, body: CommentIn) -> _Change:
    appraisal = domain.appraise(domain.parse_rule(d.form["rule"]), d.form["rule_version"],
                                await _facts(conn, d.row), clock.now())
    return _Change(
        {"appraisal": appraisal.record(), "rule_version": appraisal.rule_version,
         "needs_reappraisal": False, "reappraisal_reason": None}, body.comment,
        {"eligible": appraisal.eligible, "rule_version": appraisal.rule_version},
        ev.NominationAppraised(**d.event(), rule_version=appraisal.rule_version,
                               eligible=appraisal.eligible, results=[appraisal.result]))


async def _approve(conn: Conn, ctx: Context, d: _Dossier, body: DecisionIn) -> _Change:
    decision = await _decision(conn, ctx, d, Step.APPROVE, body)
    domain.check_decidable(d.row["needs_reappraisal"], d.row["appraisal"])
    record = decision.model_dump(mode="json")
    return _Change({"decision": record}, None, record,
                   ev.NominationApproved(**d.event(), decision=decision))


async def _forward(conn: Conn, ctx: Context, d: _Dossier, body: CommentIn) -> _Change:
    domain.check_forwardable(d.row["form_code"], d.level)
    domain.check_decidable(d.row["needs_reappraisal"], d.row["appraisal"])
    return _Change(comment=body.comment,
                   event=ev.NominationForwarded(**d.event(), authority_level=d.level))


async def _reject(conn: Conn, ctx: Context, d: _Dossier, body: ReasonIn) -> _Change:
    if d.status is Status.SUBMITTED:  # the council's stage
        await _council_may_decide(conn, ctx, d)
    if domain.declines_as_chairman(Step.REJECT, d.status, ctx.principal.roles):
        # only the chairman who would sign it declines it
        await _signer_level(conn, ctx, d)
    return _Change(comment=body.reason,
                   event=ev.NominationRejected(**d.event(), reason=body.reason))


async def _return(conn: Conn, ctx: Context, d: _Dossier, body: ReasonIn) -> _Change:
    if d.status is Status.SUBMITTED:  # the council's stage
        await _council_may_decide(conn, ctx, d)
    return _Change(comment=body.reason,
                   event=ev.NominationReturned(**d.event(), reason=body.reason))


async def _revoke(conn: Conn, ctx: Context, d: _Dossier, body: RevokeIn) -> _Change:
    decision = await _decision(conn, ctx, d, Step.REVOKE, body.decision)
    revocation = {"reason": body.reason, "decision": decision.model_dump(mode="json")}
    return _Change({"revocation": revocation}, body.reason, revocation,
                   ev.AwardRevoked(**d.event(), reason=body.reason, decision=decision))


STEPS: dict[Step, Callable[[Conn, Context, _Dossier, Any], Awaitable[_Change]]] = {
    Step.EDIT: _edit, Step.SUBMIT: _submit, Step.REVIEW: _review, Step.APPRAISE: _appraise,
    Step.APPROVE: _approve, Step.FORWARD: _forward, Step.REJECT: _reject,
    Step.RETURN: _return, Step.REVOKE: _revoke,
}


async def _decision(conn: Conn, ctx: Context, d: _Dossier, action: Step, body: DecisionIn
                    ) -> Decision:
    """The decision as signed: by the chairman of a unit of the form's level above the
    proposing unit; for a form above the province (forwarded), the board records the central
    decision."""
    domain.check_central_decision(action, d.status, d.level)
    signer = d.level
    if not domain.above_province(d.level):
        signer = await _signer_level(conn, ctx, d)
        if action is Step.APPROVE:
            domain.check_not_own_unit(NomineeKind(d.row["nominee_kind"]),
                                      d.row["nominee_unit"], ctx.principal.unit_id)
    return Decision(number=body.number, signed_on=body.signed_on, signer=body.signer,
                    authority_level=signer)


async def _signer_level(conn: Conn, ctx: Context, d: _Dossier) -> AuthorityLevel:
    """The level the calling head signs at: refused unless its unit is of a kind the form
    names as signer. A People's Committee chairman signs at its own level (a commune chairman
    signing Lao động tiên tiến signs as commune chairman); another head at the form's."""
    # the head signs today, as its unit stands today: a unit abolished since signs nothing
    today = clock.today()
    await hierarchy.ensure_acting_unit(conn, ctx.principal, today)
    unit = (await hierarchy.unit_on(conn, ctx.principal.unit_id, today)
            if ctx.principal.unit_id else None)
    kind = unit.kind if unit else None
    domain.check_signer(d.level, _signers(d.form), kind)
    assert kind is not None
    return domain.CHAIRMAN_LEVEL.get(kind, d.level)


async def _facts(conn: Conn, row: asyncpg.Record) -> Facts:
    """The facts an appraisal checks. The unit's reported facts are read FOR SHARE: a
    correction being consumed meanwhile either commits first (and is read here) or waits for
    this appraisal to commit (and then finds it, and flags it for re-appraisal)."""
    facts = Facts(year=row["year"], form_code=row["form_code"])
    for record in await _history(conn, row["nominee_kind"], row["nominee_id"]):
        facts.awards += await repository.granted(conn, row["nominee_kind"], record)
        facts.initiatives += await repository.initiatives(conn, row["nominee_kind"], record)
    if row["nominee_kind"] == NomineeKind.UNIT.value:
        facts.reports, facts.targets = await repository.unit_facts(
            conn, row["nominee_unit"], row["year"], lock=True)
    return facts


# --------------------------------------------------------------------------- re-appraisal


async def _flag_for_reappraisal(conn: Conn, ctx: Context, nominee_kind: str, nominee_id: str,
                                read: Callable[[asyncpg.Record], bool], reason: str,
                                details: dict[str, Any]) -> None:
    """Flag the nominee's appraised or decided nominations whose appraisal ``read`` the fact
    that changed: each is locked (in a fixed order), looked at again, flagged, recorded as a
    step and audited. A person's history is also that of the later records linked to it."""
    records = ([nominee_id] if nominee_kind != NomineeKind.PERSON.value
               else await repository.later_records(conn, nominee_id))
    candidates = [r for record in records
                  for r in await repository.reappraisable(conn, nominee_kind, record)]
    ids = [r["nomination_id"] for r in candidates if read(r)]
    flagged = [r for r in await repository.lock_reappraisable(conn, ids) if read(r)]
    for r in flagged:
        await repository.update_nomination(conn, r["nomination_id"], needs_reappraisal=True,
                                           reappraisal_reason=reason)
        await repository.add_step(conn, r["nomination_id"], "flag_reappraisal", r["status"],
                                  ctx.actor.subject, ctx.actor.roles, reason, details)
        await ctx.audit(conn, "nomination.flag_reappraisal", "nomination", r["nomination_id"],
                        {"needs_reappraisal": r["needs_reappraisal"]},
                        {"needs_reappraisal": True, "reason": reason, **details})
    ctx.after_commit(partial(m.REAPPRAISAL_FLAGS.inc, len(flagged)))


async def _flag_award_readers(conn: Conn, ctx: Context, d: _Dossier, action: Step) -> None:
    """Granting or revoking an award changes what the rules reading the nominee's awards
    (``held_title_consecutive``, ``no_award_within``) see in the later years."""
    verb = "granted" if action is Step.APPROVE else "revoked"
    form_code = d.row["form_code"]
    await _flag_for_reappraisal(
        conn, ctx, d.row["nominee_kind"], d.row["nominee_id"],
        lambda r: domain.read_award_of(r["appraisal"], r["year"], d.year, form_code),
        f"the nominee's award {form_code} of {d.year} was {verb}: appraise again",
        {"nomination_id": str(d.row["nomination_id"]), "form_code": form_code, "year": d.year,
         "change": verb})


async def record_report(conn: Conn, ctx: Context, report: ReportSubmitted,
                        event_id: uuid.UUID) -> None:
    """Keep a unit's submitted report (the latest version of each year); a correction flags
    the nominations whose appraisal read that year for re-appraisal."""
    replaced = await repository.save_report_facts(
        conn, report.campaign_id, report.unit_id, report.year, report.version,
        dict(report.values), report.on_time,
        getattr(report, "status", "submitted"))  # v1: a submitted report
    if replaced is None or replaced >= report.version:
        return
    await _flag_for_reappraisal(
        conn, ctx, NomineeKind.UNIT.value, str(report.unit_id),
        lambda r: domain.read_year(r["appraisal"], report.year),
        f"the {report.year} report was corrected (version {replaced} → {report.version})",
        {"event_id": str(event_id), "unit_id": str(report.unit_id), "year": report.year,
         "from_version": replaced, "to_version": report.version})


async def record_report_status(conn: Conn, report: ReportAccepted | ReportReturned
                               | ReportReopened, status: str) -> None:
    """A report accepted, returned or reopened."""
    await repository.set_report_status(conn, report.campaign_id, report.unit_id, report.year,
                                       report.version, status)


async def record_target(conn: Conn, target: TargetSet) -> None:
    await repository.save_target(conn, target.campaign_id, target.unit_id, target.year,
                                 target.reduction_pp_min, target.households_out_min)


# --------------------------------------------------------------------------- initiatives


async def record_initiative(conn: Conn, ctx: Context, body: InitiativeIn) -> InitiativeOut:
    """Record a person's recognised initiative (the board, or a council over the person's
    unit); the nominations of that year whose appraisal read initiatives are flagged."""
    require_role(ctx.principal, Role.BOARD, Role.COUNCIL)
    p = body.person
    domain.check_initiative_holder(p.kind, p.name)
    await _in_scope(conn, ctx.principal, p.unit_id, body.year, "the person's unit")
    person = await _person_or(conn, p, "person", str(p.name))
    initiative = domain.Initiative(body.year, body.title, body.recognised_by,
                                   body.decision_number, body.decided_on)
    out = InitiativeOut(initiative_id=uuid.uuid4(), person=person, year=body.year,
                        title=body.title, recognised_by=body.recognised_by,
                        decision_number=body.decision_number, decided_on=body.decided_on)
    await repository.add_initiative(
        conn, out.initiative_id, (p.kind.value, person.nominee_id, person.name, p.unit_id),
        initiative, ctx.actor.subject)
    await ctx.audit(conn, "initiative.record", "initiative", str(out.initiative_id), None,
                    out.model_dump(mode="json"))
    await _flag_for_reappraisal(
        conn, ctx, p.kind.value, person.nominee_id,
        lambda r: domain.read_initiative_of(r["appraisal"], r["year"], body.year),
        f"an initiative of {body.year} was recognised ({body.decision_number}): appraise again",
        {"initiative_id": str(out.initiative_id), "year": body.year})
    return out


async def list_initiatives(conn: Conn, kind: NomineeKind, nominee_id: str
                           ) -> list[dict[str, Any]]:
    return [{"year": i.year, "title": i.title, "recognised_by": i.recognised_by,
             "decision_number": i.decision_number, "decided_on": i.decided_on}
            for i in await repository.initiatives(conn, kind.value, nominee_id)]


# --------------------------------------------------------------------------- evidence


async def add_evidence(conn: Conn, ctx: Context, nomination_id: uuid.UUID,
                       file: EvidenceFile, max_files: int) -> EvidenceOut:
    """Attach a file to a dossier still on its way; its name, type, size and sha256 are kept.
    A dossier carries at most ``max_files`` files (counted under the nomination's lock)."""
    row = await repository.lock_nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    require_role(ctx.principal, Role.REPORTER, Role.COUNCIL, Role.BOARD)
    await _in_scope(conn, ctx.principal, row["proposing_unit_id"], row["year"],
                    "the proposing unit")
    domain.check_open(Status(row["status"]))
    if not file.content:
        raise RuleBroken("body", "the file is empty")
    domain.check_evidence_room(await repository.evidence_count(conn, nomination_id), max_files)
    out = EvidenceOut(evidence_id=uuid.uuid4(), file_name=file.file_name,
                      media_type=file.media_type, size_bytes=len(file.content),
                      sha256=hashlib.sha256(file.content).hexdigest(),
                      added_by=ctx.actor.subject, added_at=clock.now())
    await repository.add_evidence(conn, out.evidence_id, nomination_id, file.file_name,
                                  file.media_type, file.content, out.sha256, out.added_by)
    meta = out.model_dump(mode="json", include={"evidence_id", "file_name", "media_type",
                                                "size_bytes", "sha256"})
    await repository.add_step(conn, nomination_id, "evidence", row["status"],
                              ctx.actor.subject, ctx.actor.roles, file.file_name, meta)
    await ctx.audit(conn, "nomination.evidence", "nomination", str(nomination_id), None, meta)
    return out


async def evidence_file(conn: Conn, ctx: Context, nomination_id: uuid.UUID,
                        evidence_id: uuid.UUID) -> asyncpg.Record:
    """A file of a dossier, for whoever may read the dossier (``read_nomination``). Each
    download is audited (``evidence.read``: who, when, which file); nothing else is written."""
    row = await repository.nomination(conn, nomination_id)
    if row is None:
        raise NotFound(f"nomination {nomination_id} not found")
    await _may_read(conn, ctx, row["proposing_unit_id"], "the proposing unit")
    found = await repository.evidence_content(conn, nomination_id, evidence_id)
    if found is None:
        raise NotFound(f"evidence {evidence_id} not found")
    await ctx.audit(conn, "evidence.read", "evidence", str(evidence_id), None,
                    {"nomination_id": str(nomination_id), "file_name": found["file_name"],
                     "media_type": found["media_type"], "sha256": found["sha256"]})
    return found


# --------------------------------------------------------------------------- lists


async def search(conn: Conn, ctx: Context, *, year: int | None, status: Status | None,
                 form_code: str | None, unit_id: uuid.UUID | None, limit: int,
                 offset: int) -> NominationPage:
    """Dossiers the caller may read (``readable_units``), by year, status, form and unit;
    the query is audited (``nomination.search``)."""
    unit_ids = await readable_units(conn, ctx, unit_id)
    total, rows = await repository.search_nominations(
        conn, year=year, status=status.value if status else None, form_code=form_code,
        unit_ids=unit_ids, limit=limit, offset=offset)
    await _audit_read(ctx, conn, "nomination.search", "nomination", {
        "year": year, "status": status.value if status else None, "form_code": form_code,
        "unit_id": str(unit_id) if unit_id else None, "total": total})
    return NominationPage(total=total, limit=limit, offset=offset,
                          items=[_nomination_out(r) for r in rows])


async def public_awards(conn: Conn, year: int) -> list[PublicAward]:
    forms = {r["code"]: r["name_vi"] for r in await repository.forms(conn)}
    return [PublicAward(year=r["year"], form_code=r["form_code"],
                        form_name=forms.get(r["form_code"], r["form_code"]),
                        nominee_kind=r["nominee_kind"], nominee_name=r["nominee_name"],
                        unit_id=r["nominee_unit"], decision=r["decision"])
            for r in await repository.approved_in(conn, year)]


async def nominee_history(conn: Conn, ctx: Context, kind: NomineeKind, nominee_id: str
                          ) -> list[NominationOut]:
    """A nominee's awarded dossiers that the caller may read (the public list of awards is
    ``public_awards``); audited."""
    units = await readable_units(conn, ctx, None)
    rows = [r for r in await repository.nominee_awards(conn, kind.value, nominee_id)
            if units is None or r["proposing_unit_id"] in units]
    await _audit_read(ctx, conn, "nominee.history_read", "nominee",
                      {"kind": kind.value, "count": len(rows)}, nominee_id)
    return [_nomination_out(r) for r in rows]


async def candidates(conn: Conn, form_code: str, year: int, root: uuid.UUID | None
                     ) -> list[Candidate]:
    """Units whose reported data meets the form's rules and that have no nomination yet."""
    form = await _form(conn, form_code)
    kinds = domain.candidate_kinds(ForWhom(form["for_whom"]))
    rule = domain.parse_rule(form["rule"])
    day = date(year, 12, 31)
    units = (await hierarchy.subtree(conn, root, day) if root
             else await hierarchy.active_on(conn, day))
    taken = await repository.nominated(conn, form_code, year)
    out = []
    for u in units:
        if u.kind not in kinds or str(u.unit_id) in taken:
            continue
        facts = Facts(year=year, form_code=form_code,
                      awards=await repository.granted(conn, NomineeKind.UNIT.value,
                                                      str(u.unit_id)))
        facts.reports, facts.targets = await repository.unit_facts(conn, u.unit_id, year)
        result = domain.evaluate(rule, facts)
        if result.passed:
            out.append(Candidate(unit_id=u.unit_id, code=u.code, name=u.name,
                                 kind=u.kind.value, results=[result.model_dump(mode="json")]))
    return out


# --------------------------------------------------------------------------- persons


async def _person_out(conn: Conn, row: asyncpg.Record) -> PersonOut:
    nid = row["nominee_id"]
    linked = (await repository.earlier_records(conn, nid)
              + await repository.later_records(conn, nid))
    return PersonOut(nominee_id=nid, unit_id=row["unit_id"], name=row["name"],
                     has_citizen_id=row["citizen_id"] is not None, linked_to=row["linked_to"],
                     linked_by=row["linked_by"], linked_at=row["linked_at"],
                     possible_duplicate_of=await repository.namesakes(
                         conn, nid, row["unit_id"], row["name_key"], linked))


async def get_person(conn: Conn, ctx: Context, nominee_id: str) -> PersonOut:
    """A person record, for the board of the person's unit (and the administrator) only: it
    tells whether a citizen ID number identifies the person and which records are theirs.
    The read is audited (``person.read``)."""
    require_role(ctx.principal, Role.BOARD)
    person = await _get_person(conn, nominee_id)
    await _may_read(conn, ctx, person.unit_id, "the person's unit")
    await _audit_read(ctx, conn, "person.read", "person", {}, nominee_id)
    return person


async def _get_person(conn: Conn, nominee_id: str) -> PersonOut:
    row = await repository.person(conn, nominee_id)
    if row is None:
        raise NotFound(f"person {nominee_id} not found")
    return await _person_out(conn, row)


async def link_person(conn: Conn, ctx: Context, nominee_id: str, body: PersonLinkIn
                      ) -> PersonOut:
    """The board links a person's record to their earlier one (a person who moved to another
    unit, or was first recorded without a citizen ID number): the rules that read the
    person's history then read the earlier record's awards and initiatives too. Recorded in
    the audit log (who, when, why); the person's appraisals that read their history are
    flagged for a new one."""
    require_role(ctx.principal, Role.BOARD)
    row = await repository.person(conn, nominee_id, lock=True)
    if row is None:
        raise NotFound(f"person {nominee_id} not found")
    earlier = await repository.person(conn, body.earlier_id)
    if earlier is None:
        raise InvalidInput.on("earlier_id", f"no person {body.earlier_id}")
    domain.check_link(nominee_id, body.earlier_id,
                      await repository.earlier_records(conn, body.earlier_id), row["linked_to"],
                      (row["citizen_id"], earlier["citizen_id"]))
    before = await _person_out(conn, row)
    await repository.link_person(conn, nominee_id, body.earlier_id, ctx.actor.subject)
    out = await _get_person(conn, nominee_id)
    await ctx.audit(conn, "person.link", "person", nominee_id, before.model_dump(mode="json"),
                    {**out.model_dump(mode="json"), "reason": body.reason})
    await _flag_for_reappraisal(
        conn, ctx, NomineeKind.PERSON.value, nominee_id,
        lambda r: domain.reads_history(r["appraisal"]),
        f"the person was linked to their earlier record {body.earlier_id}: appraise again",
        {"earlier_id": body.earlier_id, "reason": body.reason})
    return out
