"""Routing's queries and statements on its own tables: routing records, their steps
and response deadlines, and the directory's versions. No rules: what to write and
when is the service's.

Routing a referral is the consumer's hot path, where ORM selects and flushes cost
several times more: its statements are built once (SQLAlchemy compiles each once and
caches it) and run on the session's connection, inside its transaction, without
flushing the session. A newly routed referral's rows are not even written one by one:
`hold_new_decision`, `hold_step`, `hold_pathway` and `hold_deadline` hold them in the
unit of work, under the referral's key (`held_for`), and the unit writes a whole
batch's rows with one statement per table when it completes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, literal_column, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.routing.lifecycle import OPEN_STATUSES
from services.routing.models import (
    DirectoryVersion,
    RoutingDeadline,
    RoutingDecision,
    RoutingPathway,
    RoutingStep,
)
from shared.db import table_of
from shared.pagination import PageRequest, newest_first
from shared.uow import UnitOfWork

_DECISIONS = table_of(RoutingDecision)
_INSERT_DECISION = insert(_DECISIONS)
_STEPS = table_of(RoutingStep)
_INSERT_STEP = insert(_STEPS)
_INSERT_DEADLINE = insert(table_of(RoutingDeadline))
_PATHWAYS = table_of(RoutingPathway)
_INSERT_PATHWAY = insert(_PATHWAYS)
_DECISIONS_HELD = (
    core_select(_DECISIONS.c.referral_id)
    .where(_DECISIONS.c.referral_id.in_(bindparam("referral_ids", expanding=True)))
    .order_by(_DECISIONS.c.referral_id)
    .with_for_update()
)
# Per unit of work: whether each referral it has asked about has a routing record.
_DECIDED = "routing.decided"
# The condition spelled as the partial index of open referrals spells it (`OPEN` in the
# models: literals, not bound parameters), so the count reads that index alone.
_OPEN_REFERRALS = (
    core_select(_DECISIONS.c.destination_id, func.count())
    .where(_DECISIONS.c.status.in_([literal_column(f"'{s}'") for s in OPEN_STATUSES]))
    .where(_DECISIONS.c.destination_id.is_not(None))
    .group_by(_DECISIONS.c.destination_id)
)
# Read before every routing decision (versions are only written by `add_version`,
# which flushes).
_LATEST_SEQ = core_select(func.max(table_of(DirectoryVersion).c.seq))

# ---------------------------------------------------------------- routing records


def held_for(referral_id: str) -> tuple[str, str]:
    """The key a referral's rows are held under in a unit of work (`hold_new_decision`
    and the like): a read in the same unit that must see them writes them first with
    `uow.write_inserts(touching=[held_for(referral_id)])`."""
    return ("routing.referral", referral_id)


async def _decided(uow: UnitOfWork) -> dict[str, bool]:
    async def nothing_yet() -> dict[str, bool]:
        return {}

    return await uow.read_once(_DECIDED, nothing_yet)


async def hold_decisions(uow: UnitOfWork, referral_ids: Sequence[str]) -> None:
    """Lock these referrals' routing records against a concurrent change (PostgreSQL),
    in one statement and in key order, and note which referrals have one, for
    `hold_decision` to answer from in this unit (a consumer's batch, read ahead)."""
    decided = await _decided(uow)
    wanted = sorted({r for r in referral_ids if r not in decided})
    if not wanted:
        return
    conn = await uow.connection()
    found = set((await conn.scalars(_DECISIONS_HELD, {"referral_ids": wanted})).all())
    for referral_id in wanted:
        decided[referral_id] = referral_id in found


async def hold_decision(uow: UnitOfWork, referral_id: str) -> bool:
    """Lock the referral's routing record against a concurrent change (PostgreSQL);
    False when it has none, written or held in this unit. Much cheaper than loading
    the record, which only a referral routed before needs."""
    await hold_decisions(uow, [referral_id])
    return (await _decided(uow))[referral_id]


async def decision_for_update(
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


async def decision(session: AsyncSession, referral_id: str) -> RoutingDecision | None:
    """The routing record, unlocked."""
    return await session.get(RoutingDecision, referral_id)


async def decisions(
    session: AsyncSession,
    *,
    organisation: str | None,
    statuses: Sequence[str] | None,
    page: PageRequest,
    reason_code: str | None = None,
    assigned_to: str | None = None,
    unassigned: bool = False,
) -> list[RoutingDecision]:
    """Routing records, newest first (by `routed_at`, then `referral_id`), the page
    after `page.after` and one more (see `shared.pagination`): those addressed to
    `organisation` (None: all), in one of `statuses` (None: any), where they are for
    `reason_code` (None: any), held by the person `assigned_to` (None: anyone) or, when
    `unassigned`, by nobody. An organisation's is one range of the
    (destination_organisation, routed_at, referral_id) index."""
    query = select(RoutingDecision)
    if organisation is not None:
        query = query.where(RoutingDecision.destination_organisation == organisation)
    if statuses is not None:
        query = query.where(col(RoutingDecision.status).in_(statuses))
    if assigned_to is not None:
        query = query.where(RoutingDecision.assigned_person_id == assigned_to)
    if unassigned:
        query = query.where(col(RoutingDecision.assigned_person_id).is_(None))
    if reason_code is not None:
        query = query.where(RoutingDecision.reason_code == reason_code)
    query = newest_first(query, _DECISIONS.c.routed_at, _DECISIONS.c.referral_id, page)
    return list((await session.exec(query)).all())


def _decision_row(row: RoutingDecision) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in _DECISIONS.c}


async def insert_decision(session: AsyncSession, row: RoutingDecision) -> None:
    """Write a new routing record directly (it is not added to the session)."""
    await (await session.connection()).execute(_INSERT_DECISION, _decision_row(row))


async def hold_new_decision(uow: UnitOfWork, row: RoutingDecision) -> None:
    """Write a new routing record, as it stands now, when `uow` completes (or earlier,
    at a `write_inserts` touching its referral); it is not added to the session.
    `hold_decision` knows it from now on."""
    uow.insert(_INSERT_DECISION, _decision_row(row), keys=[held_for(row.referral_id)])
    (await _decided(uow))[row.referral_id] = True


async def update_decision(session: AsyncSession, row: RoutingDecision) -> None:
    """Write a changed routing record now, so a statement that does not flush the
    session (counting open referrals) sees it."""
    session.add(row)
    await session.flush()


async def open_referrals(session: AsyncSession) -> dict[str, int]:
    """How many open referrals (`OPEN_STATUSES`) each destination holds."""
    rows = await (await session.connection()).execute(_OPEN_REFERRALS)
    return {str(agency_id): int(count) for agency_id, count in rows}


def _step_row(
    row: RoutingDecision,
    *,
    at: datetime,
    by: str,
    summary: str,
    reason_code: str | None,
    rationale: str | None,
    told: tuple[str, str] | None,
) -> dict[str, Any]:
    kind, destination_id = told or (row.destination_kind, row.destination_id)
    return {
        "referral_id": row.referral_id,
        "at": at,
        "status": row.status,
        "destination_kind": kind,
        "destination_id": destination_id,
        "reason_code": reason_code,
        "by": by,
        "summary": summary,
        "rationale": rationale,
        "directory_version": row.directory_version,
    }


async def insert_step(
    session: AsyncSession,
    row: RoutingDecision,
    *,
    at: datetime,
    by: str,
    summary: str,
    reason_code: str | None,
    rationale: str | None,
    told: tuple[str, str] | None = None,
) -> None:
    """Write a step of the referral's history: where `row` stands now, and why; for a
    statutory pathway told, `told` is its destination's (kind, id)."""
    await (await session.connection()).execute(
        _INSERT_STEP,
        _step_row(
            row,
            at=at,
            by=by,
            summary=summary,
            reason_code=reason_code,
            rationale=rationale,
            told=told,
        ),
    )


def hold_step(
    uow: UnitOfWork,
    row: RoutingDecision,
    *,
    at: datetime,
    by: str,
    summary: str,
    reason_code: str | None,
    rationale: str | None,
    told: tuple[str, str] | None = None,
) -> None:
    """`insert_step` when `uow` completes (or earlier, at a `write_inserts` touching the
    referral): the step says where `row` stands now, whatever it becomes after."""
    uow.insert(
        _INSERT_STEP,
        _step_row(
            row,
            at=at,
            by=by,
            summary=summary,
            reason_code=reason_code,
            rationale=rationale,
            told=told,
        ),
        keys=[held_for(row.referral_id)],
    )


async def steps_of(session: AsyncSession, referral_id: str) -> list[RoutingStep]:
    """A referral's steps, oldest first."""
    return list(
        (
            await session.exec(
                select(RoutingStep)
                .where(RoutingStep.referral_id == referral_id)
                .order_by(col(RoutingStep.id))
            )
        ).all()
    )


# ---------------------------------------------------------------- statutory pathways


async def pathways_of(session: AsyncSession, referral_id: str) -> list[RoutingPathway]:
    """The statutory pathways a referral was told to, in the order they were."""
    return list(
        (
            await session.exec(
                select(RoutingPathway)
                .where(RoutingPathway.referral_id == referral_id)
                .order_by(col(RoutingPathway.id))
            )
        ).all()
    )


def _pathway_row(row: RoutingPathway) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in _PATHWAYS.c if c.name != "id"}


async def insert_pathway(session: AsyncSession, row: RoutingPathway) -> None:
    """Write that a referral was told to a pathway (once per referral and pathway: a
    second is refused by the database)."""
    await (await session.connection()).execute(_INSERT_PATHWAY, _pathway_row(row))


def hold_pathway(uow: UnitOfWork, row: RoutingPathway) -> None:
    """`insert_pathway` when `uow` completes (or earlier, at a `write_inserts` touching
    the referral); a second for the same referral and pathway is refused then."""
    uow.insert(_INSERT_PATHWAY, _pathway_row(row), keys=[held_for(row.referral_id)])


# ---------------------------------------------------------------- response deadlines


def _deadline_row(
    *, referral_id: str, destination_id: str, due_at: datetime, at: datetime
) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "destination_id": destination_id,
        "due_at": due_at,
        "state": "pending",
        "created_at": at,
        "closed_at": None,
    }


async def insert_deadline(
    session: AsyncSession, *, referral_id: str, destination_id: str, due_at: datetime, at: datetime
) -> None:
    """Start a pending response deadline."""
    await (await session.connection()).execute(
        _INSERT_DEADLINE,
        _deadline_row(referral_id=referral_id, destination_id=destination_id, due_at=due_at, at=at),
    )


def hold_deadline(
    uow: UnitOfWork, *, referral_id: str, destination_id: str, due_at: datetime, at: datetime
) -> None:
    """`insert_deadline` when `uow` completes (or earlier, at a `write_inserts` touching
    the referral)."""
    uow.insert(
        _INSERT_DEADLINE,
        _deadline_row(referral_id=referral_id, destination_id=destination_id, due_at=due_at, at=at),
        keys=[held_for(referral_id)],
    )


async def resolve_deadlines(session: AsyncSession, referral_id: str, *, at: datetime) -> None:
    """Mark the referral's pending deadlines resolved."""
    await session.exec(
        update(RoutingDeadline)
        .where(col(RoutingDeadline.referral_id) == referral_id)
        .where(col(RoutingDeadline.state) == "pending")
        .values(state="resolved", closed_at=at)
    )


async def claim_due_deadlines(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[RoutingDeadline]:
    """Pending deadlines due by `now`, earliest first, locked; on PostgreSQL those
    another transaction holds are skipped (FOR UPDATE SKIP LOCKED, so each is claimed
    by one replica); SQLite's single connection serialises."""
    return list(
        (
            await session.exec(
                select(RoutingDeadline)
                .where(RoutingDeadline.state == "pending")
                .where(col(RoutingDeadline.due_at) <= now)
                .order_by(col(RoutingDeadline.due_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )


# ---------------------------------------------------------------- directory versions


async def latest_version_seq(session: AsyncSession) -> int | None:
    """The newest directory version's number (None before the directory is seeded)."""
    seq = await (await session.connection()).scalar(_LATEST_SEQ)
    return int(seq) if seq is not None else None


async def version_numbered(session: AsyncSession, seq: int) -> DirectoryVersion | None:
    return await session.get(DirectoryVersion, seq)


async def version_named(session: AsyncSession, version: str) -> DirectoryVersion | None:
    return (
        await session.exec(select(DirectoryVersion).where(DirectoryVersion.version == version))
    ).first()


async def versions(session: AsyncSession, page: PageRequest) -> list[DirectoryVersion]:
    """Versions, newest first (by `seq`, which grows with every version), the page
    after `page.after` and one more (see `shared.pagination`). A version's name is
    free text, so a page ends at its `seq`: `page.after.id` is that number, in digits
    (the API refuses any other)."""
    query = select(DirectoryVersion)
    if page.after is not None:
        query = query.where(col(DirectoryVersion.seq) < int(page.after.id))
    query = query.order_by(col(DirectoryVersion.seq).desc()).limit(page.limit + 1)
    return list((await session.exec(query)).all())


async def add_version(session: AsyncSession, row: DirectoryVersion) -> DirectoryVersion:
    """Write a new directory version now (its `seq` is then known)."""
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Received:
    """The referrals received in a period, as routing holds them: each record, every
    step of each (by referral, in the order they happened) and every response deadline
    it had."""

    decisions: list[RoutingDecision]
    steps: list[RoutingStep]
    deadlines: list[RoutingDeadline]


async def received_in(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    area: str | None = None,
    source: str | None = None,
) -> Received:
    """The referrals intake received from `start` (inclusive) to `end` (exclusive) — one
    routed before routing kept the receipt time counts by when it was first routed —
    about a child of local authority `area` and from a source of kind `source` when
    given ("other": neither police nor school)."""
    firsts = (
        core_select(_STEPS.c.referral_id, func.min(_STEPS.c.at).label("first"))
        .group_by(_STEPS.c.referral_id)
        .subquery()
    )
    received = func.coalesce(_DECISIONS.c.received_at, firsts.c.first)
    chosen = (
        core_select(_DECISIONS.c.referral_id)
        .join(firsts, _DECISIONS.c.referral_id == firsts.c.referral_id)
        .where(received >= start, received < end)
    )
    if area is not None:
        chosen = chosen.where(_DECISIONS.c.local_authority_code == area)
    if source == "other":
        chosen = chosen.where(_DECISIONS.c.source_kind.not_in(("police", "school")))
    elif source is not None:
        chosen = chosen.where(_DECISIONS.c.source_kind == source)
    ids = chosen.subquery()
    decisions = select(RoutingDecision).where(
        col(RoutingDecision.referral_id).in_(core_select(ids.c.referral_id))
    )
    steps = (
        select(RoutingStep)
        .where(col(RoutingStep.referral_id).in_(core_select(ids.c.referral_id)))
        .order_by(col(RoutingStep.referral_id), col(RoutingStep.id))
    )
    deadlines = (
        select(RoutingDeadline)
        .where(col(RoutingDeadline.referral_id).in_(core_select(ids.c.referral_id)))
        .order_by(col(RoutingDeadline.referral_id), col(RoutingDeadline.id))
    )
    return Received(
        decisions=list((await session.exec(decisions)).all()),
        steps=list((await session.exec(steps)).all()),
        deadlines=list((await session.exec(deadlines)).all()),
    )


# --- scrape-time counts (shared.metrics) -----------------------------------------------


async def overdue_requests(session: AsyncSession, *, priority: str, now: datetime) -> int:
    """How many referrals of this priority still wait for their destination to accept
    or decline (`requested`) with their `respond_by` passed at `now`."""
    query = core_select(func.count()).where(
        _DECISIONS.c.status == "requested",
        _DECISIONS.c.priority == priority,
        _DECISIONS.c.respond_by < now,
    )
    return int(await (await session.connection()).scalar(query) or 0)


# --- the simulator's batch reads (services.routing.service.simulation) ------------------

_STEP_COLUMNS = (
    _STEPS.c.id,
    _STEPS.c.referral_id,
    _STEPS.c.at,
    _STEPS.c.status,
    _STEPS.c.destination_kind,
    _STEPS.c.destination_id,
    _STEPS.c.directory_version,
)


async def first_step_from(session: AsyncSession, start: datetime) -> int | None:
    """The id of the first step taken at or after `start`."""
    query = core_select(func.min(_STEPS.c.id)).where(_STEPS.c.at >= start)
    found = await (await session.connection()).scalar(query)
    return int(found) if found is not None else None


async def standing_before(session: AsyncSession, first: int) -> list[tuple[str, str | None, str]]:
    """Where each referral stood before step `first`: (referral, destination id, status)
    by its last step before it (a statutory pathway told is not where it stands)."""
    last = (
        core_select(func.max(_STEPS.c.id))
        .where(_STEPS.c.id < first, _STEPS.c.destination_kind != "pathway")
        .group_by(_STEPS.c.referral_id)
    )
    query = core_select(_STEPS.c.referral_id, _STEPS.c.destination_id, _STEPS.c.status).where(
        _STEPS.c.id.in_(last)
    )
    rows = (await (await session.connection()).execute(query)).all()
    return [(referral_id, destination, status) for referral_id, destination, status in rows]


async def stream_steps_from(
    session: AsyncSession, first: int, *, partition: int = 5000
) -> AsyncIterator[Any]:
    """Every step from `first` on, in the order taken, a partition at a time."""
    query = (
        core_select(*_STEP_COLUMNS)
        .where(_STEPS.c.id >= first)
        .order_by(_STEPS.c.id)
        .execution_options(yield_per=partition)
    )
    result = await (await session.connection()).stream(query)
    async for rows in result.partitions(partition):
        for row in rows:
            yield row


async def all_versions(session: AsyncSession) -> list[DirectoryVersion]:
    """Every stored directory version, oldest first."""
    query = select(DirectoryVersion).order_by(col(DirectoryVersion.seq))
    return list((await session.exec(query)).all())
