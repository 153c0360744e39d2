"""Triage's use cases: decide a received referral, let the hub raise or lower its level,
and read a decision with its overrides.

Each takes the unit of work it runs in and records the referral.triaged its change
implies; the unit's owner commits. The decisions themselves are the pure functions of
`matching` (is this a child we know, who lives with them), `scoring` (the level) and
`deadlines`; the rows are read and written by `repository`.

Only a child matched as the same child (`matching.Outcome.SAME`) brings their history
into a decision. A report that is only perhaps about a child we know (POSSIBLE: the
link rests on likeness, such as twins' names one letter apart) is decided as a new
child's, and the earlier records are kept on the decision (`possible_matches`) and
named in its explanation for a practitioner to confirm; they are never counted.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.triage import repository
from services.triage.deadlines import decision_deadline
from services.triage.matching import (
    HouseholdView,
    Identity,
    Person,
    resolve,
    same_household,
    transposed,
)
from services.triage.models import Subject, TriageDecision, TriageOverride, TriageOverrideRequest
from services.triage.narrative import suspected_concerns
from services.triage.policy import ThresholdPolicy, load_policy
from services.triage.repository import AnyRow
from services.triage.schemas import (
    DecisionView,
    FactorView,
    OverrideRequestView,
    OverrideView,
    PolicyView,
    PossibleMatchView,
    SuspectedConcernView,
    TriageView,
)
from services.triage.scoring import Decision, PriorReport, ReportFacts, decide
from services.triage.service import children, policies
from services.triage.service.policies import PolicySchedule
from services.triage.settings import settings_of
from shared.auth import Principal
from shared.clock import as_utc
from shared.events import EventType, ReferralReceived, ReferralTriaged, TriageOverrideNote
from shared.override_reasons import OverrideReason, in_words
from shared.problems import NotFound, Problem
from shared.report import ConcernReport, age_on, concern_words
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork

MEMBER_FLAGS = (
    "offending",
    "mental_health",
    "substance_misuse",
    "domestic_abuse_perpetrator",
    "domestic_abuse_victim",
)


def schedule_of(ctx: ServiceContext) -> PolicySchedule:
    """This process's policy schedule: the area's file policy (TRIAGE_POLICY_PATH),
    loaded once per process, and the approved versions as last read
    (`refresh_policies`)."""
    schedule = ctx.state.get("policy_schedule")
    if schedule is None:
        schedule = PolicySchedule(load_policy(settings_of(ctx).triage_policy_path))
        ctx.state["policy_schedule"] = schedule
    assert isinstance(schedule, PolicySchedule)
    return schedule


def policy_of(ctx: ServiceContext) -> ThresholdPolicy:
    """The threshold policy in force at the clock's now: the newest approved version
    whose time has come, else the file policy. From memory: no table is read."""
    return schedule_of(ctx).in_force(ctx.clock.now())


async def policy_for_decision(ctx: ServiceContext, uow: UnitOfWork) -> ThresholdPolicy:
    """The policy in force now, to decide a referral with: this process's schedule, read
    again first (in the decision's own unit of work) when it is older than
    `policies.STALE_AFTER_SECONDS`, so a replica whose refresh loop keeps failing never
    decides past an approval or a withdrawal it has not read (a failed read fails the
    decision, which the consumer retries)."""
    schedule = schedule_of(ctx)
    if schedule.stale:
        await policies.refresh_schedule(uow=uow, schedule=schedule)
    return schedule.in_force(uow.now())


async def refresh_policies(ctx: ServiceContext) -> None:
    """Read the approved policy versions again into this process's schedule (at start,
    and every TRIAGE_POLICY_REFRESH_SECONDS: what another replica approved or
    withdrew)."""
    schedule = schedule_of(ctx)
    async with ctx.units.open() as uow:  # read only: never completed, rolled back
        await policies.refresh_schedule(uow=uow, schedule=schedule)


async def on_start(ctx: ServiceContext) -> None:
    """Load the policy file, then the approved versions, as the service starts (its
    schema is migrated, or checked at head, by then): a bad file stops it before it
    decides anything."""
    schedule_of(ctx)
    await refresh_policies(ctx)


async def triage(
    *, uow: UnitOfWork, policy: ThresholdPolicy, received: ReferralReceived
) -> TriageDecision:
    """Decide one received referral now: find the child (across sources) and their
    household, gather their history, decide, and record the decision and its
    referral.triaged. Returns the decision as recorded (detached: the row is written)."""
    now = uow.now()
    report = received.report
    subject, possible = await _resolve_subject(uow, received=received, now=now)
    history, uncounted = await _history_of(
        uow,
        policy=policy,
        subject=subject,
        possible=[p.subject_key for p in possible],
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
    # Concerns the narrative names that the codes do not: a practitioner reviews them;
    # they never change the level.
    suspected = suspected_concerns(report.narrative, facts.concern_codes)
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
        possible_matches=[
            {
                "subject_key": p.subject_key,
                "reason": p.reason,
                "referral_ids": sorted({*p.referral_ids, *uncounted.get(p.subject_key, [])}),
            }
            for p in possible
        ],
        suspected_concerns=[{"code": s.code, "terms": list(s.terms)} for s in suspected],
    )
    repository.add_decision(uow, values)
    row = TriageDecision(**values)
    _record_triaged(uow, row, policy=policy, decision=decision, decide_by=decision.decide_by)
    return row


async def override_level(
    *,
    uow: UnitOfWork,
    policy: ThresholdPolicy,
    principal: Principal,
    referral_id: str,
    level: int,
    rationale: str,
    reason_code: str | None = None,
) -> TriageView:
    """Record a practitioner's change of level beside the original decision (with why:
    the rationale, and the reason code when one was given), and the referral.triaged
    revision that makes routing decide again. Returns the decision as it now stands.

    The new level's clock starts now: the receiving team gets the referral now. A
    level without a clock (universal) has no deadline.

    Applies at once: the hub's changes arrive through `change_level`, which first asks a
    second person to approve a step down from the statutory level (`approve_request`
    then calls this).
    """
    now = uow.now()
    row = await _decision_to_change(uow, policy=policy, referral_id=referral_id, level=level)
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
        # Kept as the plain code (an approval passes on the one the request stored).
        reason_code=str(reason_code) if reason_code else None,
        by_client_id=principal.client_id,
        by_name=principal.name,
        by_organisation=principal.organisation,
        at=now,
        decide_by=deadline,
    )
    note = TriageOverrideNote(
        original_level=row.decided_level,
        from_level=row.level,
        rationale=rationale,
        by_organisation=principal.organisation,
        overridden_at=now,
    )
    # The policy's decision (and its deadline) stay as decided; level and priority
    # are the referral's as it now stands.
    row.level, row.priority, row.revision = level, spec.priority, record.revision
    uow.session.add(record)
    _record_triaged(uow, row, policy=policy, override=note, decide_by=deadline)
    return _view(row, await repository.overrides(uow.session, referral_id), policy)


async def _decision_to_change(
    uow: UnitOfWork, *, policy: ThresholdPolicy, referral_id: str, level: int
) -> TriageDecision:
    """The decision a change of level applies to, held until the unit ends; a problem
    for an unknown referral, a level the policy lacks, or the level it already has."""
    row = await repository.decision(uow.session, referral_id, lock=True)
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
    return row


def statutory_level(policy: ThresholdPolicy) -> int:
    """The policy's statutory level (children's social care: significant harm). It is
    the top level: the policy's own rules let only statutory indicators reach it."""
    return policy.top_level


async def change_level(
    *,
    uow: UnitOfWork,
    policy: ThresholdPolicy,
    principal: Principal,
    referral_id: str,
    level: int,
    rationale: str,
    reason_code: OverrideReason | None = None,
) -> TriageView | OverrideRequestView:
    """A practitioner's change of level, as the hub asks for it. Lowering a referral
    from the statutory level takes two people: it is recorded as a request waiting
    for a second person's approval (`approve_request`), and nothing changes yet. Any
    other change applies at once (`override_level`).

    Why: stepping a child at risk of significant harm down takes them away from
    children's social care, the one change whose mistake is a child left unprotected."""
    row = await _decision_to_change(uow, policy=policy, referral_id=referral_id, level=level)
    if not (row.level == statutory_level(policy) and level < row.level):
        return await override_level(
            uow=uow,
            policy=policy,
            principal=principal,
            referral_id=referral_id,
            level=level,
            rationale=rationale,
            reason_code=reason_code,
        )
    request = TriageOverrideRequest(
        id="ovq_" + uuid.uuid4().hex[:20],
        referral_id=referral_id,
        revision=row.revision,
        from_level=row.level,
        to_level=level,
        rationale=rationale,
        reason_code=str(reason_code) if reason_code else None,
        requested_by=principal.actor,
        requested_by_name=principal.name,
        requested_at=uow.now(),
        status="pending",
    )
    uow.session.add(request)
    return _request_view(request, row)


async def override_requests(*, uow: UnitOfWork, referral_id: str) -> list[OverrideRequestView]:
    """Every request to lower a referral from the statutory level, oldest first."""
    row = await repository.decision(uow.session, referral_id)
    if row is None:
        raise NotFound("Triage decision")
    requests = await repository.override_requests(uow.session, referral_id)
    return [_request_view(request, row) for request in requests]


async def override_request(
    *, uow: UnitOfWork, referral_id: str, request_id: str
) -> OverrideRequestView:
    """One request to lower a referral from the statutory level."""
    row, request = await _pending(
        uow, referral_id=referral_id, request_id=request_id, deciding=False
    )
    return _request_view(request, row)


async def approve_request(
    *,
    uow: UnitOfWork,
    policy: ThresholdPolicy,
    principal: Principal,
    referral_id: str,
    request_id: str,
    note: str,
) -> OverrideRequestView:
    """A second person approves a request to lower the statutory level: the override
    is made exactly as any override is (`override_level`: the stored override, in the
    approver's name, and its referral.triaged), with the requester's rationale and
    reason code; the request keeps who asked and names the override it became.

    Only a person may approve, and not the one who asked: a key stands for a system,
    never for a second pair of eyes. A request asked of a decision that has changed
    since (another override) is stale: it cannot be approved."""
    row, request = await _pending(uow, referral_id=referral_id, request_id=request_id)
    if not principal.is_person:
        raise _second_person("A system's key cannot approve: a second person must.")
    if principal.actor == request.requested_by:
        raise _second_person(
            f"{request.requested_by_name} asked for this change: a second person must approve it."
        )
    if row.revision != request.revision or row.level != request.from_level:
        raise Problem(
            409,
            "Request stale",
            f"The decision has changed since this request was made (it is now at level "
            f"{row.level}): refuse or withdraw it, and ask again if the change is still right.",
            type="override-request-stale",
        )
    view = await override_level(
        uow=uow,
        policy=policy,
        principal=principal,
        referral_id=referral_id,
        level=request.to_level,
        rationale=request.rationale,
        reason_code=request.reason_code,
    )
    _decide(request, principal, status="approved", note=note, now=uow.now())
    request.override_id = view.overrides[-1].id
    return _request_view(request, row)


async def refuse_request(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request_id: str, note: str
) -> OverrideRequestView:
    """Another practitioner refuses a request to lower the statutory level, saying why:
    the level stays. The requester cannot refuse their own (they withdraw it)."""
    row, request = await _pending(uow, referral_id=referral_id, request_id=request_id)
    if principal.actor == request.requested_by:
        raise Problem(
            403,
            "Withdraw your own request",
            "You asked for this change: withdraw it rather than refuse it.",
            type="own-override-request",
        )
    _decide(request, principal, status="refused", note=note, now=uow.now())
    return _request_view(request, row)


async def withdraw_request(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request_id: str, note: str
) -> OverrideRequestView:
    """The practitioner who asked takes their request back; nobody else may."""
    row, request = await _pending(uow, referral_id=referral_id, request_id=request_id)
    if principal.actor != request.requested_by:
        raise Problem(
            403,
            "Not your request",
            f"Only {request.requested_by_name}, who asked for it, can withdraw it.",
            type="not-your-override-request",
        )
    _decide(request, principal, status="withdrawn", note=note, now=uow.now())
    return _request_view(request, row)


async def _pending(
    uow: UnitOfWork, *, referral_id: str, request_id: str, deciding: bool = True
) -> tuple[TriageDecision, TriageOverrideRequest]:
    """A referral's decision and one of its requests; `deciding` one holds the decision
    until the unit ends, and is a problem unless the request still waits."""
    row = await repository.decision(uow.session, referral_id, lock=deciding)
    request = await repository.override_request(uow.session, referral_id, request_id)
    if row is None or request is None:
        raise NotFound("Override request")
    if deciding and request.status != "pending":
        raise Problem(
            409,
            "Request already decided",
            f"This request was {request.status} by {request.decided_by_name}.",
            type="override-request-decided",
        )
    return row, request


def _second_person(detail: str) -> Problem:
    return Problem(403, "A second person must approve", detail, type="second-person-required")


def _decide(
    request: TriageOverrideRequest, principal: Principal, *, status: str, note: str, now: datetime
) -> None:
    request.status = status
    request.decided_by = principal.actor
    request.decided_by_name = principal.name
    request.decided_at = now
    request.decision_note = note or None


def _request_view(request: TriageOverrideRequest, row: TriageDecision) -> OverrideRequestView:
    stale = request.status == "pending" and (
        row.revision != request.revision or row.level != request.from_level
    )
    return OverrideRequestView.model_validate({**request.model_dump(), "stale": stale})


async def decision_of(*, uow: UnitOfWork, policy: ThresholdPolicy, referral_id: str) -> TriageView:
    """A referral's decision as it stands, explained, with every override (and who
    asked for each a second person approved)."""
    row = await repository.decision(uow.session, referral_id)
    if row is None:
        raise NotFound("Triage decision")
    requests = await repository.override_requests(uow.session, referral_id)
    asked = {r.override_id: r.requested_by_name for r in requests if r.override_id}
    return _view(row, await repository.overrides(uow.session, referral_id), policy, asked)


def identity_of(report: ConcernReport) -> Identity:
    """Who a report is about, as matching compares them."""
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
    """What a report says about the household's members (offending, mental health...)."""
    return tuple(
        sorted({flag for m in report.household for flag in MEMBER_FLAGS if getattr(m, flag)})
    )


def _identity_row(row: AnyRow) -> Identity:
    return Identity(row.given_name, row.family_name, row.date_of_birth, row.postcode, row.upn)


def _members_row(row: AnyRow) -> list[Person]:
    return [
        Person(
            m["given_name"],
            m["family_name"],
            date.fromisoformat(m["date_of_birth"]) if m.get("date_of_birth") else None,
        )
        for m in row.members
    ]


@dataclass(frozen=True)
class _Possible:
    """A child this report is perhaps about (matching's POSSIBLE): not counted."""

    subject_key: str
    reason: str
    referral_ids: tuple[str, ...]  # the reports that named them as compared


def fresh_subject_key(received: ReferralReceived) -> str:
    """A subject key of its own for a child whose intake key another child holds.

    Intake's key hashes the names and date of birth alone, so a namesake elsewhere (or
    a child with another pupil number) arrives with the key of a child matching judged
    not to be them. Derived from intake's key and the referral, so it is as
    pseudonymous, and the same on a replay."""
    material = f"{received.subject_key}|{received.referral_id}".encode()
    return "sub_" + hashlib.sha256(material).hexdigest()[:32]


async def prepare_batch(
    uow: UnitOfWork, *, policy: ThresholdPolicy, batch: Sequence[ReferralReceived]
) -> None:
    """Read ahead what deciding each referral of a consumer's batch reads (the identities
    near each child, the subjects intake named and those the identities name, their
    history, the verdicts on those identities), in four statements for the batch
    instead of up to five for each referral (`repository.read_ahead`). A read
    that could find what the batch itself wrote reads the database, so the batch's own
    work is always counted; what other transactions commit while it runs is seen from
    its next batch (the race `repository`'s docstring describes)."""
    if not batch:
        return
    dobs: list[date] = []
    upns: list[str] = []
    postcodes: list[str] = []
    for received in batch:
        identity = identity_of(received.report)
        dobs += _dates_of_birth(identity)
        upns += [identity.upn] if identity.upn else []
        postcodes += [identity.postcode] if identity.postcode else []
    window = timedelta(days=_history_days(policy))
    await repository.read_ahead(
        uow,
        dobs=dobs,
        upns=upns,
        postcodes=postcodes,
        subject_keys=[received.subject_key for received in batch],
        since=min(received.report.reported_at for received in batch) - window,
        until=max(received.report.reported_at for received in batch),
    )


def _dates_of_birth(identity: Identity) -> list[date]:
    """The dates of birth a child is matched by: theirs, and with day and month swapped."""
    swapped = transposed(identity.date_of_birth)
    return [identity.date_of_birth] if swapped is None else [identity.date_of_birth, swapped]


def _history_days(policy: ThresholdPolicy) -> int:
    """How far back a decision looks: the longest window of the policy's rules."""
    return max([policy.household.within_days, *(rule.within_days for rule in policy.cumulative)])


async def _resolve_subject(
    uow: UnitOfWork, *, received: ReferralReceived, now: datetime
) -> tuple[Subject, list[_Possible]]:
    """The subject this report is about (matched across sources as the same child, or
    new), linked to its household, and the children it is perhaps about (POSSIBLE:
    recorded, not counted); the report's identity joins the index for later matches.

    The returned Subject is detached: the rows are already written."""
    report = received.report
    identity = identity_of(report)
    dobs = _dates_of_birth(identity)
    near = await repository.identities_near(
        uow, dobs=dobs, upn=identity.upn or None, postcode=identity.postcode or None
    )
    superseded = set(received.supersedes)
    rows = [
        row
        for row in near
        if row.referral_id not in superseded
        and (row.date_of_birth in dobs or (identity.upn and row.upn == identity.upn))
    ]
    verdicts = await children.verdicts_among(uow, [row.referral_id for row in rows])
    resolution = resolve(
        identity, [(row.subject_key, _identity_row(row)) for row in rows], verdicts
    )
    possible = [
        _Possible(
            subject_key=other,
            reason=match.reason,
            referral_ids=tuple(row.referral_id for row in rows if row.subject_key == other),
        )
        for other, match in resolution.possible.items()
    ]
    key = resolution.same
    if key is None:
        key = received.subject_key
        if any(row.subject_key == key for row in rows):
            # Matching judged the child holding intake's key not (surely) this one.
            key = fresh_subject_key(received)
    found = await repository.subject(uow, key)
    if found is None:
        subject = Subject(key=key, household_key=None, created_at=now)
        repository.add_subject(uow, key=subject.key, created_at=now)
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
        return subject, possible
    repository.add_identity(
        uow,
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
        uow, subject, HouseholdView(identity, members), near
    )
    return subject, possible


async def _link_household(
    uow: UnitOfWork, subject: Subject, view: HouseholdView, near: Sequence[AnyRow]
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
        other = await repository.subject(uow, key)
        if other is not None:
            households[other.key] = other.household_key
    keys = {hh for hh in households.values() if hh}
    # The oldest household key wins, so a household keeps its key as it grows.
    household = min(keys) if keys else "hh_" + min(households).removeprefix("sub_")
    for member in list(households):
        old = households[member]
        if old == household:
            continue
        await repository.set_household(uow, subject_key=member, household=household)
        households[member] = household
        if old is not None:
            await repository.move_household(uow, old=old, household=household)
            for moved, was in households.items():
                if was == old:
                    households[moved] = household
    return household


async def _history_of(
    uow: UnitOfWork,
    *,
    policy: ThresholdPolicy,
    subject: Subject,
    possible: Sequence[str],
    reported_at: datetime,
    exclude: list[str],
) -> tuple[list[PriorReport], dict[str, list[str]]]:
    """Earlier decided reports about this child and the other children of the household,
    within the longest window the policy looks back over; and, read with them but not
    counted, the referrals in that window about the children this report is only
    perhaps about (`possible`), by subject key."""
    days = _history_days(policy)
    keys = [subject.key]
    if subject.household_key:
        keys += [
            key
            for key in await repository.household_members(uow, subject.household_key)
            if key != subject.key
        ]
    counted = set(keys)
    rows = await repository.history(
        uow,
        keys=[*keys, *(key for key in possible if key not in counted)],
        since=reported_at - timedelta(days=days),
        until=reported_at,
        exclude=exclude,
    )
    uncounted: dict[str, list[str]] = {}
    for row in rows:
        if row.subject_key in possible:
            uncounted.setdefault(row.subject_key, []).append(row.referral_id)
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
        if row.subject_key in counted
    ], uncounted


def _record_triaged(
    uow: UnitOfWork,
    row: TriageDecision,
    *,
    policy: ThresholdPolicy,
    decision: Decision | None = None,
    override: TriageOverrideNote | None = None,
    decide_by: datetime | None,
) -> None:
    """Record referral.triaged for a decision row as it now stands, keyed like every
    other event about the referral."""
    data = ReferralTriaged(
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
        # A practitioner's override is the review: the referral then goes by its level.
        needs_review=bool(row.suspected_concerns) and override is None,
        suspected_codes=[str(s["code"]) for s in row.suspected_concerns or []],
        received_at=as_utc(row.received_at),
    )
    uow.record(
        type=EventType.REFERRAL_TRIAGED,
        subject=row.referral_id,
        partitionkey=row.partition_key,
        data=data,
    )


def _view(
    row: TriageDecision,
    overrides: Sequence[TriageOverride],
    policy: ThresholdPolicy,
    asked: Mapping[str, str] | None = None,
) -> TriageView:
    """The decision as it stands, explained in words: the policy's rationale, any
    earlier record that is perhaps this child's (found, not counted), then each
    override with who, when and why (and who asked, where a second person approved:
    `asked` maps those overrides' ids to the requester's name)."""
    asked = asked or {}
    names = {spec.level: spec.name for spec in policy.levels}
    possible = [PossibleMatchView.model_validate(p) for p in row.possible_matches or []]
    suspected = [SuspectedConcernView.model_validate(s) for s in row.suspected_concerns or []]
    explanation = [row.rationale]
    if suspected:
        explanation.append(_suspected_in_words(suspected, reviewed=bool(overrides)))
    if possible:
        explanation.append(_possible_in_words(possible))
    for o in overrides:
        explanation.append(
            f"On {as_utc(o.at):%d %b %Y at %H:%M} UTC {o.by_name} ({o.by_organisation}) "
            f"{'raised' if o.to_level > o.from_level else 'lowered'} the level from "
            f"{o.from_level} to {o.to_level} ({names.get(o.to_level, '')}, {o.priority})"
            + (f", approving {asked[o.id]}'s request" if o.id in asked else "")
            + (f", reason: {in_words(o.reason_code)}" if o.reason_code else "")
            + f': "{o.rationale}"'
        )
    return TriageView(
        referral_id=row.referral_id,
        level=row.level,
        level_name=names.get(row.level, row.level_name),
        priority=row.priority,
        decide_by=overrides[-1].decide_by if overrides else row.decide_by,
        policy=PolicyView(id=row.policy_id, version=row.policy_version),
        explanation=" ".join(explanation),
        decision=DecisionView(
            level=row.decided_level,
            level_name=row.level_name,
            priority=row.decided_priority,
            score=row.score,
            decide_by=row.decide_by,
            factors=[FactorView.model_validate(f) for f in row.factors],
            rules=row.rules,
            rationale=row.rationale,
            decided_at=row.decided_at,
        ),
        overrides=[
            OverrideView.model_validate({**o.model_dump(), "requested_by_name": asked.get(o.id)})
            for o in overrides
        ],
        possible_matches=possible,
        needs_review=bool(suspected) and not overrides,
        suspected_concerns=suspected,
    )


def _suspected_in_words(suspected: Sequence[SuspectedConcernView], *, reviewed: bool) -> str:
    """The concerns the narrative names and the codes do not, said to need a review."""
    named = "; ".join(
        f"{concern_words([s.code])} ({', '.join(repr(t) for t in s.terms)})" for s in suspected
    )
    said = (
        f"The narrative names concerns the report's codes do not: {named}. They do not "
        "change the level;"
    )
    if reviewed:
        return f"{said} the practitioner's override below is the review they called for."
    return f"{said} the referral goes to the hub to review it before anything else."


def _possible_in_words(possible: Sequence[PossibleMatchView]) -> str:
    """The earlier records perhaps about this child, said to be found and not counted."""
    records = "; ".join(f"{', '.join(p.referral_ids)} ({p.reason})" for p in possible)
    if len(possible) == 1:
        found = "A possible earlier record of this child was found and not counted"
    else:
        found = f"{len(possible)} possible earlier records of this child were found and not counted"
    return (
        f"{found}: {records}. Those reports are not this child's history in this "
        "decision; a practitioner should confirm whether they are about the same child."
    )
