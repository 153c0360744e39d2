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

A batch also reads ahead (`read_ahead`, once, before its first report): the identities
near all its reports, the subjects and decided history of the children intake named and
of those the identities name (whom a report may be matched to), and the practitioners'
verdicts on those identities, in four statements (three when no identity is near). A
read answers from what was read ahead only when all it asks for was read ahead and the
batch has changed none of it since: none of its keys was held or updated in the unit
after the read-ahead (`_Ahead.spent`). Otherwise it reads the database as before.
Either way the unit's own work is in the answer. (No batch writes a verdict: they are
the practitioners', and one given while a batch runs is seen from the next.)

What other transactions commit while a batch runs is not: the read-ahead sees the
database as the batch began. On PostgreSQL (READ COMMITTED) a read of its own would
see a commit made meanwhile, such as a report about the same child decided by another
triage replica in another partition (intake keys children by name, so one child
spelled two ways lands in two partitions), or a practitioner's verdict. That race is
not new. Two replicas' batches never see each other's uncommitted decisions, so a
report decided in one is found by the other only from its next batch. The read-ahead
widens the race from a report's own read to its batch's start, about a batch's
length (tens to hundreds of milliseconds). A report missed that way is counted in the
child's history by every later report. SQLite runs one unit at a time: there is no
"meanwhile".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
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
_HISTORY_COLUMNS = (
    _DECISIONS.c.referral_id,
    _DECISIONS.c.subject_key,
    _DECISIONS.c.reported_at,
    _DECISIONS.c.level,
    _DECISIONS.c.concern_codes,
    _DECISIONS.c.member_flags,
)
_HISTORY = (
    core_select(*_HISTORY_COLUMNS)
    .where(_DECISIONS.c.subject_key.in_(bindparam("keys", expanding=True)))
    .where(_DECISIONS.c.reported_at >= bindparam("since"))
    .where(_DECISIONS.c.reported_at <= bindparam("until"))
    .where(_DECISIONS.c.referral_id.not_in(bindparam("exclude", expanding=True)))
    .order_by(_DECISIONS.c.reported_at, _DECISIONS.c.referral_id)
)
# A batch's read-ahead: `_IDENTITIES_NEAR`, `_SUBJECT` and `_HISTORY` for all its
# reports at once (the history over the union of their windows, excluding none).
_IDENTITIES_AHEAD = (
    core_select(_IDENTITIES)
    .where(
        or_(
            _IDENTITIES.c.date_of_birth.in_(bindparam("dobs", expanding=True)),
            _IDENTITIES.c.upn.in_(bindparam("upns", expanding=True)),
            _IDENTITIES.c.postcode.in_(bindparam("postcodes", expanding=True)),
        )
    )
    .order_by(_IDENTITIES.c.referral_id)
)
_SUBJECTS_AHEAD = core_select(_SUBJECTS).where(
    _SUBJECTS.c.key.in_(bindparam("keys", expanding=True))
)
_HISTORY_AHEAD = (
    core_select(*_HISTORY_COLUMNS)
    .where(_DECISIONS.c.subject_key.in_(bindparam("keys", expanding=True)))
    .where(_DECISIONS.c.reported_at >= bindparam("since"))
    .where(_DECISIONS.c.reported_at <= bindparam("until"))
    .order_by(_DECISIONS.c.reported_at, _DECISIONS.c.referral_id)
)
_AHEAD = "triage.ahead"
# The most subject keys one read-ahead statement binds (a batch of 200 reports about
# children with many namesakes stays well inside PostgreSQL's 32,767 parameters).
AHEAD_KEYS = 1000


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


@dataclass
class _Ahead:
    """What a batch read ahead, as the database stood before its first report: the
    keys it covers (`read`: an identity's date of birth, pupil number and postcode, a
    subject, a subject's decisions) and those the batch has changed since (`spent`)."""

    read: set[Hashable]
    identities: Sequence[AnyRow]  # in referral order, as `_IDENTITIES_NEAR` gives them
    subjects: dict[str, AnyRow | None]  # by key; None: no such subject
    since: datetime
    until: datetime
    decisions: Sequence[AnyRow]  # oldest first, as `_HISTORY` gives them
    # The practitioners' verdicts on links of the identities read ahead (by referral
    # id), in the order given, as `_VERDICTS_ON` gives them. No batch writes one.
    verdicts: Sequence[AnyRow] = ()
    judged: frozenset[str] = frozenset()  # the identities whose verdicts were read
    spent: set[Hashable] = field(default_factory=set)

    def covers(self, since: datetime, until: datetime) -> bool:
        """Whether the decisions read ahead span `since` to `until` (times are stored,
        bound and compared in UTC on both databases: sqlmodel's `UTCDateTime`)."""
        return self.since <= since and until <= self.until

    def answers(self, keys: Iterable[Hashable]) -> bool:
        """Whether a read by these keys finds only what was read ahead: all of them were,
        and the batch has changed none of them since."""
        wanted = set(keys)
        return wanted <= self.read and self.spent.isdisjoint(wanted)


def _ahead(uow: UnitOfWork) -> _Ahead | None:
    """The unit's read-ahead, if its batch read ahead."""
    ahead = uow.kept(_AHEAD)
    return ahead if isinstance(ahead, _Ahead) else None


def _spend(uow: UnitOfWork, keys: Iterable[Hashable]) -> None:
    """The unit changes rows found by these keys: reads by them go to the database."""
    ahead = _ahead(uow)
    if ahead is not None:
        ahead.spent.update(keys)


async def read_ahead(
    uow: UnitOfWork,
    *,
    dobs: Iterable[date],
    upns: Iterable[str],
    postcodes: Iterable[str],
    subject_keys: Iterable[str],
    since: datetime,
    until: datetime,
) -> None:
    """Read, before a batch's first report, every identity born on one of `dobs`, with
    one of `upns` or at one of `postcodes`; the subjects `subject_keys` and those the
    identities found name (the children a report may be matched to, surely or
    possibly); their decisions reported between `since` and `until`; and the verdicts
    on the identities found: four statements (three when none is found; more only for a
    batch naming over `AHEAD_KEYS` children), which `identities_near`, `subject`,
    `history` and `verdicts_on` answer from (see the module's docstring)."""
    await uow.write_inserts()  # nothing is held before a batch's first report; if it were
    dobs, upns, postcodes = sorted(set(dobs)), sorted(set(upns)), sorted(set(postcodes))
    conn = await uow.connection()
    params = {"dobs": dobs, "upns": upns, "postcodes": postcodes}
    identities = (await conn.execute(_IDENTITIES_AHEAD, params)).all()
    keys = sorted({*subject_keys, *(row.subject_key for row in identities)})
    found: dict[str, AnyRow] = {}
    decisions: list[AnyRow] = []
    for start in range(0, len(keys), AHEAD_KEYS):
        some = keys[start : start + AHEAD_KEYS]
        found.update((row.key, row) for row in await conn.execute(_SUBJECTS_AHEAD, {"keys": some}))
        params = {"keys": some, "since": since, "until": until}
        decisions += (await conn.execute(_HISTORY_AHEAD, params)).all()
    if len(keys) > AHEAD_KEYS:
        decisions.sort(key=lambda row: (row.reported_at, row.referral_id))
    judged = sorted({row.referral_id for row in identities})
    verdicts: list[AnyRow] = []
    for start in range(0, len(judged), AHEAD_KEYS):
        ids = judged[start : start + AHEAD_KEYS]
        verdicts += (await conn.execute(_VERDICTS_ON, {"ids": ids})).all()
    if len(judged) > AHEAD_KEYS:
        verdicts.sort(key=lambda row: (row.at, row.id))
    read: set[Hashable] = set(_identity_keys(dobs=dobs, upn=None, postcode=None))
    read.update(("triage.upn", upn) for upn in upns)
    read.update(("triage.postcode", postcode) for postcode in postcodes)
    read.update(_subject_key(key) for key in keys)
    read.update(_decided_key(key) for key in keys)
    uow.keep(
        _AHEAD,
        _Ahead(
            read=read,
            identities=identities,
            subjects={key: found.get(key) for key in keys},
            since=since,
            until=until,
            decisions=decisions,
            verdicts=verdicts,
            judged=frozenset(judged),
        ),
    )


async def identities_near(
    uow: UnitOfWork, *, dobs: Sequence[date], upn: str | None, postcode: str | None
) -> Sequence[AnyRow]:
    """Every identity born on one of `dobs`, or with the pupil number `upn`, or living at
    `postcode` (None matches nothing), in referral order: one read for matching and
    household linking both. Identities the unit holds are among them."""
    keys = _identity_keys(dobs=dobs, upn=upn, postcode=postcode)
    ahead = _ahead(uow)
    if ahead is not None and ahead.answers(keys):
        return [
            row
            for row in ahead.identities
            if row.date_of_birth in dobs
            or (upn is not None and row.upn == upn)
            or (postcode is not None and row.postcode == postcode)
        ]
    await uow.write_inserts(touching=keys)
    params = {"dobs": list(dobs), "upn": upn, "postcode": postcode}
    return (await (await uow.connection()).execute(_IDENTITIES_NEAR, params)).all()


async def subject(uow: UnitOfWork, key: str) -> AnyRow | None:
    """The subject row with this key, if there is one (held by the unit, too)."""
    ahead = _ahead(uow)
    if ahead is not None and ahead.answers([_subject_key(key)]):
        return ahead.subjects[key]
    await uow.write_inserts(touching=[_subject_key(key)])
    return (await (await uow.connection()).execute(_SUBJECT, {"subject_key": key})).first()


def add_subject(uow: UnitOfWork, *, key: str, created_at: datetime) -> None:
    """A new subject, in no household yet, written when `uow` completes."""
    _spend(uow, [_subject_key(key)])
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
    _spend(uow, keys)
    uow.insert(_INSERT_IDENTITY, values, keys=keys)


async def set_household(uow: UnitOfWork, *, subject_key: str, household: str) -> None:
    """Put one subject in `household` (a subject the unit holds is written first)."""
    await uow.write_inserts(touching=[_subject_key(subject_key)])
    _spend(uow, [_subject_key(subject_key)])
    await (await uow.connection()).execute(
        _SET_HOUSEHOLD, {"subject_key": subject_key, "household": household}
    )


async def move_household(uow: UnitOfWork, *, old: str, household: str) -> None:
    """Move every subject of household `old` into `household`. (A subject the unit holds
    is in no household: `set_household` writes it before it joins one.)"""
    ahead = _ahead(uow)
    if ahead is not None:  # which subjects move is not known here: none is answered now
        ahead.spent.update(
            k for k in ahead.read if isinstance(k, tuple) and k[0] == "triage.subject"
        )
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
    decided = [_decided_key(key) for key in keys]
    ahead = _ahead(uow)
    if ahead is not None and ahead.covers(since, until) and ahead.answers(decided):
        wanted, left_out = set(keys), set(exclude)
        return [
            row
            for row in ahead.decisions
            if row.subject_key in wanted
            and row.referral_id not in left_out
            and since <= row.reported_at <= until
        ]
    await uow.write_inserts(touching=decided)
    params = {"keys": list(keys), "since": since, "until": until, "exclude": list(exclude)}
    return (await (await uow.connection()).execute(_HISTORY, params)).all()


def add_decision(uow: UnitOfWork, values: dict[str, Any]) -> None:
    """A decision (the columns of `TriageDecision`), written when `uow` completes."""
    _spend(uow, [_decided_key(values["subject_key"])])
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


async def verdicts_on(uow: UnitOfWork, identity_ids: Sequence[str]) -> Sequence[AnyRow]:
    """The verdicts given on links of these identities (`MatchVerdict.identity_id`), in
    the order they were given; from the batch's read-ahead when it read them all (a
    verdict is a practitioner's, never a batch's: none is held or spent)."""
    ahead = _ahead(uow)
    if ahead is not None and ahead.judged.issuperset(identity_ids):
        wanted = set(identity_ids)
        return [row for row in ahead.verdicts if row.identity_id in wanted]
    conn = await uow.connection()
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
