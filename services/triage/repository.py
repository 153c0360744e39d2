"""Triage's queries and statements: the subject index (children, how each report named
them, their households), the decided history, decisions and overrides, and the
threshold policy versions with their simulations and acts.

No rules here: which identities are one child, which household key wins and what a
decision says are the service's. The consumer's statements (`referral.received` is the
hot path) are Core, built once: SQLAlchemy compiles each once and caches it (ORM
selects and unit-of-work flushes cost several times more per referral). They run on
the unit of work's connection, inside the consumer's transaction.

The consumer's new rows (a subject, an identity, a decision) are held by the unit of
work and written together when it completes (`UnitOfWork.insert`): one statement per
table for a whole batch. Each is held under the keys a later read in the same batch
finds it by (its subject; an identity's date of birth, pupil number and postcode),
and each read here that could find one writes what is held under its keys first, so
a child reported twice in one batch is matched, linked and counted exactly as if the
two reports had come in two batches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any, TypeAlias

from sqlalchemy import Row, bindparam, func, insert, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.triage.models import (
    MatchVerdict,
    PolicyAct,
    PolicySimulation,
    PolicyVersion,
    Subject,
    SubjectIdentity,
    TriageDecision,
    TriageOverride,
    TriageOverrideRequest,
)
from shared.db import table_of
from shared.uow import UnitOfWork

# A row of any shape (statements here select whole tables or a few columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

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


def _subject_key(key: str) -> tuple[str, str]:
    """What a held subject waits under."""
    return ("triage.subject", key)


def _decided_key(subject_key: str) -> tuple[str, str]:
    """What a held decision about a subject waits under."""
    return ("triage.decided", subject_key)


def _identity_keys(
    *, dobs: Sequence[date], upn: str | None, postcode: str | None
) -> list[tuple[str, object]]:
    """What a held identity waits under, and what `identities_near` looks for."""
    keys: list[tuple[str, object]] = [("triage.dob", dob) for dob in dobs]
    if upn is not None:
        keys.append(("triage.upn", upn))
    if postcode is not None:
        keys.append(("triage.postcode", postcode))
    return keys


async def identities_near(
    uow: UnitOfWork, *, dobs: Sequence[date], upn: str | None, postcode: str | None
) -> Sequence[AnyRow]:
    """Every identity born on one of `dobs`, or with the pupil number `upn`, or living at
    `postcode` (None matches nothing), in referral order: one read for matching and
    household linking both. Identities the unit holds are among them."""
    await uow.write_inserts(touching=_identity_keys(dobs=dobs, upn=upn, postcode=postcode))
    params = {"dobs": list(dobs), "upn": upn, "postcode": postcode}
    return (await (await uow.connection()).execute(_IDENTITIES_NEAR, params)).all()


async def subject(uow: UnitOfWork, key: str) -> AnyRow | None:
    """The subject row with this key, if there is one (held by the unit, too)."""
    await uow.write_inserts(touching=[_subject_key(key)])
    return (await (await uow.connection()).execute(_SUBJECT, {"subject_key": key})).first()


def add_subject(uow: UnitOfWork, *, key: str, created_at: datetime) -> None:
    """A new subject, in no household yet, written when `uow` completes."""
    uow.insert(
        _INSERT_SUBJECT,
        {"key": key, "household_key": None, "created_at": created_at},
        keys=[_subject_key(key)],
    )


def add_identity(uow: UnitOfWork, values: dict[str, Any]) -> None:
    """How one report named its child (the columns of `SubjectIdentity`), written when
    `uow` completes."""
    keys = _identity_keys(
        dobs=[values["date_of_birth"]], upn=values["upn"], postcode=values["postcode"]
    )
    uow.insert(_INSERT_IDENTITY, values, keys=keys)


async def set_household(uow: UnitOfWork, *, subject_key: str, household: str) -> None:
    """Put one subject in `household` (a subject the unit holds is written first)."""
    await uow.write_inserts(touching=[_subject_key(subject_key)])
    await (await uow.connection()).execute(
        _SET_HOUSEHOLD, {"subject_key": subject_key, "household": household}
    )


async def move_household(uow: UnitOfWork, *, old: str, household: str) -> None:
    """Move every subject of household `old` into `household`. (A subject the unit holds
    is in no household: `set_household` writes it before it joins one.)"""
    await (await uow.connection()).execute(_MOVE_HOUSEHOLD, {"old": old, "household": household})


async def household_members(uow: UnitOfWork, household: str) -> Sequence[str]:
    """The keys of the subjects in `household` (see `move_household`)."""
    return (await (await uow.connection()).scalars(_HOUSEHOLD_KEYS, {"household": household})).all()


async def history(
    uow: UnitOfWork,
    *,
    keys: Sequence[str],
    since: datetime,
    until: datetime,
    exclude: Sequence[str],
) -> Sequence[AnyRow]:
    """The decisions about the subjects `keys` reported between `since` and `until`, but
    for the referrals in `exclude`, oldest first; decisions the unit holds included."""
    await uow.write_inserts(touching=[_decided_key(key) for key in keys])
    params = {"keys": list(keys), "since": since, "until": until, "exclude": list(exclude)}
    return (await (await uow.connection()).execute(_HISTORY, params)).all()


def add_decision(uow: UnitOfWork, values: dict[str, Any]) -> None:
    """A decision (the columns of `TriageDecision`), written when `uow` completes."""
    uow.insert(_INSERT_DECISION, values, keys=[_decided_key(values["subject_key"])])


async def decision(
    session: AsyncSession, referral_id: str, *, lock: bool = False
) -> TriageDecision | None:
    """The decision on a referral; with `lock`, held until the transaction ends, so two
    practitioners changing it at once take turns (PostgreSQL; SQLite serialises
    writers on its one connection)."""
    query = select(TriageDecision).where(TriageDecision.referral_id == referral_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def overrides(session: AsyncSession, referral_id: str) -> list[TriageOverride]:
    """The overrides of a referral's level, in the order they were made."""
    query = (
        select(TriageOverride)
        .where(TriageOverride.referral_id == referral_id)
        .order_by(col(TriageOverride.revision))
    )
    return list((await session.exec(query)).all())


async def override_requests(session: AsyncSession, referral_id: str) -> list[TriageOverrideRequest]:
    """The requests to lower a referral from the statutory level, oldest first."""
    query = (
        select(TriageOverrideRequest)
        .where(TriageOverrideRequest.referral_id == referral_id)
        .order_by(col(TriageOverrideRequest.requested_at), col(TriageOverrideRequest.id))
    )
    return list((await session.exec(query)).all())


async def override_request(
    session: AsyncSession, referral_id: str, request_id: str
) -> TriageOverrideRequest | None:
    """One request to lower a referral's level, if it is that referral's."""
    query = select(TriageOverrideRequest).where(
        TriageOverrideRequest.id == request_id,
        TriageOverrideRequest.referral_id == referral_id,
    )
    return (await session.exec(query)).first()


# ---- a child's chronology and practitioners' verdicts on matches -------------------

_VERDICTS = table_of(MatchVerdict)
_VERDICTS_ON = (
    core_select(_VERDICTS)
    .where(_VERDICTS.c.identity_id.in_(bindparam("ids", expanding=True)))
    .order_by(_VERDICTS.c.at, _VERDICTS.c.id)
)
_IDENTITIES_BY_ID = core_select(_IDENTITIES).where(
    _IDENTITIES.c.referral_id.in_(bindparam("ids", expanding=True))
)


async def verdicts_on(conn: AsyncConnection, identity_ids: Sequence[str]) -> Sequence[AnyRow]:
    """The verdicts given on links of these identities (`MatchVerdict.identity_id`), in
    the order they were given."""
    return (await conn.execute(_VERDICTS_ON, {"ids": list(identity_ids)})).all()


async def identities_by_id(conn: AsyncConnection, ids: Sequence[str]) -> Sequence[AnyRow]:
    """The identities that these referrals named their child by (those that have one)."""
    return (await conn.execute(_IDENTITIES_BY_ID, {"ids": list(ids)})).all()


async def identities_of(
    session: AsyncSession, subject_keys: Sequence[str]
) -> list[SubjectIdentity]:
    """Every identity of these subjects, in referral order."""
    query = (
        select(SubjectIdentity)
        .where(col(SubjectIdentity.subject_key).in_(list(subject_keys)))
        .order_by(col(SubjectIdentity.referral_id))
    )
    return list((await session.exec(query)).all())


async def identities_alike(
    session: AsyncSession, *, dobs: Sequence[date], upns: Sequence[str]
) -> list[SubjectIdentity]:
    """Every identity born on one of `dobs` or with one of the pupil numbers `upns`."""
    query = (
        select(SubjectIdentity)
        .where(
            or_(
                col(SubjectIdentity.date_of_birth).in_(list(dobs)),
                col(SubjectIdentity.upn).in_(list(upns)),
            )
        )
        .order_by(col(SubjectIdentity.referral_id))
    )
    return list((await session.exec(query)).all())


async def identity(session: AsyncSession, referral_id: str) -> SubjectIdentity | None:
    """The identity this referral named its child by, if it added one to the index."""
    return await session.get(SubjectIdentity, referral_id)


async def decisions_about(
    session: AsyncSession, *, subject_keys: Sequence[str], referral_ids: Sequence[str]
) -> list[TriageDecision]:
    """The decisions about these subjects, and on these referrals, oldest first."""
    query = (
        select(TriageDecision)
        .where(
            or_(
                col(TriageDecision.subject_key).in_(list(subject_keys)),
                col(TriageDecision.referral_id).in_(list(referral_ids)),
            )
        )
        .order_by(col(TriageDecision.received_at), col(TriageDecision.referral_id))
    )
    return list((await session.exec(query)).all())


async def verdicts_given(session: AsyncSession, subject_key: str) -> list[MatchVerdict]:
    """The verdicts given on one child's chronology, in the order they were given."""
    query = (
        select(MatchVerdict)
        .where(MatchVerdict.subject_key == subject_key)
        .order_by(col(MatchVerdict.at), col(MatchVerdict.id))
    )
    return list((await session.exec(query)).all())


async def decisions_received(
    session: AsyncSession, start: datetime, end: datetime
) -> list[TriageDecision]:
    """The decisions on referrals received from `start` (inclusive) to `end` (exclusive)."""
    query = select(TriageDecision).where(
        col(TriageDecision.received_at) >= start, col(TriageDecision.received_at) < end
    )
    return list((await session.exec(query)).all())


async def overrides_received(
    session: AsyncSession, start: datetime, end: datetime
) -> list[TriageOverride]:
    """The overrides of the referrals received from `start` (inclusive) to `end`
    (exclusive), whenever they were made: one query, joined on the decision's receipt.
    By referral, in the order they were made."""
    query = (
        select(TriageOverride)
        .join(TriageDecision, col(TriageDecision.referral_id) == col(TriageOverride.referral_id))
        .where(col(TriageDecision.received_at) >= start, col(TriageDecision.received_at) < end)
        .order_by(col(TriageOverride.referral_id), col(TriageOverride.revision))
    )
    return list((await session.exec(query)).all())


# --- the simulator's batch reads (services.triage.service.simulation) -------------------

# What re-deciding a stored referral needs, in the order triage decided them: no ORM
# objects, one row per referral, read a partition at a time.
_SIMULATED = (
    core_select(
        _DECISIONS.c.referral_id,
        _DECISIONS.c.subject_key,
        _DECISIONS.c.household_key,
        _DECISIONS.c.reported_at,
        _DECISIONS.c.received_at,
        _DECISIONS.c.decided_at,
        _DECISIONS.c.decided_level,
        _DECISIONS.c.decided_priority,
        _DECISIONS.c.decide_by,
        _DECISIONS.c.score,
        _DECISIONS.c.rules,
        _DECISIONS.c.factors,
        _DECISIONS.c.concern_codes,
        _DECISIONS.c.member_flags,
        _DECISIONS.c.immediate_risk,
        _DECISIONS.c.child_age_years,
        _DECISIONS.c.postcode_district,
        _DECISIONS.c.suspected_concerns,
        _DECISIONS.c.rationale,
    )
    .where(_DECISIONS.c.decided_at >= bindparam("since"))
    .where(_DECISIONS.c.received_at < bindparam("until"))
    .order_by(_DECISIONS.c.decided_at, _DECISIONS.c.referral_id)
)
_OVERRIDES = table_of(TriageOverride)


async def earliest_reported(
    conn: AsyncConnection, start: datetime, end: datetime
) -> datetime | None:
    """When the earliest-reported of the referrals received from `start` to `end` was
    reported (the simulator's history reaches back from it)."""
    query = core_select(func.min(_DECISIONS.c.reported_at)).where(
        _DECISIONS.c.received_at >= start, _DECISIONS.c.received_at < end
    )
    found: datetime | None = await conn.scalar(query)
    return found


async def count_received(conn: AsyncConnection, start: datetime, end: datetime) -> int:
    """How many referrals were received from `start` (inclusive) to `end` (exclusive)."""
    query = core_select(func.count()).where(
        _DECISIONS.c.received_at >= start, _DECISIONS.c.received_at < end
    )
    return int(await conn.scalar(query) or 0)


async def stream_decided(
    conn: AsyncConnection, since: datetime, until: datetime, *, partition: int = 5000
) -> AsyncIterator[AnyRow]:
    """Every decision made from `since` on about a referral received before `until`, in
    the order triage made them, a partition at a time."""
    result = await conn.stream(
        _SIMULATED.execution_options(yield_per=partition), {"since": since, "until": until}
    )
    async for rows in result.partitions(partition):
        for row in rows:
            yield row


async def households_now(conn: AsyncConnection) -> dict[str, str]:
    """Each subject's household as it stands (subjects in none are left out)."""
    query = core_select(_SUBJECTS.c.key, _SUBJECTS.c.household_key).where(
        _SUBJECTS.c.household_key.is_not(None)
    )
    return {key: household for key, household in (await conn.execute(query)).all()}


async def overrides_since(
    conn: AsyncConnection, since: datetime
) -> dict[str, list[tuple[datetime, int]]]:
    """Every override made from `since` on, by referral: (when, the level it set), in
    the order made."""
    query = (
        core_select(_OVERRIDES.c.referral_id, _OVERRIDES.c.at, _OVERRIDES.c.to_level)
        .where(_OVERRIDES.c.at >= since)
        .order_by(_OVERRIDES.c.referral_id, _OVERRIDES.c.revision)
    )
    found: dict[str, list[tuple[datetime, int]]] = {}
    for referral_id, at, level in (await conn.execute(query)).all():
        found.setdefault(referral_id, []).append((at, level))
    return found


# ---- threshold policy versions ------------------------------------------------------

_SIMULATIONS = table_of(PolicySimulation)
# A simulation as a version lists it: everything but its summary (a few MB each).
_SIMULATIONS_LISTED = core_select(
    *(column for column in _SIMULATIONS.c if column.name != "summary")
)


async def policy_version(
    session: AsyncSession, version_id: str, *, lock: bool = False
) -> PolicyVersion | None:
    """One policy version; with `lock`, held until the transaction ends, so two people
    approving or withdrawing it at once take turns (PostgreSQL; SQLite serialises
    writers on its one connection)."""
    query = select(PolicyVersion).where(PolicyVersion.id == version_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def policy_version_named(
    session: AsyncSession, policy_id: str, version: str
) -> PolicyVersion | None:
    """The version drafted with this policy id and version, if any."""
    query = select(PolicyVersion).where(
        PolicyVersion.policy_id == policy_id, PolicyVersion.version == version
    )
    return (await session.exec(query)).first()


async def policy_versions(session: AsyncSession) -> list[PolicyVersion]:
    """Every policy version, the newest drafted first."""
    query = select(PolicyVersion).order_by(
        col(PolicyVersion.drafted_at).desc(), col(PolicyVersion.id).desc()
    )
    return list((await session.exec(query)).all())


async def approved_policy_versions(session: AsyncSession) -> list[PolicyVersion]:
    """The approved policy versions in the order they take effect (at one instant, the
    later approval last)."""
    query = (
        select(PolicyVersion)
        .where(PolicyVersion.state == "approved")
        .order_by(
            col(PolicyVersion.activates_at),
            col(PolicyVersion.approved_at),
            col(PolicyVersion.id),
        )
    )
    return list((await session.exec(query)).all())


async def policy_acts(session: AsyncSession, version_id: str) -> list[PolicyAct]:
    """The acts on a version (the audit trail), in the order they were made."""
    query = (
        select(PolicyAct)
        .where(PolicyAct.version_id == version_id)
        .order_by(col(PolicyAct.at), col(PolicyAct.id))
    )
    return list((await session.exec(query)).all())


async def policy_simulations(session: AsyncSession, version_id: str) -> Sequence[AnyRow]:
    """The simulations recorded with a version, newest first, without their summaries."""
    query = _SIMULATIONS_LISTED.where(_SIMULATIONS.c.version_id == version_id).order_by(
        _SIMULATIONS.c.simulated_at.desc(), _SIMULATIONS.c.id.desc()
    )
    return (await (await session.connection()).execute(query)).all()


async def policy_simulation(
    session: AsyncSession, version_id: str, simulation_id: str
) -> PolicySimulation | None:
    """One simulation of a version, with its summary."""
    query = select(PolicySimulation).where(
        PolicySimulation.id == simulation_id, PolicySimulation.version_id == version_id
    )
    return (await session.exec(query)).first()
