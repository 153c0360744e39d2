"""The referrals' use cases: record a routing decision, move a referral through its
lifecycle at the agency, escalate to the hub, let the hub reassign or override, and
let the people of the addressed organisation say who of them has it.

Every change writes a step in plain words and records its events in the unit of work
(referral.routed for a new destination, referral.status for every lifecycle change).
The decisions themselves are the pure functions of `decide` and `lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

from pydantic import BaseModel

from services.routing import repository
from services.routing.decide import PathwayRoute, pathway_words, pathways, route
from services.routing.directory import Agency, Directory
from services.routing.lifecycle import (
    DECLINE_REASONS,
    OPEN_STATUSES,
    OUTCOMES,
    WORKING_STATUSES,
    Action,
    IllegalTransition,
    Status,
    allowed_actions,
    transition,
    valid_outcome,
)
from services.routing.models import RoutingDecision, RoutingPathway
from services.routing.schemas import (
    AssignedView,
    AssignRequest,
    CancelRequest,
    CandidateView,
    CloseRequest,
    DeclineRequest,
    DestinationView,
    OverrideRequest,
    PathwayView,
    ReassignRequest,
    ReferralView,
    RoutingRecord,
    StepView,
)
from services.routing.service import SYSTEM
from services.routing.service.directory import DirectoryCache, current_directory
from shared.auth import Principal
from shared.clock import as_utc
from shared.events import (
    Destination,
    EventType,
    ReasonCode,
    ReferralPathway,
    ReferralRouted,
    ReferralStatus,
    ReferralTriaged,
)
from shared.pagination import Page, PageRequest, Position, page_of
from shared.pathways import PATHWAYS
from shared.problems import NotFound, Problem
from shared.uow import UnitOfWork

# ---------------------------------------------------------------- what is recorded


def _destination(row: RoutingDecision) -> Destination:
    if row.destination_id is None:
        return Destination(
            kind="universal", id="universal", organisation="none", name="Universal services"
        )
    return Destination(
        kind=row.destination_kind,
        id=row.destination_id,
        organisation=row.destination_organisation or "",
        name=row.destination_name or row.destination_id,
    )


def _announce(
    uow: UnitOfWork,
    row: RoutingDecision,
    type: EventType,
    data: BaseModel,
    *,
    at: datetime | None = None,
) -> None:
    """Record an event about the referral, keyed by its child so that every event about
    one child stays in order."""
    uow.record(type=type, subject=row.referral_id, partitionkey=row.subject_key, data=data, time=at)


def _record_routed(uow: UnitOfWork, row: RoutingDecision, reason_codes: list[ReasonCode]) -> None:
    _announce(
        uow,
        row,
        EventType.REFERRAL_ROUTED,
        ReferralRouted(
            referral_id=row.referral_id,
            destination=_destination(row),
            level=row.level,
            priority=row.priority,
            reason_codes=reason_codes,
            directory_version=row.directory_version,
            routed_at=as_utc(row.updated_at or row.routed_at),
            referrer_organisation=row.referrer_organisation or "",
            respond_by=as_utc(row.respond_by) if row.respond_by else None,
        ),
    )


def _record_status(
    uow: UnitOfWork, row: RoutingDecision, *, status: Status, reason_code: str | None, at: datetime
) -> None:
    _announce(
        uow,
        row,
        EventType.REFERRAL_STATUS,
        ReferralStatus(
            referral_id=row.referral_id,
            status=status,
            destination_id=row.destination_id,
            reason_code=reason_code,
            occurred_at=at,
            referrer_organisation=row.referrer_organisation or "",
            destination=_destination(row),
            respond_by=as_utc(row.respond_by) if row.respond_by and status == "requested" else None,
        ),
        at=at,
    )


async def _save(
    uow: UnitOfWork,
    row: RoutingDecision,
    *,
    by: str,
    summary: str,
    reason_code: str | None,
    rationale: str | None = None,
    new: bool = False,
) -> None:
    """Write the routing record as it stands now, and the step that brought it here, in
    words, stamped when the record changed. A `new` record (`record_routing`) and its
    step are held in the unit until it completes, a batch's all together: `row` must
    not change after."""
    at = row.updated_at or row.routed_at
    if new:
        await repository.hold_new_decision(uow, row)
        repository.hold_step(
            uow,
            row,
            at=at,
            by=by,
            summary=summary,
            reason_code=reason_code,
            rationale=rationale,
        )
        return
    # Written now: a later statement in this transaction that does not flush the
    # session (the repository's Core reads) sees it.
    await repository.update_decision(uow.session, row)
    await repository.insert_step(
        uow.session,
        row,
        at=at,
        by=by,
        summary=summary,
        reason_code=reason_code,
        rationale=rationale,
    )


# ---------------------------------------------------------------- where a referral is


async def _address(
    uow: UnitOfWork,
    row: RoutingDecision,
    agency: Agency | None,
    *,
    at: datetime,
    new: bool = False,
) -> None:
    """Point the referral at `agency` (None: universal services) as a new request; an
    agency (not the hub or the MASH, who are the escalation) gets a response clock.
    A `new` record has no clock running yet, so none is stopped; its clock is held in
    the unit with the record (see `_save`)."""
    if not new:
        # The agency answered (or the referral moved on): its clock stops.
        await repository.resolve_deadlines(uow.session, row.referral_id, at=at)
    if agency is None or agency.organisation != row.destination_organisation:
        # Nobody of the organisation it leaves has it any more: it waits in the new
        # destination's queue.
        _unassign(row)
    row.updated_at = at
    if agency is None:
        row.destination_kind, row.destination_id = "universal", None
        row.destination_organisation = row.destination_name = None
        row.respond_by = None
        return
    row.destination_kind = agency.kind
    row.destination_id = agency.id
    row.destination_organisation = agency.organisation
    row.destination_name = agency.name
    row.status = "requested"
    row.respond_by = at + timedelta(hours=agency.response_hours)
    if agency.kind == "agency" and new:
        repository.hold_deadline(
            uow, referral_id=row.referral_id, destination_id=agency.id, due_at=row.respond_by, at=at
        )
    elif agency.kind == "agency":
        await repository.insert_deadline(
            uow.session,
            referral_id=row.referral_id,
            destination_id=agency.id,
            due_at=row.respond_by,
            at=at,
        )


def _tell_working_agency(
    uow: UnitOfWork, row: RoutingDecision, *, reason_code: ReasonCode, at: datetime
) -> None:
    """The agency working with the family hears that the referral moved on. (One still
    asked to answer simply stops seeing it: the referral.routed to the new destination
    says where it went.)"""
    if row.status in WORKING_STATUSES and row.destination_id is not None:
        row.status = "cancelled"
        _record_status(uow, row, status="cancelled", reason_code=reason_code, at=at)


async def _send_to(
    uow: UnitOfWork,
    row: RoutingDecision,
    directory: Directory,
    agency: Agency,
    *,
    reason_code: ReasonCode,
    by: str,
    summary: str,
    rationale: str | None = None,
    at: datetime,
) -> None:
    """Send the referral on to `agency` as a new request, saying why."""
    _tell_working_agency(uow, row, reason_code=reason_code, at=at)
    await _address(uow, row, agency, at=at)
    row.directory_version, row.reason_code = directory.version, reason_code
    await _save(uow, row, by=by, summary=summary, reason_code=reason_code, rationale=rationale)
    _record_routed(uow, row, [reason_code])
    _record_status(uow, row, status="requested", reason_code=reason_code, at=at)


async def _escalate_to_hub(
    uow: UnitOfWork,
    directory: Directory,
    row: RoutingDecision,
    *,
    reason_code: ReasonCode,
    summary: str,
    at: datetime,
) -> None:
    """Send the referral to the hub as a new request (a decline or a missed deadline)."""
    await _send_to(
        uow,
        row,
        directory,
        directory.of_kind("hub"),
        reason_code=reason_code,
        by=SYSTEM,
        summary=summary,
        at=at,
    )


# ---------------------------------------------------------------- routing


async def open_referrals(*, uow: UnitOfWork) -> dict[str, int]:
    """How many open referrals each destination holds (its load against capacity), as
    this unit's routing decisions leave it: counted once per unit (a consumer's batch is
    one unit) and then moved by `_count_move` at each decision the unit makes."""
    loads: dict[str, int] = await uow.read_once(
        "routing.open_referrals",
        lambda: repository.open_referrals(uow.session),
    )
    return loads


def _count_move(
    loads: dict[str, int], before: tuple[str | None, str] | None, after: tuple[str | None, str]
) -> None:
    """Move a referral's place in `loads` from where it was held (destination, status)
    to where it is held now; only open referrals with a destination count."""
    for held, step in ((before, -1), (after, 1)):
        if held is not None and held[0] is not None and held[1] in OPEN_STATUSES:
            loads[held[0]] = loads.get(held[0], 0) + step


async def prepare_routing(*, uow: UnitOfWork, referral_ids: Sequence[str]) -> None:
    """Lock and read, in one statement, which of a batch's referrals were routed before
    (`record_routing` then asks nothing more for a referral never routed)."""
    await repository.hold_decisions(uow, referral_ids)


async def record_routing(
    *, uow: UnitOfWork, directories: DirectoryCache, triaged: ReferralTriaged
) -> bool:
    """Route a triaged referral (or route it again on a later triage revision); False
    when it was routed already on this or a later triage decision (nothing changes).

    A new decision's rows (the record, its steps, its response clock, the pathways
    told) are held in the unit until it completes: one statement per table for a
    consumer's whole batch. A referral routed again is rare and written at once."""
    session = uow.session
    # An earlier event of this unit (a batch) may have routed the referral: its rows,
    # held until now, are written first, so this one finds them and routes it again.
    await uow.write_inserts(touching=[repository.held_for(triaged.referral_id)])
    held = await repository.hold_decision(uow, triaged.referral_id)
    earlier = await repository.decision_for_update(session, triaged.referral_id) if held else None
    if earlier is not None and earlier.triage_revision >= triaged.revision:
        return False  # routed already on this or a later triage decision
    if earlier is not None:
        # Written at once from here on: what the unit holds for other referrals goes
        # first, so steps keep the order they were taken in (the simulator replays them
        # in that order to know each agency's load).
        await uow.write_inserts()
    held_at = (earlier.destination_id, earlier.status) if earlier is not None else None
    # Counted before the unit held any row (a row is held only after this read) and
    # moved by `_count_move` at each decision since: held rows need not be written.
    loads = await open_referrals(uow=uow)
    directory = await directories.current(uow)
    routing = route(
        level=triaged.level,
        concern_codes=triaged.concern_codes,
        age=triaged.child_age_years,
        postcode_district=triaged.postcode_district,
        local_authority_code=triaged.local_authority_code,
        open_referrals=loads,
        directory=directory,
        top_level=triaged.top_level or 4,
        suspected_codes=triaged.suspected_codes if triaged.needs_review else None,
    )
    now = uow.now()
    row = earlier or RoutingDecision(
        referral_id=triaged.referral_id,
        subject_key=triaged.subject_key,
        level=triaged.level,
        priority=triaged.priority,
        destination_kind=routing.destination_kind,
        reason_codes=[],
        considered=[],
        directory_version=directory.version,
        routed_at=now,
    )
    row.triage_revision = triaged.revision
    row.level, row.priority = triaged.level, triaged.priority
    # For the partnership measures: kept from the first decision that carries them.
    row.received_at = row.received_at or triaged.received_at
    row.source_kind = triaged.source_kind
    row.local_authority_code = triaged.local_authority_code or directory.authority_of(
        triaged.postcode_district
    )
    row.referrer_organisation = triaged.referrer_organisation
    row.reason_codes = [code.value for code in routing.reason_codes]
    row.considered = [asdict(c) for c in routing.considered]
    row.directory_version = directory.version
    row.explanation = routing.explanation
    row.routed_at = now
    # Why it is where it is now: in the hub's review queue, or simply routed.
    review = routing.reason_codes[0] == ReasonCode.NEEDS_REVIEW
    row.reason_code = ReasonCode.NEEDS_REVIEW.value if review else None
    again = earlier is not None
    if again and (routing.destination is None or routing.destination.id != row.destination_id):
        # A hub practitioner's triage override moved the referral on: the agency working
        # with the family hears it, as it would for a reassignment.
        _tell_working_agency(uow, row, reason_code=ReasonCode.OVERRIDDEN_BY_HUB, at=now)
    await _address(uow, row, routing.destination, at=now, new=not again)
    row.destination_kind = routing.destination_kind
    # Universal services: no referral is made; the advice is the whole outcome.
    row.status = "requested" if routing.destination else "completed"
    needed = pathways(
        concern_codes=triaged.concern_codes,
        postcode_district=triaged.postcode_district,
        local_authority_code=triaged.local_authority_code,
        directory=directory,
    )
    row.explanation += pathway_words(needed)
    again_in_words = f"Routed again after a new triage decision (revision {triaged.revision}). "
    await _save(
        uow,
        row,
        by=SYSTEM,
        summary=(again_in_words if again else "") + routing.explanation,
        reason_code=routing.reason_codes[0],
        new=not again,
    )
    _count_move(loads, held_at, (row.destination_id, row.status))
    _record_routed(uow, row, routing.reason_codes)
    if needed:
        await _tell_pathways(uow, row, needed, directory=directory, again=again, at=now)
    return True


async def _tell_pathways(
    uow: UnitOfWork,
    row: RoutingDecision,
    needed: list[PathwayRoute],
    *,
    directory: Directory,
    again: bool,
    at: datetime,
) -> None:
    """Tell each statutory pathway the referral needs and was not told before (a
    pathway is told once per referral, whatever later happens to the referral): a
    record, a step in words, and a referral.pathway to its destination."""
    told = (
        {p.pathway for p in await repository.pathways_of(uow.session, row.referral_id)}
        if again
        else set()
    )
    for need in needed:
        if need.pathway in told:
            continue
        destination = need.destination
        record = RoutingPathway(
            referral_id=row.referral_id,
            pathway=need.pathway,
            concern_codes=need.concern_codes,
            destination_kind=destination.kind,
            destination_id=destination.id,
            destination_organisation=destination.organisation,
            destination_name=destination.name,
            reason_code=need.reason_code.value,
            explanation=need.explanation,
            directory_version=directory.version,
            notified_at=at,
        )
        told_to = (destination.kind, destination.id)
        if again:
            await repository.insert_pathway(uow.session, record)
            await repository.insert_step(
                uow.session,
                row,
                at=at,
                by=SYSTEM,
                summary=need.explanation,
                reason_code=need.reason_code.value,
                rationale=None,
                told=told_to,
            )
        else:
            # A new decision's: held with its record (see `_save`).
            repository.hold_pathway(uow, record)
            repository.hold_step(
                uow,
                row,
                at=at,
                by=SYSTEM,
                summary=need.explanation,
                reason_code=need.reason_code.value,
                rationale=None,
                told=told_to,
            )
        _announce(
            uow,
            row,
            EventType.REFERRAL_PATHWAY,
            ReferralPathway(
                referral_id=row.referral_id,
                pathway=need.pathway,
                destination=Destination(
                    kind=destination.kind,
                    id=destination.id,
                    organisation=destination.organisation,
                    name=destination.name,
                ),
                level=row.level,
                priority=row.priority,
                reason_code=need.reason_code,
                directory_version=directory.version,
                notified_at=at,
                referrer_organisation=row.referrer_organisation or "",
            ),
            at=at,
        )


async def escalate_due(*, uow: UnitOfWork, directories: DirectoryCache, limit: int = 100) -> int:
    """Escalate to the hub every request whose agency has not answered by its deadline.

    Claims due deadlines (on PostgreSQL each in exactly one replica) and marks them
    fired with the escalation's events in the same unit: each fires once, after any
    restart. Returns how many deadlines it claimed.
    """
    now = uow.now()
    due = await repository.claim_due_deadlines(uow.session, now=now, limit=limit)
    for deadline in due:
        # An agency's answer or the hub may hold the record right now (they lock
        # record then deadlines; waiting here in the other order could deadlock):
        # leave the deadline pending and look again on the next tick.
        row = await repository.decision_for_update(
            uow.session, deadline.referral_id, skip_locked=True
        )
        if row is None and await repository.decision(uow.session, deadline.referral_id) is not None:
            continue
        deadline.state, deadline.closed_at = "fired", now
        if (
            row is None
            or row.status != "requested"
            or row.destination_id != deadline.destination_id
        ):
            continue  # answered or moved on in the meantime
        hours = (as_utc(deadline.due_at) - as_utc(deadline.created_at)).total_seconds() / 3600
        await _escalate_to_hub(
            uow,
            await directories.current(uow),
            row,
            reason_code=ReasonCode.NO_RESPONSE_WITHIN_SLA,
            summary=(
                f"Escalated to the hub because {row.destination_name} did not accept or "
                f"decline within {hours:g} hours "
                f"(due {as_utc(deadline.due_at):%d %b %Y %H:%M} UTC)."
            ),
            at=now,
        )
    return len(due)


# ---------------------------------------------------------------- reading


def _addressed_to(principal: Principal, row: RoutingDecision) -> bool:
    return (
        row.destination_organisation is not None
        and row.destination_organisation == principal.organisation
    )


def _may_see(principal: Principal, row: RoutingDecision) -> bool:
    """The hub sees every referral; an agency only those addressed to it."""
    return principal.oversees or _addressed_to(principal, row)


def _assigned_view(row: RoutingDecision) -> AssignedView | None:
    if row.assigned_person_id is None:
        return None
    return AssignedView(
        person_id=row.assigned_person_id,
        name=row.assigned_person_name or row.assigned_person_id,
        at=as_utc(row.assigned_at or row.updated_at or row.routed_at),
    )


def _referral_view(row: RoutingDecision) -> ReferralView:
    return ReferralView(
        referral_id=row.referral_id,
        status=row.status,
        level=row.level,
        priority=row.priority,
        destination=DestinationView(
            kind=row.destination_kind,
            id=row.destination_id,
            organisation=row.destination_organisation,
            name=row.destination_name,
        ),
        # The destination's deadline to accept or decline: over once it has answered.
        respond_by=as_utc(row.respond_by) if row.respond_by and row.status == "requested" else None,
        routed_at=as_utc(row.routed_at),
        updated_at=as_utc(row.updated_at) if row.updated_at else None,
        reason_code=row.reason_code,
        allowed_actions=list(allowed_actions(row.status)) if row.destination_id else [],
        assigned_to=_assigned_view(row),
    )


def _pathway_view(p: RoutingPathway) -> PathwayView:
    return PathwayView(
        pathway=p.pathway,
        label=PATHWAYS[p.pathway].label if p.pathway in PATHWAYS else p.pathway,
        concern_codes=list(p.concern_codes),
        destination=DestinationView(
            kind=p.destination_kind,
            id=p.destination_id,
            organisation=p.destination_organisation,
            name=p.destination_name,
        ),
        reason_code=p.reason_code,
        explanation=p.explanation,
        notified_at=as_utc(p.notified_at),
        directory_version=p.directory_version,
    )


async def _as_record(uow: UnitOfWork, row: RoutingDecision) -> RoutingRecord:
    """The routing record as `row` stands now in the unit, with every step so far."""
    steps = await repository.steps_of(uow.session, row.referral_id)
    told = await repository.pathways_of(uow.session, row.referral_id)
    return RoutingRecord(
        pathways=[_pathway_view(p) for p in told],
        **_referral_view(row).model_dump(),
        reason_codes=row.reason_codes,
        explanation=row.explanation,
        considered=[
            CandidateView(
                agency_id=str(c["agency_id"]),
                name=str(c.get("name") or c["agency_id"]),
                suitable=bool(c["suitable"]),
                reason=str(c["reason"]),
            )
            for c in row.considered
        ],
        directory_version=row.directory_version,
        history=[
            StepView(
                at=as_utc(s.at),
                status=s.status,
                destination_kind=s.destination_kind,
                destination_id=s.destination_id,
                reason_code=s.reason_code,
                by=s.by,
                summary=s.summary,
                rationale=s.rationale,
                directory_version=s.directory_version,
            )
            for s in steps
        ],
    )


# `assigned_to=none`: the referrals nobody has (the queue's "unassigned").
NOBODY = "none"


async def referrals_of(
    *,
    uow: UnitOfWork,
    principal: Principal,
    statuses: list[Status] | None,
    page: PageRequest,
    reason_code: ReasonCode | None = None,
    assigned_to: str | None = None,
) -> Page[ReferralView]:
    """The referrals addressed to the principal's organisation (the hub: every
    referral), newest first (by `routed_at`, then `referral_id`), a page at a time;
    only those in `statuses` (None: any); with `reason_code`, only those where they are
    for that reason (`needs_review`: the hub's review queue); with `assigned_to`, only
    those that person has (NOBODY: those nobody has)."""
    rows = await repository.decisions(
        uow.session,
        organisation=None if principal.oversees else principal.organisation,
        statuses=statuses or None,
        page=page,
        reason_code=reason_code.value if reason_code else None,
        assigned_to=assigned_to if assigned_to not in (None, NOBODY) else None,
        unassigned=assigned_to == NOBODY,
    )
    found = page_of(rows, page.limit, lambda r: Position(as_utc(r.routed_at), r.referral_id))
    return found.map(_referral_view)


async def routing_record(
    *, uow: UnitOfWork, principal: Principal, referral_id: str
) -> RoutingRecord:
    """Where a referral went and why, with every later step, for whom may see it."""
    row = await repository.decision(uow.session, referral_id)
    if row is None or not _may_see(principal, row):
        raise NotFound("Referral")
    return await _as_record(uow, row)


# ---------------------------------------------------------------- acting on a referral


def _conflict(
    detail: str, *, status: str | None = None, allowed: list[Action] | None = None
) -> Problem:
    return Problem(
        409,
        "Conflict",
        detail,
        type="illegal-transition",
        status_now=status,
        allowed_actions=allowed if allowed is not None else [],
    )


def _who(principal: Principal, row: RoutingDecision) -> str:
    """The agency that answers for the referral, in words, and the person who acted for
    it (a key acts as the agency itself)."""
    agency = row.destination_name or principal.organisation
    return f"{agency} ({principal.person_name})" if principal.person_name else agency


async def _act(
    uow: UnitOfWork,
    principal: Principal,
    referral_id: str,
    action: Action,
    *,
    reason_code: str | None = None,
    outcome: Status | None = None,
    note: str | None = None,
) -> RoutingDecision:
    """The one path of an agency's lifecycle step on a referral addressed to it: the
    transition, its step in words and its referral.status."""
    row = await repository.decision_for_update(uow.session, referral_id)
    if row is None or not _addressed_to(principal, row):
        raise NotFound("Referral")
    if action == "decline" and row.destination_kind == "hub":
        raise _conflict(
            "The hub does not decline: reassign the referral to an agency or override its "
            "destination, with a rationale.",
            status=row.status,
            allowed=allowed_actions(row.status),
        )
    try:
        new_status = transition(row.status, action, to=outcome)
    except IllegalTransition as exc:
        raise _conflict(str(exc), status=row.status, allowed=exc.allowed) from exc
    at, who = uow.now(), _who(principal, row)
    row.status, row.updated_at, row.reason_code = new_status, at, reason_code
    if action != "start":
        await repository.resolve_deadlines(uow.session, referral_id, at=at)
    summary = {
        "accept": f"Accepted by {who}.",
        "start": f"{who} started working with the family.",
        "decline": f"Declined by {who}: {DECLINE_REASONS.get(reason_code or '', reason_code)}.",
        "close": f"Closed by {who} as {new_status}: "
        f"{OUTCOMES.get(new_status, {}).get(reason_code or '', reason_code)}.",
    }[action]
    await _save(
        uow,
        row,
        by=principal.actor,
        summary=summary,
        reason_code=reason_code,
        rationale=note,
    )
    _record_status(uow, row, status=new_status, reason_code=reason_code, at=at)
    return row


async def accept(*, uow: UnitOfWork, principal: Principal, referral_id: str) -> RoutingRecord:
    """An agency accepts a referral addressed to it: its response clock stops."""
    return await _as_record(uow, await _act(uow, principal, referral_id, "accept"))


async def start(*, uow: UnitOfWork, principal: Principal, referral_id: str) -> RoutingRecord:
    """The agency starts working with the family."""
    return await _as_record(uow, await _act(uow, principal, referral_id, "start"))


async def decline(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request: DeclineRequest
) -> RoutingRecord:
    """An agency declines a referral addressed to it, with a reason: the hub has it at
    once. The agency that declined sees where it went."""
    row = await _act(
        uow, principal, referral_id, "decline", reason_code=request.reason_code, note=request.note
    )
    await _escalate_to_hub(
        uow,
        await current_directory(uow),
        row,
        reason_code=ReasonCode.DECLINED_BY_AGENCY,
        summary=f"Escalated to the hub because {_who(principal, row)} declined it.",
        at=row.updated_at or uow.now(),  # the moment it was declined
    )
    return await _as_record(uow, row)


async def close(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request: CloseRequest
) -> RoutingRecord:
    """An agency closes a referral as completed or failed, with an outcome code of that
    outcome."""
    if not valid_outcome(request.outcome, request.outcome_code):
        raise Problem(
            422,
            "The request is not valid",
            f"{request.outcome_code!r} is not an outcome code for {request.outcome}; use one "
            "of: " + ", ".join(OUTCOMES[request.outcome]),
            type="validation",
        )
    row = await _act(
        uow,
        principal,
        referral_id,
        "close",
        reason_code=request.outcome_code,
        outcome=request.outcome,
        note=request.note,
    )
    return await _as_record(uow, row)


async def _as_the_hub(
    uow: UnitOfWork,
    principal: Principal,
    referral_id: str,
    request: ReassignRequest | OverrideRequest,
) -> RoutingRecord:
    """The one path of the hub's changes: where a referral goes now, and why (the
    rationale is kept whole in its history)."""
    if not principal.oversees:
        raise Problem(
            403, "Forbidden", "Only the hub reassigns or overrides referrals.", type="hub-only"
        )
    row = await repository.decision_for_update(uow.session, referral_id)
    if row is None:
        raise NotFound("Referral")
    directory = await current_directory(uow)
    rationale = request.rationale.strip()
    if isinstance(request, ReassignRequest):
        agency = directory.agency(request.agency_id)
        if agency is None:
            raise Problem(
                422,
                "Unknown agency",
                f"No agency {request.agency_id!r} in directory version {directory.version}.",
                type="unknown-agency",
            )
        reason_code = ReasonCode.REASSIGNED_BY_HUB
        how = f"Reassigned by the hub ({principal.name}) to {agency.name}"
    elif request.destination == "universal":
        return await _no_referral(uow, principal, row, directory, rationale)
    else:
        agency = directory.of_kind(request.destination)
        reason_code = ReasonCode.OVERRIDDEN_BY_HUB
        how = f"Overridden by the hub ({principal.name}): sent to {agency.name}"
    if row.destination_id == agency.id and row.status in OPEN_STATUSES:
        raise _conflict(
            f"The referral is already with {agency.name} ({row.status}).", status=row.status
        )
    await _send_to(
        uow,
        row,
        directory,
        agency,
        reason_code=reason_code,
        by=principal.actor,
        summary=f'{how}: "{rationale}"',
        rationale=rationale,
        at=uow.now(),
    )
    return await _as_record(uow, row)


async def _no_referral(
    uow: UnitOfWork,
    principal: Principal,
    row: RoutingDecision,
    directory: Directory,
    rationale: str,
) -> RoutingRecord:
    """The hub overrides a referral down to universal services: no referral is made, and
    an open request is cancelled."""
    if row.destination_id is None:
        raise _conflict("The referral already has no destination (universal services).")
    try:
        row.status = transition(row.status, "cancel")
    except IllegalTransition as exc:
        raise _conflict(str(exc), status=row.status, allowed=exc.allowed) from exc
    at, reason = uow.now(), ReasonCode.UNIVERSAL_SERVICES_ADVISED
    row.reason_code, row.directory_version = reason, directory.version
    _record_status(uow, row, status="cancelled", reason_code=reason, at=at)
    await _address(uow, row, None, at=at)
    summary = (
        f"Overridden by the hub ({principal.name}): no referral, universal services advised: "
        f'"{rationale}"'
    )
    await _save(
        uow,
        row,
        by=principal.actor,
        summary=summary,
        reason_code=reason,
        rationale=rationale,
    )
    _record_routed(uow, row, [ReasonCode.OVERRIDDEN_BY_HUB, reason])
    return await _as_record(uow, row)


async def reassign(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request: ReassignRequest
) -> RoutingRecord:
    """The hub sends a referral to an agency of its choosing, saying why."""
    return await _as_the_hub(uow, principal, referral_id, request)


async def override(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request: OverrideRequest
) -> RoutingRecord:
    """The hub overrides where a referral goes, saying why: up to the MASH, to itself, or
    down to universal services (no referral; an open request is cancelled)."""
    return await _as_the_hub(uow, principal, referral_id, request)


async def cancel(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request: CancelRequest
) -> RoutingRecord:
    """The hub cancels an open referral (the `cancel` its allowed actions offer): exactly
    an override down to universal services, with the hub's rationale."""
    return await _as_the_hub(
        uow,
        principal,
        referral_id,
        OverrideRequest(destination="universal", rationale=request.rationale),
    )


# ---------------------------------------------------------------- who has a referral


def _unassign(row: RoutingDecision) -> None:
    row.assigned_person_id = row.assigned_person_name = row.assigned_by = None
    row.assigned_at = None


def _person(principal: Principal) -> tuple[str, str]:
    """The person acting (id, name): only a named person takes, gives or releases a
    referral, so that who has it is always someone a colleague can ask."""
    if principal.person_id is None:
        raise Problem(
            403,
            "Forbidden",
            "Only a named person can claim, assign or release a referral, not a system's key.",
            type="person-only",
        )
    return principal.person_id, principal.person_name or principal.person_id


async def _open_with_us(uow: UnitOfWork, principal: Principal, referral_id: str) -> RoutingDecision:
    """The referral, locked, if it is open and addressed to the principal's organisation:
    who of an organisation has a referral is that organisation's to say."""
    row = await repository.decision_for_update(uow.session, referral_id)
    if row is None or not _may_see(principal, row):
        raise NotFound("Referral")
    if not _addressed_to(principal, row):
        raise Problem(
            403,
            "Forbidden",
            f"The referral is addressed to {row.destination_name or 'no one'}: only a person "
            "of that organisation can claim, assign or release it.",
            type="not-addressed-to-you",
        )
    if row.status not in OPEN_STATUSES:
        raise _conflict(
            f"The referral is {row.status}: only an open referral (requested, accepted or "
            "in progress) can be claimed, assigned or released.",
            status=row.status,
            allowed=allowed_actions(row.status),
        )
    return row


async def _hand(
    uow: UnitOfWork,
    principal: Principal,
    row: RoutingDecision,
    *,
    to: tuple[str, str] | None,
    summary: str,
) -> RoutingRecord:
    """Record who has the referral now (`to`: a person's id and name; None: nobody) and
    the step that says so, in the name of who did it. Its lifecycle does not move."""
    at = uow.now()
    if to is None:
        _unassign(row)
    else:
        row.assigned_person_id, row.assigned_person_name = to
        row.assigned_at, row.assigned_by = at, principal.actor
    await repository.update_decision(uow.session, row)
    await repository.insert_step(
        uow.session,
        row,
        at=at,
        by=principal.actor,
        summary=summary,
        reason_code=None,
        rationale=None,
    )
    return await _as_record(uow, row)


async def claim(*, uow: UnitOfWork, principal: Principal, referral_id: str) -> RoutingRecord:
    """A person of the addressed organisation takes an open referral (from the queue, or
    from a colleague); taking one they have already changes nothing."""
    person_id, name = _person(principal)
    row = await _open_with_us(uow, principal, referral_id)
    if row.assigned_person_id == person_id:
        return await _as_record(uow, row)
    earlier = f"from {row.assigned_person_name}" if row.assigned_person_id else "from the queue"
    return await _hand(
        uow,
        principal,
        row,
        to=(person_id, name),
        summary=f"Claimed by {name} ({row.destination_name}) {earlier}.",
    )


async def assign(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, request: AssignRequest
) -> RoutingRecord:
    """A person of the addressed organisation gives an open referral to a colleague, as
    the console names them; giving it to whoever has it already changes nothing."""
    _, name = _person(principal)
    row = await _open_with_us(uow, principal, referral_id)
    if row.assigned_person_id == request.person_id:
        return await _as_record(uow, row)
    colleague = request.person_name.strip()
    return await _hand(
        uow,
        principal,
        row,
        to=(request.person_id, colleague),
        summary=f"Assigned to {colleague} by {name} ({row.destination_name}).",
    )


async def release(*, uow: UnitOfWork, principal: Principal, referral_id: str) -> RoutingRecord:
    """A person of the addressed organisation gives an open referral back to its queue;
    releasing one nobody has changes nothing."""
    _, name = _person(principal)
    row = await _open_with_us(uow, principal, referral_id)
    if row.assigned_person_id is None:
        return await _as_record(uow, row)
    return await _hand(
        uow,
        principal,
        row,
        to=None,
        summary=f"Released to the queue of {row.destination_name} by {name} "
        f"(it was with {row.assigned_person_name}).",
    )
