"""Triage's work on its own tables: find the child and the household, gather their
history, record the decision, record overrides. The decisions themselves are the
pure functions of `scoring`, `matching` and `deadlines`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, insert, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.triage.deadlines import decision_deadline
from services.triage.matching import (
    HouseholdView,
    Identity,
    Person,
    best_match,
    same_household,
    transposed,
)
from services.triage.models import Subject, SubjectIdentity, TriageDecision, TriageOverride
from services.triage.policy import ThresholdPolicy
from services.triage.scoring import Decision, PriorReport, ReportFacts, decide
from shared.auth import Principal
from shared.clock import as_utc
from shared.db import table_of
from shared.events import ReferralReceived, ReferralTriaged, TriageOverrideNote
from shared.problems import NotFound, Problem
from shared.report import ConcernReport, age_on

MEMBER_FLAGS = (
    "offending",
    "mental_health",
    "substance_misuse",
    "domestic_abuse_perpetrator",
    "domestic_abuse_victim",
)


# The consumer's statements, built once: SQLAlchemy compiles each once and caches it
# (ORM selects and unit-of-work flushes cost several times more per referral). They
# run on the session's connection, inside the handler's transaction.
_SUBJECTS = table_of(Subject)
_IDENTITIES = table_of(SubjectIdentity)
_DECISIONS = table_of(TriageDecision)
_INSERT_SUBJECT = insert(_SUBJECTS)
_INSERT_IDENTITY = insert(_IDENTITIES)
_INSERT_DECISION = insert(_DECISIONS)
_SUBJECT = core_select(_SUBJECTS).where(_SUBJECTS.c.key == bindparam("subject_key"))
# One read serves both matching (the same date of birth, exact or transposed, or the
# same pupil number) and household linking (the same postcode); each takes its rows
# in Python. A None parameter matches nothing.
_IDENTITIES_NEAR = (
    core_select(_IDENTITIES)
    .where(
        or_(
            _IDENTITIES.c.date_of_birth.in_(bindparam("dobs", expanding=True)),
            _IDENTITIES.c.upn == bindparam("upn"),
            _IDENTITIES.c.postcode == bindparam("postcode"),
        )
    )
    .order_by(_IDENTITIES.c.referral_id)
)
_SET_HOUSEHOLD = (
    update(_SUBJECTS)
    .where(_SUBJECTS.c.key == bindparam("subject_key"))
    .values(household_key=bindparam("household"))
)
_MOVE_HOUSEHOLD = (
    update(_SUBJECTS)
    .where(_SUBJECTS.c.household_key == bindparam("old"))
    .values(household_key=bindparam("household"))
)
_HOUSEHOLD_KEYS = core_select(_SUBJECTS.c.key).where(
    _SUBJECTS.c.household_key == bindparam("household")
)
_HISTORY = (
    core_select(
        _DECISIONS.c.referral_id,
        _DECISIONS.c.subject_key,
        _DECISIONS.c.reported_at,
        _DECISIONS.c.level,
        _DECISIONS.c.concern_codes,
        _DECISIONS.c.member_flags,
    )
    .where(_DECISIONS.c.subject_key.in_(bindparam("keys", expanding=True)))
    .where(_DECISIONS.c.reported_at >= bindparam("since"))
    .where(_DECISIONS.c.reported_at <= bindparam("until"))
    .where(_DECISIONS.c.referral_id.not_in(bindparam("exclude", expanding=True)))
    .order_by(_DECISIONS.c.reported_at, _DECISIONS.c.referral_id)
)


def identity_of(report: ConcernReport) -> Identity:
    upn = report.school.upn if report.school is not None else None
    child = report.child
    return Identity(
        child.given_name, child.family_name, child.date_of_birth, child.address.postcode, upn
    )


def members_of(report: ConcernReport) -> list[Person]:
    """The people a report says the child lives with, and the children present."""
    people = [Person(m.given_name, m.family_name, m.date_of_birth) for m in report.household]
    if report.police is not None:
        people += [
            Person(c.given_name, c.family_name, c.date_of_birth)
            for c in report.police.children_present
        ]
    return people


def member_flags_of(report: ConcernReport) -> tuple[str, ...]:
    return tuple(
        sorted({flag for m in report.household for flag in MEMBER_FLAGS if getattr(m, flag)})
    )


def _identity_row(row: Row[Any]) -> Identity:
    return Identity(row.given_name, row.family_name, row.date_of_birth, row.postcode, row.upn)


def _members_row(row: Row[Any]) -> list[Person]:
    return [
        Person(
            m["given_name"],
            m["family_name"],
            date.fromisoformat(m["date_of_birth"]) if m.get("date_of_birth") else None,
        )
        for m in row.members
    ]


async def resolve_subject(
    session: AsyncSession, *, received: ReferralReceived, now: datetime
) -> Subject:
    """The subject this report is about (matched across sources, or new), linked to
    its household; the report's identity joins the index for later matches.

    The returned Subject is detached: the rows are already written."""
    conn = await session.connection()
    report = received.report
    identity = identity_of(report)
    dobs = [identity.date_of_birth]
    swapped = transposed(identity.date_of_birth)
    if swapped is not None:
        dobs.append(swapped)
    near = (
        await conn.execute(
            _IDENTITIES_NEAR,
            {"dobs": dobs, "upn": identity.upn or None, "postcode": identity.postcode or None},
        )
    ).all()
    superseded = set(received.supersedes)
    rows = [
        row
        for row in near
        if row.referral_id not in superseded
        and (row.date_of_birth in dobs or (identity.upn and row.upn == identity.upn))
    ]
    key = best_match(identity, [(row.subject_key, _identity_row(row)) for row in rows])
    found = (await conn.execute(_SUBJECT, {"subject_key": key or received.subject_key})).first()
    if found is None:
        subject = Subject(key=received.subject_key, household_key=None, created_at=now)
        await conn.execute(
            _INSERT_SUBJECT,
            {"key": subject.key, "household_key": None, "created_at": now},
        )
    else:
        subject = Subject(
            key=found.key, household_key=found.household_key, created_at=found.created_at
        )

    members = members_of(report)
    # A child reported again with the same details adds nothing to the index: without
    # this, every report about a much-reported child would widen every later match.
    if any(
        row.subject_key == subject.key
        and _identity_row(row) == identity
        and _members_row(row) == members
        for row in rows
    ):
        return subject
    await conn.execute(
        _INSERT_IDENTITY,
        {
            "referral_id": received.referral_id,
            "subject_key": subject.key,
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "date_of_birth": identity.date_of_birth,
            "postcode": identity.postcode,
            "upn": identity.upn,
            "members": [
                {
                    "given_name": m.given_name,
                    "family_name": m.family_name,
                    "date_of_birth": m.date_of_birth.isoformat() if m.date_of_birth else None,
                }
                for m in members
            ],
        },
    )
    subject.household_key = await _link_household(
        conn, subject, HouseholdView(identity, members), near
    )
    return subject


async def _link_household(
    conn: AsyncConnection, subject: Subject, view: HouseholdView, near: Sequence[Row[Any]]
) -> str | None:
    """Join the child to the household of any child living with them (same postcode and
    a person in common); two households found to be one are merged under one key.
    `near` holds at least every identity at the child's postcode. Returns the child's
    household key as it now stands."""
    postcode = view.child.postcode
    if not postcode:
        return subject.household_key
    linked: set[str] = set()
    for row in near:
        if row.postcode != postcode or row.subject_key == subject.key:
            continue
        # One identity of a child that lives here is enough: the child's other
        # identities (a much-reported child has many) need not be compared.
        if row.subject_key not in linked and same_household(
            view, HouseholdView(_identity_row(row), _members_row(row))
        ):
            linked.add(row.subject_key)
    if not linked:
        return subject.household_key
    # key -> household key, as each stands in the database.
    households: dict[str, str | None] = {subject.key: subject.household_key}
    for key in sorted(linked):
        other = (await conn.execute(_SUBJECT, {"subject_key": key})).first()
        if other is not None:
            households[other.key] = other.household_key
    keys = {hh for hh in households.values() if hh}
    # The oldest household key wins, so a household keeps its key as it grows.
    household = min(keys) if keys else "hh_" + min(households).removeprefix("sub_")
    for member in list(households):
        old = households[member]
        if old == household:
            continue
        await conn.execute(_SET_HOUSEHOLD, {"subject_key": member, "household": household})
        households[member] = household
        if old is not None:
            await conn.execute(_MOVE_HOUSEHOLD, {"old": old, "household": household})
            for moved, was in households.items():
                if was == old:
                    households[moved] = household
    return household


async def history_of(
    session: AsyncSession,
    *,
    policy: ThresholdPolicy,
    subject: Subject,
    reported_at: datetime,
    exclude: list[str],
) -> list[PriorReport]:
    """Earlier decided reports about this child and the other children of the household,
    within the longest window the policy looks back over."""
    days = max([policy.household.within_days, *(rule.within_days for rule in policy.cumulative)])
    conn = await session.connection()
    keys = [subject.key]
    if subject.household_key:
        keys += [
            key
            for key in (
                await conn.scalars(_HOUSEHOLD_KEYS, {"household": subject.household_key})
            ).all()
            if key != subject.key
        ]
    rows = (
        await conn.execute(
            _HISTORY,
            {
                "keys": keys,
                "since": reported_at - timedelta(days=days),
                "until": reported_at,
                "exclude": exclude,
            },
        )
    ).all()
    return [
        PriorReport(
            referral_id=row.referral_id,
            reported_at=as_utc(row.reported_at),
            level=row.level,
            concern_codes=tuple(row.concern_codes),
            member_flags=tuple(row.member_flags),
            same_child=row.subject_key == subject.key,
        )
        for row in rows
    ]


async def triage(
    session: AsyncSession, *, policy: ThresholdPolicy, received: ReferralReceived, now: datetime
) -> tuple[TriageDecision, ReferralTriaged]:
    """Decide one received referral at `now`, record it, and the event to emit."""
    report = received.report
    subject = await resolve_subject(session, received=received, now=now)
    history = await history_of(
        session,
        policy=policy,
        subject=subject,
        reported_at=report.reported_at,
        exclude=[received.referral_id, *received.supersedes],
    )
    age = age_on(report.child.date_of_birth, report.reported_at.date())
    facts = ReportFacts(
        concern_codes=tuple(c.code for c in report.concerns),
        immediate_risk=report.immediate_risk,
        age_years=age,
        reported_at=report.reported_at,
        received_at=received.received_at,
        member_flags=member_flags_of(report),
    )
    decision = decide(policy, facts, history)
    values: dict[str, Any] = dict(
        referral_id=received.referral_id,
        subject_key=subject.key,
        partition_key=received.subject_key,
        household_key=subject.household_key,
        level=decision.level,
        priority=decision.priority,
        decided_level=decision.level,
        decided_priority=decision.priority,
        level_name=decision.level_name,
        score=decision.score,
        reasons=decision.reasons,
        factors=[asdict(f) for f in decision.factors],
        rules=list(decision.rules),
        rationale=decision.rationale,
        policy_id=decision.policy_id,
        policy_version=decision.policy_version,
        concern_codes=sorted({c.code for c in report.concerns}),
        member_flags=list(facts.member_flags),
        immediate_risk=report.immediate_risk,
        reported_at=report.reported_at,
        received_at=received.received_at,
        decided_at=now,
        decide_by=decision.decide_by,
        revision=0,
        source_kind=report.source.kind,
        referrer_organisation=report.source.organisation,
        child_age_years=age,
        postcode_district=report.child.address.postcode.split(" ")[0],
    )
    await (await session.connection()).execute(_INSERT_DECISION, values)
    # Detached: the row is written; the object only shapes the event.
    row = TriageDecision(**values)
    return row, triaged_event(row, policy=policy, decision=decision, decide_by=decision.decide_by)


def triaged_event(
    row: TriageDecision,
    *,
    policy: ThresholdPolicy,
    decision: Decision | None = None,
    override: TriageOverrideNote | None = None,
    decide_by: datetime | None,
) -> ReferralTriaged:
    """The referral.triaged data for a decision row as it now stands."""
    return ReferralTriaged(
        referral_id=row.referral_id,
        subject_key=row.subject_key,
        level=row.level,
        priority=row.priority,
        concern_codes=list(row.concern_codes),
        immediate_risk=row.immediate_risk,
        reasons=decision.reasons if decision else list(row.reasons),
        policy_version=f"{row.policy_id}@{row.policy_version}",
        decided_at=as_utc(row.decided_at),
        source_kind=row.source_kind,
        referrer_organisation=row.referrer_organisation,
        child_age_years=row.child_age_years,
        postcode_district=row.postcode_district,
        decide_by=as_utc(decide_by) if decide_by else None,
        level_name=policy.level(row.level).name if row.level <= policy.top_level else None,
        top_level=policy.top_level,
        policy_id=row.policy_id,
        rationale=row.rationale,
        revision=row.revision,
        override=override,
    )


MIN_RATIONALE = 20


async def override_level(
    session: AsyncSession,
    *,
    policy: ThresholdPolicy,
    referral_id: str,
    level: int,
    rationale: str,
    by: Principal,
    now: datetime,
) -> tuple[TriageDecision, TriageOverride, ReferralTriaged]:
    """Record a practitioner's change of level beside the original decision, and the
    referral.triaged revision that makes routing decide again.

    The new level's clock starts now: the receiving team gets the referral now. A
    level without a clock (universal) has no deadline.
    """
    # Locked, so two practitioners overriding at once take turns instead of both
    # writing the same revision (PostgreSQL; SQLite serialises on one connection).
    row = (
        await session.exec(
            select(TriageDecision)
            .where(TriageDecision.referral_id == referral_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("Triage decision")
    if not 1 <= level <= policy.top_level:
        raise Problem(
            422,
            "Level out of range",
            f"The {policy.area} policy has levels 1 to {policy.top_level}.",
            type="level-out-of-range",
        )
    if level == row.level:
        raise Problem(
            409,
            "Level unchanged",
            f"The referral is already at level {level}; an override must raise or lower it.",
            type="level-unchanged",
        )
    spec = policy.level(level)
    deadline = decision_deadline(policy, level, now)
    record = TriageOverride(
        id="ovr_" + uuid.uuid4().hex[:20],
        referral_id=referral_id,
        revision=row.revision + 1,
        from_level=row.level,
        to_level=level,
        priority=spec.priority,
        rationale=rationale,
        by_client_id=by.client_id,
        by_name=by.name,
        by_organisation=by.organisation,
        at=now,
        decide_by=deadline,
    )
    note = TriageOverrideNote(
        original_level=row.decided_level,
        from_level=row.level,
        rationale=rationale,
        by_organisation=by.organisation,
        overridden_at=now,
    )
    # The policy's decision (and its deadline) stay as decided; level and priority
    # are the referral's as it now stands.
    row.level, row.priority, row.revision = level, spec.priority, record.revision
    session.add(row)
    session.add(record)
    return row, record, triaged_event(row, policy=policy, override=note, decide_by=deadline)


async def overrides_of(session: AsyncSession, referral_id: str) -> list[TriageOverride]:
    return list(
        (
            await session.exec(
                select(TriageOverride)
                .where(TriageOverride.referral_id == referral_id)
                .order_by(col(TriageOverride.revision))
            )
        ).all()
    )
