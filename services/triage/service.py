"""Triage's work on its own tables: find the child and the household, gather their
history, record the decision, record overrides. The decisions themselves are the
pure functions of `scoring`, `matching` and `deadlines`."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import col, or_, select
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
from shared.db import as_utc
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


def _identity_row(row: SubjectIdentity) -> Identity:
    return Identity(row.given_name, row.family_name, row.date_of_birth, row.postcode, row.upn)


def _members_row(row: SubjectIdentity) -> list[Person]:
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
    its household; the report's identity joins the index for later matches."""
    report = received.report
    identity = identity_of(report)
    dobs = [identity.date_of_birth]
    swapped = transposed(identity.date_of_birth)
    if swapped is not None:
        dobs.append(swapped)
    blocking: ColumnElement[bool] = col(SubjectIdentity.date_of_birth).in_(dobs)
    if identity.upn:
        blocking = or_(blocking, SubjectIdentity.upn == identity.upn)
    rows = (
        await session.exec(
            select(SubjectIdentity)
            .where(blocking)
            .where(col(SubjectIdentity.referral_id).not_in(received.supersedes))
            .order_by(col(SubjectIdentity.referral_id))
        )
    ).all()
    key = best_match(identity, [(row.subject_key, _identity_row(row)) for row in rows])
    subject = await session.get(Subject, key or received.subject_key)
    if subject is None:
        subject = Subject(key=received.subject_key, created_at=now)
        session.add(subject)

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
    session.add(
        SubjectIdentity(
            referral_id=received.referral_id,
            subject_key=subject.key,
            given_name=identity.given_name,
            family_name=identity.family_name,
            date_of_birth=identity.date_of_birth,
            postcode=identity.postcode,
            upn=identity.upn,
            members=[
                {
                    "given_name": m.given_name,
                    "family_name": m.family_name,
                    "date_of_birth": m.date_of_birth.isoformat() if m.date_of_birth else None,
                }
                for m in members
            ],
        )
    )
    await _link_household(session, subject, HouseholdView(identity, members))
    return subject


async def _link_household(session: AsyncSession, subject: Subject, view: HouseholdView) -> None:
    """Join the child to the household of any child living with them (same postcode and
    a person in common); two households found to be one are merged under one key."""
    if not view.child.postcode:
        return
    neighbours = (
        await session.exec(
            select(SubjectIdentity)
            .where(SubjectIdentity.postcode == view.child.postcode)
            .where(SubjectIdentity.subject_key != subject.key)
            .order_by(col(SubjectIdentity.referral_id))
        )
    ).all()
    linked = {
        row.subject_key
        for row in neighbours
        if same_household(view, HouseholdView(_identity_row(row), _members_row(row)))
    }
    if not linked:
        return
    subjects = [subject]
    for key in sorted(linked):
        other = await session.get(Subject, key)
        if other is not None:
            subjects.append(other)
    keys = {s.household_key for s in subjects if s.household_key}
    # The oldest household key wins, so a household keeps its key as it grows.
    household = min(keys) if keys else "hh_" + min(s.key for s in subjects).removeprefix("sub_")
    for member in subjects:
        if member.household_key != household:
            old = member.household_key
            member.household_key = household
            session.add(member)
            if old is not None:
                for moved in (
                    await session.exec(select(Subject).where(Subject.household_key == old))
                ).all():
                    moved.household_key = household
                    session.add(moved)


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
    keys = [subject.key]
    if subject.household_key:
        keys += [
            key
            for key in (
                await session.exec(
                    select(Subject.key).where(Subject.household_key == subject.household_key)
                )
            ).all()
            if key != subject.key
        ]
    rows = (
        await session.exec(
            select(TriageDecision)
            .where(col(TriageDecision.subject_key).in_(keys))
            .where(col(TriageDecision.reported_at) >= reported_at - timedelta(days=days))
            .where(col(TriageDecision.reported_at) <= reported_at)
            .where(col(TriageDecision.referral_id).not_in(exclude))
            .order_by(col(TriageDecision.reported_at), col(TriageDecision.referral_id))
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
    session: AsyncSession, *, policy: ThresholdPolicy, received: ReferralReceived
) -> tuple[TriageDecision, ReferralTriaged]:
    """Decide one received referral, record it, and the event to emit."""
    now = datetime.now(UTC)
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
    row = TriageDecision(
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
        source_kind=report.source.kind,
        referrer_organisation=report.source.organisation,
        child_age_years=age,
        postcode_district=report.child.address.postcode.split(" ")[0],
    )
    session.add(row)
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
    now = datetime.now(UTC)
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
