"""Routing's work on its own tables: record a routing decision, move a referral
through its lifecycle, escalate to the hub, and let the hub reassign or override.

Every change writes a step in plain words and stages its events (referral.routed
for a new destination, referral.status for every lifecycle change) in the caller's
transaction. The decisions themselves are the pure functions of `decide` and
`lifecycle`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.routing.decide import route
from services.routing.directory import Agency, Directory
from services.routing.lifecycle import (
    DECLINE_REASONS,
    OPEN_STATUSES,
    OUTCOMES,
    Action,
    IllegalTransition,
    Status,
    allowed_actions,
    transition,
)
from services.routing.models import RoutingDeadline, RoutingDecision, RoutingStep
from services.routing.store import current_directory
from shared.auth import ClientKind, Principal
from shared.clock import as_utc
from shared.db import table_of
from shared.envelope import new_event
from shared.events import (
    Destination,
    EventType,
    ReferralRouted,
    ReferralStatus,
    ReferralTriaged,
)
from shared.outbox import stage
from shared.problems import NotFound, Problem
from shared.runtime import ServiceContext

SYSTEM = "signpost"
HUB_KINDS = frozenset({ClientKind.HUB, ClientKind.ADMIN})
MIN_RATIONALE = 10

# Statements built once, so SQLAlchemy compiles each once and caches it: routing a
# referral is the consumer's hot path, where ORM selects and flushes cost several
# times more. They run on the session's connection, inside its transaction.
_DECISIONS = table_of(RoutingDecision)
_INSERT_DECISION = insert(_DECISIONS)
_INSERT_STEP = insert(table_of(RoutingStep))
_INSERT_DEADLINE = insert(table_of(RoutingDeadline))
_RECORD_HELD = (
    core_select(_DECISIONS.c.referral_id)
    .where(_DECISIONS.c.referral_id == bindparam("referral_id"))
    .with_for_update()
)
_OPEN_REFERRALS = (
    core_select(_DECISIONS.c.destination_id, func.count())
    .where(_DECISIONS.c.status.in_(OPEN_STATUSES))
    .where(_DECISIONS.c.destination_id.is_not(None))
    .group_by(_DECISIONS.c.destination_id)
)


async def open_referrals(session: AsyncSession) -> dict[str, int]:
    """How many open referrals each destination holds (its load against capacity)."""
    rows = await (await session.connection()).execute(_OPEN_REFERRALS)
    return {str(agency_id): int(count) for agency_id, count in rows}


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


def _stage_routed(
    ctx: ServiceContext, session: AsyncSession, row: RoutingDecision, reason_codes: list[str]
) -> None:
    stage(
        session,
        new_event(
            type=EventType.REFERRAL_ROUTED,
            source=ctx.source,
            subject=row.referral_id,
            partitionkey=row.subject_key,
            data=ReferralRouted(
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
            time=ctx.clock.now(),
        ),
    )


def _stage_status(
    ctx: ServiceContext,
    session: AsyncSession,
    row: RoutingDecision,
    *,
    status: str,
    reason_code: str | None,
    at: datetime,
) -> None:
    stage(
        session,
        new_event(
            type=EventType.REFERRAL_STATUS,
            source=ctx.source,
            subject=row.referral_id,
            partitionkey=row.subject_key,
            data=ReferralStatus(
                referral_id=row.referral_id,
                status=status,
                destination_id=row.destination_id,
                reason_code=reason_code,
                occurred_at=at,
                referrer_organisation=row.referrer_organisation or "",
                destination=_destination(row),
                respond_by=as_utc(row.respond_by)
                if row.respond_by and status == "requested"
                else None,
            ),
            time=at,
        ),
    )


async def _step(
    session: AsyncSession,
    row: RoutingDecision,
    *,
    at: datetime,
    by: str,
    summary: str,
    reason_code: str | None = None,
    rationale: str | None = None,
) -> None:
    await (await session.connection()).execute(
        _INSERT_STEP,
        {
            "referral_id": row.referral_id,
            "at": at,
            "status": row.status,
            "destination_kind": row.destination_kind,
            "destination_id": row.destination_id,
            "reason_code": reason_code,
            "by": by,
            "summary": summary,
            "rationale": rationale,
            "directory_version": row.directory_version,
        },
    )


async def _close_deadlines(session: AsyncSession, referral_id: str, at: datetime) -> None:
    """The agency answered (or the referral moved on): its clock stops."""
    await session.exec(
        update(RoutingDeadline)
        .where(col(RoutingDeadline.referral_id) == referral_id)
        .where(col(RoutingDeadline.state) == "pending")
        .values(state="resolved", closed_at=at)
    )


async def _address(
    session: AsyncSession,
    row: RoutingDecision,
    agency: Agency | None,
    *,
    at: datetime,
    new: bool = False,
) -> None:
    """Point the referral at `agency` (None: universal services) as a new request; an
    agency (not the hub or the MASH, who are the escalation) gets a response clock.
    A `new` record has no clock running yet, so none is stopped."""
    if not new:
        await _close_deadlines(session, row.referral_id, at)
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
    row.respond_by = at + timedelta(hours=agency.response_sla_hours)
    if agency.kind == "agency":
        await (await session.connection()).execute(
            _INSERT_DEADLINE,
            {
                "referral_id": row.referral_id,
                "destination_id": agency.id,
                "due_at": row.respond_by,
                "state": "pending",
                "created_at": at,
                "closed_at": None,
            },
        )


async def record_routing(
    ctx: ServiceContext, session: AsyncSession, triaged: ReferralTriaged
) -> None:
    """Route a triaged referral (or route it again on a later triage revision)."""
    conn = await session.connection()
    # Most referrals are new: a locking probe is much cheaper than loading an ORM
    # object, which only a referral routed before needs.
    held = await conn.execute(_RECORD_HELD, {"referral_id": triaged.referral_id})
    earlier = (
        await load_for_update(session, triaged.referral_id) if held.first() is not None else None
    )
    if earlier is not None and earlier.triage_revision >= triaged.revision:
        return  # routed already on this or a later triage decision
    directory = await current_directory(ctx, session)
    routing = route(
        level=triaged.level,
        concern_codes=triaged.concern_codes,
        age=triaged.child_age_years,
        postcode_district=triaged.postcode_district,
        local_authority_code=triaged.local_authority_code,
        open_referrals=await open_referrals(session),
        directory=directory,
        top_level=triaged.top_level or 4,
    )
    now = ctx.clock.now()
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
    row.referrer_organisation = triaged.referrer_organisation
    row.reason_codes = routing.reason_codes
    row.considered = [asdict(c) for c in routing.considered]
    row.directory_version = directory.version
    row.explanation = routing.explanation
    row.routed_at = now
    row.reason_code = None
    moving = routing.destination is None or routing.destination.id != row.destination_id
    if earlier is not None and moving and earlier.status in ("accepted", "in-progress"):
        # The agency working with the family hears that the referral moved on (a hub
        # practitioner's triage override), as it would for a reassignment.
        earlier.status = "cancelled"
        _stage_status(
            ctx, session, earlier, status="cancelled", reason_code="overridden_by_hub", at=now
        )
    again = earlier is not None
    await _address(session, row, routing.destination, at=now, new=not again)
    row.destination_kind = routing.destination_kind
    # Universal services: no referral is made; the advice is the whole outcome.
    row.status = "requested" if routing.destination else "completed"
    if again:
        session.add(row)
        # Written now, as a new record is: the next referral in this transaction
        # counts open referrals with a statement that does not flush the session.
        await session.flush()
    else:
        await conn.execute(_INSERT_DECISION, {c.name: getattr(row, c.name) for c in _DECISIONS.c})
    await _step(
        session,
        row,
        at=now,
        by=SYSTEM,
        summary=(
            f"Routed again after a new triage decision (revision {triaged.revision}). "
            if again
            else ""
        )
        + routing.explanation,
        reason_code=routing.reason_codes[0],
    )
    _stage_routed(ctx, session, row, routing.reason_codes)


async def load_for_update(
    session: AsyncSession, referral_id: str, *, skip_locked: bool = False
) -> RoutingDecision | None:
    """The routing record, locked against a concurrent change (PostgreSQL); with
    `skip_locked`, None also when another transaction holds it."""
    return (
        await session.exec(
            select(RoutingDecision)
            .where(RoutingDecision.referral_id == referral_id)
            .with_for_update(skip_locked=skip_locked)
        )
    ).first()


def may_see(principal: Principal, row: RoutingDecision) -> bool:
    """The hub sees every referral; an agency only those addressed to it."""
    return principal.kind in HUB_KINDS or (
        row.destination_organisation is not None
        and row.destination_organisation == principal.organisation
    )


def _addressed_to(principal: Principal, row: RoutingDecision) -> bool:
    return (
        row.destination_organisation is not None
        and row.destination_organisation == principal.organisation
    )


async def escalate_to_hub(
    ctx: ServiceContext,
    session: AsyncSession,
    row: RoutingDecision,
    *,
    reason_code: str,
    summary: str,
    at: datetime,
) -> None:
    """Send the referral to the hub as a new request (a decline or a missed deadline)."""
    directory = await current_directory(ctx, session)
    hub = directory.of_kind("hub")
    await _address(session, row, hub, at=at)
    row.directory_version = directory.version
    row.reason_code = reason_code
    session.add(row)
    await _step(session, row, at=at, by=SYSTEM, summary=summary, reason_code=reason_code)
    _stage_routed(ctx, session, row, [reason_code])
    _stage_status(ctx, session, row, status="requested", reason_code=reason_code, at=at)


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


async def act(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    referral_id: str,
    principal: Principal,
    action: Action,
    reason_code: str | None = None,
    outcome: Status | None = None,
    note: str | None = None,
) -> RoutingDecision:
    """An agency accepts, declines, starts or closes a referral addressed to it."""
    row = await load_for_update(session, referral_id)
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
    at = ctx.clock.now()
    who = row.destination_name or principal.organisation
    row.status, row.updated_at, row.reason_code = new_status, at, reason_code
    if action != "start":
        await _close_deadlines(session, referral_id, at)
    summary = {
        "accept": f"Accepted by {who}.",
        "start": f"{who} started working with the family.",
        "decline": f"Declined by {who}: {DECLINE_REASONS.get(reason_code or '', reason_code)}.",
        "close": f"Closed by {who} as {new_status}: "
        f"{OUTCOMES.get(new_status, {}).get(reason_code or '', reason_code)}.",
    }[action]
    session.add(row)
    await _step(
        session,
        row,
        at=at,
        by=principal.organisation,
        summary=summary,
        reason_code=reason_code,
        rationale=note,
    )
    _stage_status(ctx, session, row, status=new_status, reason_code=reason_code, at=at)
    if action == "decline":
        await escalate_to_hub(
            ctx,
            session,
            row,
            reason_code="declined_by_agency",
            summary=f"Escalated to the hub because {who} declined it.",
            at=at,
        )
    return row


def _hub_only(principal: Principal) -> None:
    if principal.kind not in HUB_KINDS:
        raise Problem(
            403, "Forbidden", "Only the hub reassigns or overrides referrals.", type="hub-only"
        )


async def reassign(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    referral_id: str,
    principal: Principal,
    agency_id: str,
    rationale: str,
) -> RoutingDecision:
    """The hub sends a referral to an agency of its choosing, saying why."""
    _hub_only(principal)
    row = await load_for_update(session, referral_id)
    if row is None:
        raise NotFound("Referral")
    directory = await current_directory(ctx, session)
    agency = directory.agency(agency_id)
    if agency is None:
        raise Problem(
            422,
            "Unknown agency",
            f"No agency {agency_id!r} in directory version {directory.version}.",
            type="unknown-agency",
        )
    if row.destination_id == agency.id and row.status in OPEN_STATUSES:
        raise _conflict(
            f"The referral is already with {agency.name} ({row.status}).", status=row.status
        )
    await _redirect(
        ctx,
        session,
        row,
        directory,
        agency,
        principal=principal,
        rationale=rationale,
        reason_code="reassigned_by_hub",
        summary=f'Reassigned by the hub ({principal.name}) to {agency.name}: "{rationale}"',
    )
    return row


async def override(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    referral_id: str,
    principal: Principal,
    destination: Literal["mash", "hub", "universal"],
    rationale: str,
) -> RoutingDecision:
    """The hub overrides where a referral goes: up to the MASH, to itself, or down to
    universal services (no referral; an open request is cancelled)."""
    _hub_only(principal)
    row = await load_for_update(session, referral_id)
    if row is None:
        raise NotFound("Referral")
    directory = await current_directory(ctx, session)
    at = ctx.clock.now()
    if destination == "universal":
        if row.destination_id is None:
            raise _conflict("The referral already has no destination (universal services).")
        try:
            row.status = transition(row.status, "cancel")
        except IllegalTransition as exc:
            raise _conflict(str(exc), status=row.status, allowed=exc.allowed) from exc
        reason = "universal_services_advised"
        row.reason_code, row.directory_version = reason, directory.version
        _stage_status(ctx, session, row, status="cancelled", reason_code=reason, at=at)
        await _address(session, row, None, at=at)
        session.add(row)
        await _step(
            session,
            row,
            at=at,
            by=principal.organisation,
            summary=f"Overridden by the hub ({principal.name}): no referral, universal services "
            f'advised: "{rationale}"',
            reason_code=reason,
            rationale=rationale,
        )
        _stage_routed(ctx, session, row, ["overridden_by_hub", reason])
        return row
    agency = directory.of_kind(destination)
    if row.destination_id == agency.id and row.status in OPEN_STATUSES:
        raise _conflict(
            f"The referral is already with {agency.name} ({row.status}).", status=row.status
        )
    await _redirect(
        ctx,
        session,
        row,
        directory,
        agency,
        principal=principal,
        rationale=rationale,
        reason_code="overridden_by_hub",
        summary=f'Overridden by the hub ({principal.name}): sent to {agency.name}: "{rationale}"',
    )
    return row


async def _redirect(
    ctx: ServiceContext,
    session: AsyncSession,
    row: RoutingDecision,
    directory: Directory,
    agency: Agency,
    *,
    principal: Principal,
    rationale: str,
    reason_code: str,
    summary: str,
) -> None:
    at = ctx.clock.now()
    if row.status in ("accepted", "in-progress") and row.destination_id is not None:
        # The agency working with the family hears that the hub moved the referral on.
        # (One still asked to answer simply stops seeing it: the referral.routed to the
        # new destination says where it went.)
        row.status = "cancelled"
        _stage_status(ctx, session, row, status="cancelled", reason_code=reason_code, at=at)
    await _address(session, row, agency, at=at)
    row.directory_version, row.reason_code = directory.version, reason_code
    session.add(row)
    await _step(
        session,
        row,
        at=at,
        by=principal.organisation,
        summary=summary,
        reason_code=reason_code,
        rationale=rationale,
    )
    _stage_routed(ctx, session, row, [reason_code])
    _stage_status(ctx, session, row, status="requested", reason_code=reason_code, at=at)


async def escalate_due(ctx: ServiceContext, *, now: datetime, limit: int = 100) -> int:
    """Escalate to the hub every request whose agency has not answered by its deadline.

    Claims due deadlines in one transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, so
    each fires in exactly one replica; SQLite's single connection serialises) and
    marks them fired with the escalation's events: each fires once, after any restart.
    Returns how many deadlines it claimed.
    """
    async with ctx.db.session() as session:
        query = (
            select(RoutingDeadline)
            .where(RoutingDeadline.state == "pending")
            .where(col(RoutingDeadline.due_at) <= now)
            .order_by(col(RoutingDeadline.due_at))
            .limit(limit)
        )
        if not ctx.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        due = list((await session.exec(query)).all())
        for deadline in due:
            # An agency's answer or the hub may hold the record right now (they lock
            # record then deadlines; waiting here in the other order could deadlock):
            # leave the deadline pending and look again on the next tick.
            row = await load_for_update(session, deadline.referral_id, skip_locked=True)
            if (
                row is None
                and (await session.get(RoutingDecision, deadline.referral_id)) is not None
            ):
                continue
            deadline.state, deadline.closed_at = "fired", now
            session.add(deadline)
            if (
                row is None
                or row.status != "requested"
                or row.destination_id != deadline.destination_id
            ):
                continue  # answered or moved on in the meantime
            hours = (as_utc(deadline.due_at) - as_utc(deadline.created_at)).total_seconds() / 3600
            await escalate_to_hub(
                ctx,
                session,
                row,
                reason_code="no_response_within_sla",
                summary=(
                    f"Escalated to the hub because {row.destination_name} did not accept or "
                    f"decline within {hours:g} hours "
                    f"(due {as_utc(deadline.due_at):%d %b %Y %H:%M} UTC)."
                ),
                at=now,
            )
        await session.commit()
    return len(due)


async def steps_of(session: AsyncSession, referral_id: str) -> list[RoutingStep]:
    return list(
        (
            await session.exec(
                select(RoutingStep)
                .where(RoutingStep.referral_id == referral_id)
                .order_by(col(RoutingStep.id))
            )
        ).all()
    )
