"""Routing's part of the policy simulator: each referral triage decided again routed
again, exactly as routing routed it when it arrived, with a draft directory or the
directory version it was routed by, on a batch path with no per-referral I/O and no
event, no write, no change to live state.

"Exactly as then" means the same pure function as the live path (`decide.route`) with
each agency's load at that moment. Routing's steps are replayed in the order they were
taken, so the open referrals each agency held just before a referral was first routed
are known exactly. The draft keeps a load of its own: a referral the draft sends
elsewhere is open there instead; once the referral really moved on or closed, it does
the same in the draft.

Only a referral's first routing is simulated (the decision at arrival). Later
practitioner changes (reassignments, overrides, declines) are what people did, and
stay as they were.

`rerouted` is the use case behind `POST /v1/simulations/reroute` (the console's
simulation, through the API): triage's decisions in, every referral of the period
routed again, read only, on a unit of work that is never committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.routing import repository
from services.routing.decide import Routing, route
from services.routing.directory import Directory
from services.routing.lifecycle import OPEN_STATUSES
from services.routing.service.directory import as_directory
from shared.clock import as_utc
from shared.problems import Problem
from shared.simulation import Compared, Outcome, Redecided
from shared.uow import UnitOfWork

# Triage decides a referral before routing routes it; on separate machines their clocks
# can differ by a little.
CLOCK_SKEW = timedelta(minutes=10)
NOT_ROUTED = "not routed"
OPEN = frozenset(OPEN_STATUSES)
# What a draft directory is called: it has no version until it is stored.
DRAFT = "draft"


def destination_of(kind: str | None, destination_id: str | None) -> str:
    """A destination as the simulator compares it: "mash", "hub", "universal",
    "agency:<id>"."""
    if kind in ("mash", "hub", "universal") or not destination_id:
        return kind or "universal"
    return f"{kind}:{destination_id}"


def _routed_to(routing: Routing) -> tuple[str, str | None]:
    """Where a routing sends the referral: its destination, and the id it is open at."""
    agency = routing.destination
    return destination_of(routing.destination_kind, agency.id if agency else None), (
        agency.id if agency else None
    )


class _Loads:
    """The open referrals each destination holds, as they really were and as they would
    be under the draft (`Counter`s by destination id)."""

    def __init__(self, standing: list[tuple[str, str | None, str]]) -> None:
        self.real: Counter[str] = Counter()
        self.draft: Counter[str] = Counter()
        self.at: dict[str, str] = {}  # where each open referral really is
        self.diverged: dict[str, str | None] = {}  # the draft's place, where it differs
        for referral_id, destination, status in standing:
            self.step(referral_id, destination, status)

    def step(self, referral_id: str, destination: str | None, status: str) -> None:
        """A step really taken. The draft follows it, unless the referral is open
        elsewhere in the draft and really stays where it was (an accept, a start)."""
        now = destination if status in OPEN else None
        before = self.at.pop(referral_id, None)
        _move(self.real, before, now)
        if now is not None:
            self.at[referral_id] = now
        if referral_id in self.diverged:
            if now == before:
                return
            _move(self.draft, self.diverged.pop(referral_id), now)
        else:
            _move(self.draft, before, now)

    def first(
        self, referral_id: str, destination: str | None, status: str, drafted: str | None
    ) -> None:
        """A referral's first routing: where it really went, and where the draft sends
        it (open there, unless the draft sends it to universal services)."""
        now = destination if status in OPEN else None
        _move(self.real, None, now)
        if now is not None:
            self.at[referral_id] = now
        _move(self.draft, None, drafted)
        if drafted != now:
            self.diverged[referral_id] = drafted


def _move(load: Counter[str], before: str | None, now: str | None) -> None:
    if before is not None:
        load[before] -= 1
    if now is not None:
        load[now] += 1


async def reroute(
    session: Any,
    redecided: AsyncIterator[Redecided],
    *,
    start: datetime,
    top_level: int,
    draft_directory: Directory | None = None,
) -> AsyncIterator[Compared]:
    """Each referral of the period (`redecided`, in the order triage decided them)
    routed again on its triage outcome under the draft, beside where it really went."""
    versions = {row.version: as_directory(row) for row in await repository.all_versions(session)}
    first = await repository.first_step_from(session, start)
    waiting: dict[str, Redecided] = {}  # triaged in the period, not yet routed
    source = aiter(redecided)
    exhausted = False
    frontier: datetime | None = None  # when triage decided the last one pulled

    async def pull_until(at: datetime | None) -> None:
        """Take triage's decisions up to a little past `at` (all of them: None)."""
        nonlocal exhausted, frontier
        while not exhausted and (at is None or frontier is None or frontier <= at + CLOCK_SKEW):
            item = await anext(source, None)
            if item is None:
                exhausted = True
                return
            frontier = item.decided_at
            if item.in_period:
                waiting[item.referral_id] = item

    if first is None:
        await pull_until(None)
        for unrouted in waiting.values():
            yield _compared(unrouted, NOT_ROUTED, NOT_ROUTED)
        return
    loads = _Loads(await repository.standing_before(session, first))
    async for step in repository.stream_steps_from(session, first):
        if step.destination_kind == "pathway":
            continue
        referral_id = step.referral_id
        if referral_id not in waiting:
            await pull_until(as_utc(step.at))
        item = waiting.pop(referral_id, None)
        if item is None:
            # A later step, or the first of a referral received before the period: the
            # draft does not route it again.
            loads.step(referral_id, step.destination_id, step.status)
            continue
        directory = draft_directory or versions.get(step.directory_version or "")
        if directory is None:
            raise LookupError(f"directory version {step.directory_version} is not stored")
        drafted = route(
            level=item.draft.level,
            concern_codes=list(item.concern_codes),
            age=item.age_years,
            postcode_district=item.postcode_district,
            open_referrals=loads.draft,
            directory=directory,
            top_level=top_level,
            suspected_codes=list(item.suspected_codes) if item.suspected_codes else None,
        )
        destination, opened_at = _routed_to(drafted)
        loads.first(referral_id, step.destination_id, step.status, opened_at)
        real = destination_of(step.destination_kind, step.destination_id)
        yield _compared(item, real, destination, drafted.explanation)
    await pull_until(None)
    for unrouted in waiting.values():  # triaged in the period, never routed
        yield _compared(unrouted, NOT_ROUTED, NOT_ROUTED)


def _compared(item: Redecided, real: str, drafted: str, why: str = "") -> Compared:
    stored, draft = item.stored, item.draft
    explanation = f"{draft.explanation} {why}".strip() if why else draft.explanation
    return Compared(
        referral_id=item.referral_id,
        received_at=item.received_at,
        decided_at=item.decided_at,
        stored=Outcome(
            stored.level,
            stored.priority,
            real,
            stored.decide_by,
            stored.score,
            stored.rules,
            stored.factors,
            stored.explanation,
        ),
        draft=Outcome(
            draft.level,
            draft.priority,
            drafted,
            draft.decide_by,
            draft.score,
            draft.rules,
            draft.factors,
            explanation,
        ),
    )


def draft_directory(document: Mapping[str, Any]) -> Directory:
    """A draft directory: the directory's JSON, with or without a `version` (a draft is
    called "draft" whatever it says). A pydantic ValidationError names what is wrong."""
    return Directory.model_validate({**document, "version": DRAFT})


def capacity_of(directory: Directory) -> dict[str, int | None]:
    """Each agency's capacity, keyed as the simulator names destinations."""
    return {f"{a.kind}:{a.id}": a.capacity for a in directory.agencies if a.kind == "agency"}


@dataclass(frozen=True)
class Rerouted:
    """A period's referrals routed again: the directory the draft is routed by (its
    version, "draft" for a draft, and each agency's capacity), and one `Compared` for
    each referral of the period, in the order `reroute` gives them."""

    directory_version: str | None
    capacity: dict[str, int | None]
    compared: list[Compared]


class DirectoryVersionMissing(Problem):
    """A referral of the period was routed by a directory version no longer stored."""

    def __init__(self, message: str) -> None:
        super().__init__(
            409,
            "A directory version is not stored",
            f"{message}: the period cannot be routed again by the directory its referrals "
            "were routed by. Simulate with a draft directory instead.",
            type="directory-version-missing",
        )


async def rerouted(
    *,
    uow: UnitOfWork,
    redecided: Iterable[Redecided],
    start: datetime,
    top_level: int,
    draft: Directory | None = None,
) -> Rerouted:
    """Every referral triage decided again (`redecided`, in the order decided, the
    look-back referrals with `in_period` false) routed again under `draft` (None: by
    the directory version each was routed by), beside where it really went; with the
    directory the draft is routed by (the draft, or the newest stored version). Read
    only: the caller's unit is never committed. A version not stored is a 409."""
    session = uow.session
    routed_by = draft or await _newest(session)

    async def each() -> AsyncIterator[Redecided]:
        for one in redecided:
            yield one

    try:
        compared = [
            one
            async for one in reroute(
                session, each(), start=start, top_level=top_level, draft_directory=draft
            )
        ]
    except LookupError as exc:
        if type(exc) is not LookupError:  # a KeyError or an IndexError is a bug
            raise
        raise DirectoryVersionMissing(str(exc)) from None
    if routed_by is None:
        return Rerouted(directory_version=None, capacity={}, compared=compared)
    return Rerouted(
        directory_version=DRAFT if draft is not None else routed_by.version,
        capacity=capacity_of(routed_by),
        compared=compared,
    )


async def _newest(session: Any) -> Directory | None:
    seq = await repository.latest_version_seq(session)
    row = None if seq is None else await repository.version_numbered(session, seq)
    return as_directory(row) if row is not None else None
