"""Intake's queries and statements.

The submission path (versions, reports, journey steps, Idempotency-Key answers) runs
cached Core statements on the unit's connection: statements with separate parameters
are compiled once and cached by SQLAlchemy, where `.values(...)` would build and
compile a new statement for every report. Reads for answers use the ORM session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import defer, load_only
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import (
    IdempotencyRecord,
    JourneyStep,
    Report,
    ReportPathway,
    ReportVersion,
)
from shared.db import table_of
from shared.pagination import PageRequest, newest_first
from shared.uow import UnitOfWork

_REPORTS = table_of(Report)
_VERSIONS = table_of(ReportVersion)
_ANSWERS = table_of(IdempotencyRecord)

_INSERT_REPORT = insert(_REPORTS)
_INSERT_VERSION = insert(_VERSIONS)
_INSERT_STEP = insert(table_of(JourneyStep))
_INSERT_ANSWER = insert(_ANSWERS)
_SELECT_VERSIONS = select(_VERSIONS).where(
    _VERSIONS.c.organisation == bindparam("organisation"),
    _VERSIONS.c.source_reference == bindparam("reference"),
)
_SELECT_VERSIONS_OF = select(_VERSIONS).where(
    tuple_(_VERSIONS.c.organisation, _VERSIONS.c.source_reference).in_(
        bindparam("references", expanding=True)
    )
)
# Two parameters a reference: well inside asyncpg's 32,767 however many requests share
# a unit (64 batches of up to 10,000 rows each), and a statement PostgreSQL plans fast.
_REFERENCES_PER_READ = 1000
_SELECT_STATUS = select(_REPORTS.c.status).where(_REPORTS.c.referral_id == bindparam("referral_id"))
# Where a report stands, as the journey consumer reads and changes it (never the payload).
_JOURNEY_COLUMNS = (
    "status",
    "level",
    "priority",
    "destination_kind",
    "destination_name",
    "destination_organisation",
    "destination_routed_at",
)
_UPDATE_STANDING = update(_REPORTS).where(_REPORTS.c.referral_id == bindparam("b_referral_id"))
_SELECT_ANSWER = select(
    _ANSWERS.c.request_sha256, _ANSWERS.c.status_code, _ANSWERS.c.response
).where(_ANSWERS.c.client_id == bindparam("client_id"), _ANSWERS.c.key == bindparam("key"))


async def versions(
    conn: AsyncConnection, *, organisation: str, reference: str
) -> list[ReportVersion]:
    """Every stored version under an organisation's reference, in no order."""
    rows = await conn.execute(
        _SELECT_VERSIONS, {"organisation": organisation, "reference": reference}
    )
    return [ReportVersion.model_validate(dict(row._mapping)) for row in rows]


async def versions_of(
    conn: AsyncConnection, references: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[ReportVersion]]:
    """Every stored version under each (organisation, reference), in no order, in one
    statement per `_REFERENCES_PER_READ`; a reference with none maps to an empty list."""
    found: dict[tuple[str, str], list[ReportVersion]] = {ref: [] for ref in references}
    wanted = sorted(found)
    for start in range(0, len(wanted), _REFERENCES_PER_READ):
        chunk = wanted[start : start + _REFERENCES_PER_READ]
        for row in await conn.execute(_SELECT_VERSIONS_OF, {"references": chunk}):
            version = ReportVersion.model_validate(dict(row._mapping))
            found[(version.organisation, version.source_reference)].append(version)
    return found


async def status_of(conn: AsyncConnection, referral_id: str) -> str | None:
    """A report's status, or None when it is not stored."""
    status = await conn.scalar(_SELECT_STATUS, {"referral_id": referral_id})
    return None if status is None else str(status)


_SELECT_STANDINGS = select(
    _REPORTS.c.referral_id, *(_REPORTS.c[name] for name in _JOURNEY_COLUMNS)
).where(_REPORTS.c.referral_id.in_(bindparam("referral_ids", expanding=True)))
_STANDINGS = "intake.standings"


async def _known(uow: UnitOfWork) -> dict[str, dict[str, Any] | None]:
    """The standings this unit has read (None: not stored), as it changes them."""

    async def nothing_yet() -> dict[str, dict[str, Any] | None]:
        return {}

    return await uow.read_once(_STANDINGS, nothing_yet)


async def read_standings(uow: UnitOfWork, referral_ids: Sequence[str]) -> None:
    """Read where each of these reports stands in one statement, for `standing` to
    answer from in this unit (a consumer's batch)."""
    known = await _known(uow)
    wanted = sorted({r for r in referral_ids if r not in known})
    if not wanted:
        return
    await uow.write_inserts(touching=[("intake.report", r) for r in wanted])
    conn = await uow.connection()
    rows = await conn.execute(_SELECT_STANDINGS, {"referral_ids": wanted})
    found = {
        row.referral_id: {name: row._mapping[name] for name in _JOURNEY_COLUMNS} for row in rows
    }
    for referral_id in wanted:
        known[referral_id] = found.get(referral_id)


async def standing(uow: UnitOfWork, referral_id: str) -> dict[str, Any] | None:
    """Where a stored report stands (`_JOURNEY_COLUMNS`: status, level, destination),
    with the changes made to it in `uow` (the same dict, changed in place by its
    caller, for every event of the unit about it); None when it is not stored."""
    await read_standings(uow, [referral_id])
    return (await _known(uow))[referral_id]


def change_standing(
    uow: UnitOfWork, referral_id: str, standing: dict[str, Any], *, at: datetime
) -> None:
    """Write `standing` (every one of `_JOURNEY_COLUMNS`) to the report, updated `at`,
    when `uow` completes: one statement for all the reports a consumer's batch moves
    (`standing` answers with the changed dict in the same unit)."""
    row = {name: standing[name] for name in _JOURNEY_COLUMNS}
    uow.insert(
        _UPDATE_STANDING,
        {"b_referral_id": referral_id, **row, "updated_at": at},
        keys=[("intake.report", referral_id)],
    )


def add_report(uow: UnitOfWork, row: dict[str, Any]) -> None:
    """Insert a report (the columns of `Report`) when `uow` completes."""
    uow.insert(_INSERT_REPORT, row)


def add_version(uow: UnitOfWork, row: dict[str, Any]) -> None:
    """Insert a report version (the columns of `ReportVersion`) when `uow` completes,
    which then raises IntegrityError when another version already follows the one it
    supersedes (one stored since `versions` was read, even in the same unit)."""
    uow.insert(_INSERT_VERSION, row)


def add_step(
    uow: UnitOfWork,
    *,
    referral_id: str,
    status: str,
    at: datetime,
    summary: str,
    ce_id: str | None,
) -> None:
    """Add a step to a referral's journey when `uow` completes."""
    uow.insert(
        _INSERT_STEP,
        {
            "referral_id": referral_id,
            "status": status,
            "at": at,
            "summary": summary,
            "ce_id": ce_id,
        },
    )


async def stored_answer(
    conn: AsyncConnection, *, client_id: str, key: str
) -> Row[Any, Any, Any] | None:
    """The answer stored under a client's Idempotency-Key (`request_sha256`,
    `status_code`, `response`), or None."""
    result = await conn.execute(_SELECT_ANSWER, {"client_id": client_id, "key": key})
    return result.first()


async def remember_answer(
    conn: AsyncConnection,
    *,
    client_id: str,
    key: str,
    request_sha256: str,
    status_code: int,
    response: dict[str, Any],
    created_at: datetime,
) -> None:
    """Store the answer given under a client's Idempotency-Key; raises IntegrityError
    when a concurrent request stored one first."""
    await conn.execute(
        _INSERT_ANSWER,
        {
            "client_id": client_id,
            "key": key,
            "request_sha256": request_sha256,
            "status_code": status_code,
            "response": response,
            "created_at": created_at,
        },
    )


async def forget_answers(conn: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Delete at most `limit` Idempotency-Key answers stored before `before`; returns
    how many went."""
    oldest = select(_ANSWERS.c.client_id, _ANSWERS.c.key).where(_ANSWERS.c.created_at < before)
    result = await conn.execute(
        delete(_ANSWERS).where(
            tuple_(_ANSWERS.c.client_id, _ANSWERS.c.key).in_(oldest.limit(limit))
        )
    )
    return int(result.rowcount)


async def report(session: AsyncSession, referral_id: str) -> Report | None:
    """A stored report, with its payload."""
    return await session.get(Report, referral_id)


async def report_without_payload(session: AsyncSession, referral_id: str) -> Report | None:
    """A stored report without its payload (the personal data), for what needs only
    its status, destination and journey."""
    query = (
        orm_select(Report).where(Report.referral_id == referral_id).options(defer(Report.payload))  # type: ignore[arg-type]
    )
    return (await session.exec(query)).first()


# What a list of reports shows of each: never the payload (the child's personal data) or
# the subject key.
_LISTED = (
    Report.referral_id,
    Report.status,
    Report.source_reference,
    Report.received_at,
    Report.level,
    Report.priority,
    Report.destination_kind,
    Report.destination_name,
)


async def reports_of(
    session: AsyncSession,
    *,
    organisation: str,
    source_kind: str,
    page: PageRequest,
    status: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    reference: str | None = None,
) -> Sequence[Report]:
    """An organisation's reports (of its kind of source), newest first, the page after
    `page.after` and one more (see `shared.pagination`), loaded without their payload;
    filtered by status, received from (inclusive) and to (exclusive), and reference.
    One range of the (organisation, received_at, referral_id) index."""
    query = (
        orm_select(Report)
        .where(_REPORTS.c.organisation == organisation, _REPORTS.c.source_kind == source_kind)
        .options(load_only(*_LISTED, raiseload=True))  # type: ignore[arg-type]
    )
    if status is not None:
        query = query.where(_REPORTS.c.status == status)
    if received_from is not None:
        query = query.where(_REPORTS.c.received_at >= received_from)
    if received_to is not None:
        query = query.where(_REPORTS.c.received_at < received_to)
    if reference is not None:
        query = query.where(_REPORTS.c.source_reference == reference)
    query = newest_first(query, _REPORTS.c.received_at, _REPORTS.c.referral_id, page)
    return (await session.exec(query)).all()


async def journeys(
    session: AsyncSession, referral_ids: Sequence[str]
) -> dict[str, list[JourneyStep]]:
    """The journey steps of each of these referrals, each in the order they happened."""
    found: dict[str, list[JourneyStep]] = {referral_id: [] for referral_id in referral_ids}
    if not referral_ids:
        return found
    query = (
        orm_select(JourneyStep)
        .where(col(JourneyStep.referral_id).in_(referral_ids))
        .order_by(col(JourneyStep.at), col(JourneyStep.id))
    )
    for step in (await session.exec(query)).all():
        found[step.referral_id].append(step)
    return found


async def journey(session: AsyncSession, referral_id: str) -> Sequence[JourneyStep]:
    """A referral's journey steps in the order they happened."""
    query = (
        orm_select(JourneyStep)
        .where(JourneyStep.referral_id == referral_id)
        .order_by(col(JourneyStep.at), col(JourneyStep.id))
    )
    return (await session.exec(query)).all()


async def pathways(session: AsyncSession, referral_id: str) -> Sequence[ReportPathway]:
    """The statutory pathways a referral was told to, in the order they were."""
    query = (
        orm_select(ReportPathway)
        .where(ReportPathway.referral_id == referral_id)
        .order_by(col(ReportPathway.notified_at), col(ReportPathway.pathway))
    )
    return (await session.exec(query)).all()


async def version(session: AsyncSession, referral_id: str) -> ReportVersion | None:
    """A report's version record (what it supersedes)."""
    return await session.get(ReportVersion, referral_id)


async def superseded_by(session: AsyncSession, referral_id: str) -> str | None:
    """The later report (same reference) that replaces this one, if any."""
    query = orm_select(ReportVersion.referral_id).where(ReportVersion.supersedes == referral_id)
    return (await session.exec(query)).first()


async def contacts_in(session: AsyncSession, start: datetime, end: datetime) -> Sequence[Any]:
    """Every version of each report whose first version was received from `start`
    (inclusive) to `end` (exclusive): `organisation`, `source_reference`, `source_kind`,
    `received_at`, `referral_id` and `payload`. The versions of one report share its
    organisation and source reference."""
    firsts = (
        select(
            _REPORTS.c.organisation,
            _REPORTS.c.source_reference,
            func.min(_REPORTS.c.received_at).label("first"),
        )
        .group_by(_REPORTS.c.organisation, _REPORTS.c.source_reference)
        .subquery()
    )
    query = (
        select(
            _REPORTS.c.organisation,
            _REPORTS.c.source_reference,
            _REPORTS.c.source_kind,
            _REPORTS.c.received_at,
            _REPORTS.c.referral_id,
            _REPORTS.c.payload,
        )
        .join(
            firsts,
            (firsts.c.organisation == _REPORTS.c.organisation)
            & (firsts.c.source_reference == _REPORTS.c.source_reference),
        )
        .where(firsts.c.first >= start, firsts.c.first < end)
    )
    connection = await session.connection()
    return (await connection.execute(query)).all()
