"""Threshold policy versions: publishing a policy is a reviewed act (issue 17).

A hub manager, a partnership analyst or an administrator drafts a version (`draft`: the
policy document, checked as `signpost policy check` checks a file, valid and sound). It
is simulated over the referrals of a period (triage decides them again, `redecide`; the
console has routing route them again, sums the difference and records it here,
`record_simulation`). A second person with `policy:approve` approves it (`approve`) with
the simulation they saw, to take effect from a time more than a minute away; until then
it may be withdrawn (`withdraw`). Every act is kept, with who and when (`PolicyAct`).

The policy in force at a moment is the newest approved version whose `activates_at` has
passed (ties: the later approval), else the file policy (TRIAGE_POLICY_PATH). Each
process keeps that schedule in memory (`PolicySchedule`): read as triage starts and
again every TRIAGE_POLICY_REFRESH_SECONDS (`refresh_schedule`), and changed at once by
an approval or a withdrawal made in the process, once it is committed. Deciding a
referral reads no table. The minute an approval must leave (`MIN_NOTICE`) is what lets
every replica read a version before it decides anything with it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.triage import repository
from services.triage.models import PolicyAct, PolicySimulation, PolicyVersion
from services.triage.policy import PolicyError, ThresholdPolicy, parse_policy
from services.triage.schemas import (
    PolicyActView,
    PolicyInForce,
    PolicySimulationDetail,
    PolicySimulationView,
    PolicyVersionItem,
    PolicyVersionList,
    PolicyVersionView,
    PolicyView,
)
from services.triage.service.simulation import redecided_ndjson, weight_changes
from shared.auth import Principal
from shared.clock import as_utc
from shared.measures import Period
from shared.problems import NotFound, Problem
from shared.text import forbidden_character
from shared.uow import UnitOfWork, UnitsOfWork

# How long after its approval a version may take effect at the soonest: more than any
# replica waits between two reads of the approved versions (TRIAGE_POLICY_REFRESH_SECONDS
# is at most 30), so none decides a referral with the policy it replaces by then.
MIN_NOTICE = timedelta(seconds=60)
# The oldest a schedule may be when a referral is decided with it: read again first when
# it is older (a replica whose refresh loop keeps failing must not decide past an
# approval or a withdrawal it has not read). Well inside MIN_NOTICE.
STALE_AFTER_SECONDS = 45.0
# The order of the acts on a version made at one instant (a stopped clock).
ACTS = ("drafted", "simulated", "approved", "withdrawn")


# ---- the schedule: which policy decides a referral received at a given moment -------


@dataclass(frozen=True)
class Scheduled:
    """An approved version, parsed, and when it takes effect."""

    version_id: str
    activates_at: datetime
    approved_at: datetime
    policy: ThresholdPolicy


def _order(one: Scheduled) -> tuple[datetime, datetime, str]:
    return one.activates_at, one.approved_at, one.version_id


class PolicySchedule:
    """The policies a process decides with: the file policy, then each approved version
    from its `activates_at` (the one in force when it was read, and those still to
    come). One per running triage (`services.triage.service.schedule_of`)."""

    def __init__(self, file_policy: ThresholdPolicy) -> None:
        self.file_policy = file_policy
        self._versions: tuple[Scheduled, ...] = ()
        # Moved by every change made in this process, so a read that began before one
        # does not put back what it changed (`refresh_schedule`).
        self.generation = 0
        # When the approved versions were last read (time.monotonic()); None: never.
        self.read_at: float | None = None
        # Each version's document parsed once per process (a stored version never changes).
        self._parsed: dict[str, ThresholdPolicy] = {}

    @property
    def versions(self) -> tuple[Scheduled, ...]:
        """The approved versions it holds, in the order they take effect."""
        return self._versions

    def current(self, at: datetime) -> Scheduled | None:
        """The approved version in force at `at`; None: the file policy is."""
        found = None
        for one in self._versions:
            if one.activates_at > at:
                break
            found = one
        return found

    def in_force(self, at: datetime) -> ThresholdPolicy:
        """The policy that decides a referral at `at`."""
        current = self.current(at)
        return self.file_policy if current is None else current.policy

    def scheduled(self, row: PolicyVersion) -> Scheduled:
        """An approved version as the schedule holds it (its document parsed once)."""
        assert row.activates_at is not None and row.approved_at is not None
        policy = self._parsed.get(row.id)
        if policy is None:
            policy = self._parsed[row.id] = stored_policy(row)
        return Scheduled(row.id, as_utc(row.activates_at), as_utc(row.approved_at), policy)

    def replace(self, versions: Iterable[Scheduled]) -> None:
        """Hold exactly these versions."""
        self._versions = tuple(sorted(versions, key=_order))

    def add(self, one: Scheduled) -> None:
        """Hold one more approved version (approved in this process)."""
        self.generation += 1
        self.replace([*(v for v in self._versions if v.version_id != one.version_id), one])

    def remove(self, version_id: str) -> None:
        """Let go of a version (withdrawn in this process)."""
        self.generation += 1
        self.replace(v for v in self._versions if v.version_id != version_id)

    @property
    def stale(self) -> bool:
        """Whether it was read longer ago than a referral may be decided with it."""
        return self.read_at is None or time.monotonic() - self.read_at > STALE_AFTER_SECONDS


async def refresh_schedule(*, uow: UnitOfWork, schedule: PolicySchedule) -> None:
    """Read the approved versions again into `schedule`: the one in force now and every
    one still to come (one read; each document parsed once per process). A version that
    no longer parses stops the refresh (the schedule stays as it was), as a bad file
    stops triage at start."""
    generation = schedule.generation
    began = time.monotonic()
    rows = await repository.approved_policy_versions(uow.session)
    now = uow.now()
    due = [row for row in rows if _activates(row) <= now]
    kept = due[-1:] + [row for row in rows if _activates(row) > now]
    read = [schedule.scheduled(row) for row in kept]
    if schedule.generation != generation:
        return  # changed in this process meanwhile: the next read sees both
    schedule.replace(read)
    schedule.read_at = began


def _activates(row: PolicyVersion) -> datetime:
    assert row.activates_at is not None
    return as_utc(row.activates_at)


def _in_force_id(approved: Sequence[PolicyVersion], now: datetime) -> str | None:
    """The id of the version in force at `now` (`approved` in the order they take
    effect); None: the file policy is."""
    due = [row for row in approved if _activates(row) <= now]
    return due[-1].id if due else None


def stored_policy(row: PolicyVersion) -> ThresholdPolicy:
    """A stored version's policy, checked as a file is (PolicyError if this release's
    checks refuse what an earlier one accepted)."""
    return parse_policy(_text_of(row.document), source=f"policy version {row.id}")


def _checked_again(row: PolicyVersion) -> ThresholdPolicy:
    """A stored version's policy for a person's request: a version this release's checks
    refuse is a 409 naming each problem, never used."""
    try:
        return stored_policy(row)
    except PolicyError as exc:
        raise Problem(
            409,
            "The version no longer passes the policy check",
            "; ".join(f"{p.location or '(the document)'}: {p.reason}" for p in exc.problems)
            + ": draft a new version.",
            type="policy-version-unsound",
        ) from None


def _text_of(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


# ---- the use cases -------------------------------------------------------------------


async def draft(
    *,
    uow: UnitOfWork,
    principal: Principal,
    schedule: PolicySchedule,
    document: Mapping[str, Any],
) -> PolicyVersionView:
    """A new draft version of the policy `document`: valid and sound (422 naming each
    field at fault), with an id and version of its own (409 for one already drafted, or
    the file policy's). A person drafts: who did is on the record, and no one may
    approve what they drafted."""
    _person_required(principal, "drafts")
    text_problems = list(_forbidden_text(document, ()))
    if text_problems:
        raise _invalid_policy(text_problems)
    try:
        policy = parse_policy(_text_of(document), source="the draft")
    except PolicyError as exc:
        raise _invalid_policy([(p.location, p.reason) for p in exc.problems]) from None
    file = schedule.file_policy
    if (policy.id, policy.version) == (file.id, file.version):
        raise _taken(f"{policy.tag} is the file policy's own (TRIAGE_POLICY_PATH)")
    existing = await repository.policy_version_named(uow.session, policy.id, policy.version)
    if existing is not None:
        raise _taken(f"{policy.tag} was drafted already ({existing.id}, {existing.state})")
    now = uow.now()
    row = PolicyVersion(
        id="pol_" + uuid.uuid4().hex[:20],
        policy_id=policy.id,
        version=policy.version,
        document=dict(document),
        state="draft",
        drafted_by=principal.actor,
        drafted_by_name=principal.name,
        drafted_at=now,
    )
    uow.session.add(row)
    _act(uow, row.id, principal, "drafted", {"policy": policy.tag})
    try:
        await uow.session.flush()
    except IntegrityError:
        # Another request drafted the same id and version a moment ago.
        raise _taken(f"{policy.tag} was drafted already") from None
    return await _view(uow, row)


async def versions(*, uow: UnitOfWork, schedule: PolicySchedule) -> PolicyVersionList:
    """Every version, newest first, with the file policy (the base) and the one in force
    now."""
    rows = await repository.policy_versions(uow.session)
    approved = await repository.approved_policy_versions(uow.session)
    in_force = _in_force_id(approved, uow.now())
    file = schedule.file_policy
    current = next((row for row in approved if row.id == in_force), None)
    return PolicyVersionList(
        file_policy=PolicyView(id=file.id, version=file.version),
        in_force=PolicyInForce(
            policy=PolicyView(
                id=current.policy_id if current else file.id,
                version=current.version if current else file.version,
            ),
            version_id=in_force,
            since=current.activates_at if current else None,
        ),
        versions=[_item(row, in_force=row.id == in_force) for row in rows],
    )


async def version(*, uow: UnitOfWork, version_id: str) -> PolicyVersionView:
    """One version whole: its document, its acts (oldest first) and its simulations
    (newest first, without their summaries)."""
    return await _view(uow, await _version(uow, version_id))


async def redecide(
    *,
    uow: UnitOfWork,
    units: UnitsOfWork,
    live: ThresholdPolicy,
    version_id: str,
    period: Period,
) -> AsyncIterator[bytes]:
    """Every referral received in `period` decided again with the version, as NDJSON
    lines: first `{"about": ...}` (the draft's and the live policy's tags, the live
    policy's top level, the weights the draft changes, the period), then one line per
    referral (`shared.simulation.redecided_to_dict`; the earlier referrals its history
    needs included, `in_period` false), in the order triage decided them.

    The version is found now (a problem for one that is not); the lines are read later,
    as they are sent, in a unit of their own that is never committed: nothing changes."""
    row = await _version(uow, version_id)
    drafted = _checked_again(row)
    about = {
        "version_id": row.id,
        "draft_policy": drafted.tag,
        "live_policy": live.tag,
        "top_level": live.top_level,
        # What the draft routes by (its own top level, as `signpost simulate` routes).
        "draft_top_level": drafted.top_level,
        "weight_changes": {
            code: list(pair) for code, pair in weight_changes(live, drafted).items()
        },
        "from": period.first.isoformat(),
        "to": period.end.isoformat(),
        "start": period.start_at.isoformat(),
    }
    return redecided_ndjson(
        units, draft=drafted, about=about, start=period.start_at, end=period.end_at
    )


async def record_simulation(
    *,
    uow: UnitOfWork,
    principal: Principal,
    version_id: str,
    period: Period,
    directory_version: str | None,
    summary: Mapping[str, Any],
) -> PolicySimulationView:
    """Keep a simulation of a draft with it, as the console summed it, for the approver
    to see; the act `simulated` names it. Only a draft is simulated for approval, by a
    person, and the summary must be of this draft (its `about.draft_policy`)."""
    _person_required(principal, "records a simulation")
    row = await _version(uow, version_id, lock=True)
    if row.state != "draft":
        raise _not_draft(row, "simulated for approval")
    drafted = f"{row.policy_id}@{row.version}"
    if summary.get("about", {}).get("draft_policy") != drafted:
        raise _field_problem(
            "Not a simulation of this version",
            "summary.about.draft_policy",
            f"the summary is of {summary.get('about', {}).get('draft_policy')!r}, not of "
            f"{drafted}: simulate this version.",
            type="simulation-of-another-version",
        )
    now = uow.now()
    simulation = PolicySimulation(
        id="pls_" + uuid.uuid4().hex[:20],
        version_id=row.id,
        period_start=period.first,
        period_end=period.end,
        directory_version=directory_version,
        summary=json.dumps(summary, separators=(",", ":"), ensure_ascii=False),
        simulated_by=principal.actor,
        simulated_by_name=principal.name,
        simulated_at=now,
    )
    uow.session.add(simulation)
    _act(
        uow,
        row.id,
        principal,
        "simulated",
        {
            "simulation_id": simulation.id,
            "from": period.first.isoformat(),
            "to": period.end.isoformat(),
            "directory_version": directory_version,
        },
    )
    return _simulation_view(simulation)


async def simulation(
    *, uow: UnitOfWork, version_id: str, simulation_id: str
) -> PolicySimulationDetail:
    """One simulation of a version, with its summary."""
    found = await repository.policy_simulation(uow.session, version_id, simulation_id)
    if found is None:
        raise NotFound("Policy simulation")
    return PolicySimulationDetail(
        **_simulation_view(found).model_dump(), summary=json.loads(found.summary)
    )


async def approve(
    *,
    uow: UnitOfWork,
    principal: Principal,
    schedule: PolicySchedule,
    version_id: str,
    simulation_id: str,
    activates_at: datetime,
) -> PolicyVersionView:
    """A second person approves a draft, with the simulation of it they saw, to take
    effect at `activates_at` (more than `MIN_NOTICE` from now). Once committed, this
    process decides with it from then on; the other replicas read it within
    TRIAGE_POLICY_REFRESH_SECONDS.

    Only a person approves, and not the one who drafted it: a key stands for a system,
    never for a second pair of eyes."""
    _person_required(principal, "approves")
    row = await _version(uow, version_id, lock=True)
    if principal.actor == row.drafted_by:
        raise Problem(
            403,
            "A second person must approve",
            f"{row.drafted_by_name} drafted this version: a second person must approve it.",
            type="second-person-required",
        )
    if row.state != "draft":
        raise _not_draft(row, "approved")
    policy = _checked_again(row)
    seen = await repository.policy_simulation(uow.session, row.id, simulation_id)
    if seen is None:
        raise _field_problem(
            "Unknown simulation",
            "simulation_id",
            f"{simulation_id} is not a simulation of this version: approve with the "
            "simulation of it you saw (simulate it first).",
            type="unknown-simulation",
        )
    now = uow.now()
    earliest = now + MIN_NOTICE
    when = as_utc(activates_at)
    if when <= earliest:
        raise _field_problem(
            "Too soon",
            "activates_at",
            f"activates_at must be later than {earliest.isoformat()} (60 seconds from "
            "now): every triage replica reads the approved versions again within that "
            "time, so none decides a referral with the old policy after the new one has "
            "taken effect.",
            type="activates-too-soon",
        )
    # What the version will replace when it takes effect must be what it was simulated
    # against: else the approver saw the difference from a policy that will not be the
    # one it replaces (another version approved to take effect first).
    await refresh_schedule(uow=uow, schedule=schedule)  # what other replicas approved
    replaced = schedule.in_force(when - timedelta(microseconds=1)).tag
    against = json.loads(seen.summary).get("about", {}).get("live_policy")
    if against != replaced:
        raise Problem(
            409,
            "Simulated against another policy",
            f"{simulation_id} compared this draft with {against}, but {replaced} will be "
            f"in force when it takes effect: simulate it again once {replaced} is in "
            "force, or withdraw the version approved before it.",
            type="simulated-against-another-policy",
        )
    row.state = "approved"
    row.approved_by = principal.actor
    row.approved_by_name = principal.name
    row.approved_at = now
    row.activates_at = when
    row.approved_simulation_id = simulation_id
    _act(
        uow,
        row.id,
        principal,
        "approved",
        {"simulation_id": simulation_id, "activates_at": when.isoformat()},
    )
    scheduled = Scheduled(row.id, when, now, policy)
    uow.after_commit(lambda: schedule.add(scheduled))
    return await _view(uow, row)


async def withdraw(
    *,
    uow: UnitOfWork,
    principal: Principal,
    schedule: PolicySchedule,
    version_id: str,
    note: str = "",
) -> PolicyVersionView:
    """Take a version back: a draft, or an approved version that has not yet taken
    effect (409 once it has: a policy that decided referrals stays on the record; a new
    version replaces it). The one who drafted it, or an approver, may."""
    row = await _version(uow, version_id, lock=True)
    if principal.actor != row.drafted_by and not principal.has("policy:approve"):
        raise Problem(
            403,
            "Not yours to withdraw",
            f"Only {row.drafted_by_name}, who drafted it, or an approver (policy:approve) "
            "may withdraw this version.",
            type="not-your-policy-version",
        )
    now = uow.now()
    if row.state == "withdrawn":
        raise Problem(
            409,
            "Already withdrawn",
            f"{row.withdrawn_by_name} withdrew this version.",
            type="policy-version-withdrawn",
        )
    if row.state == "approved" and _activates(row) <= now:
        raise Problem(
            409,
            "Already in force",
            f"This version took effect at {_activates(row).isoformat()}: a policy that has "
            "decided referrals stays on the record. Draft and approve a new version to "
            "replace it.",
            type="policy-version-in-force",
        )
    if row.state == "approved" and _activates(row) - now <= MIN_NOTICE:
        raise Problem(
            409,
            "Too close to taking effect",
            f"This version takes effect at {_activates(row).isoformat()}, within a minute: "
            "another triage replica may not read a withdrawal before then. Draft and "
            "approve a new version to replace it.",
            type="policy-version-taking-effect",
        )
    was = row.state
    row.state = "withdrawn"
    row.withdrawn_by = principal.actor
    row.withdrawn_by_name = principal.name
    row.withdrawn_at = now
    _act(uow, row.id, principal, "withdrawn", {"was": was, **({"note": note} if note else {})})
    if was == "approved":
        uow.after_commit(lambda: schedule.remove(row.id))
    return await _view(uow, row)


# ---- views and problems ---------------------------------------------------------------


def _person_required(principal: Principal, does: str) -> None:
    if not principal.is_person:
        raise Problem(
            403,
            "A person must do this",
            f"A person {does}, signed in to the console: a system's key cannot, so who "
            "drafted, simulated and approved each threshold policy is always a named "
            "person, and no one approves what they drafted.",
            type="person-required",
        )


async def _version(uow: UnitOfWork, version_id: str, *, lock: bool = False) -> PolicyVersion:
    row = await repository.policy_version(uow.session, version_id, lock=lock)
    if row is None:
        raise NotFound("Policy version")
    return row


def _act(
    uow: UnitOfWork, version_id: str, principal: Principal, act: str, detail: dict[str, Any]
) -> None:
    uow.session.add(
        PolicyAct(
            id="pla_" + uuid.uuid4().hex[:20],
            version_id=version_id,
            act=act,
            by=principal.actor,
            by_name=principal.name,
            at=uow.now(),
            detail=detail,
        )
    )


def _item(row: PolicyVersion, *, in_force: bool) -> PolicyVersionItem:
    return PolicyVersionItem(
        id=row.id,
        policy=PolicyView(id=row.policy_id, version=row.version),
        area=str(row.document.get("area", "")),
        state=row.state,
        in_force=in_force,
        drafted_by=row.drafted_by,
        drafted_by_name=row.drafted_by_name,
        drafted_at=row.drafted_at,
        approved_by=row.approved_by,
        approved_by_name=row.approved_by_name,
        approved_at=row.approved_at,
        activates_at=row.activates_at,
        approved_simulation_id=row.approved_simulation_id,
        withdrawn_by=row.withdrawn_by,
        withdrawn_by_name=row.withdrawn_by_name,
        withdrawn_at=row.withdrawn_at,
    )


async def _view(uow: UnitOfWork, row: PolicyVersion) -> PolicyVersionView:
    session = uow.session
    await session.flush()
    approved = await repository.approved_policy_versions(session)
    acts = sorted(
        await repository.policy_acts(session, row.id),
        key=lambda a: (as_utc(a.at), ACTS.index(a.act), a.id),
    )
    simulations = await repository.policy_simulations(session, row.id)
    item = _item(row, in_force=row.id == _in_force_id(approved, uow.now()))
    return PolicyVersionView(
        **item.model_dump(),
        document=row.document,
        acts=[PolicyActView.model_validate(a, from_attributes=True) for a in acts],
        simulations=[_simulation_view(s) for s in simulations],
    )


def _simulation_view(row: Any) -> PolicySimulationView:
    return PolicySimulationView(
        id=row.id,
        version_id=row.version_id,
        period_from=row.period_start,
        period_to=row.period_end,
        directory_version=row.directory_version,
        simulated_by=row.simulated_by,
        simulated_by_name=row.simulated_by_name,
        simulated_at=row.simulated_at,
    )


def _forbidden_text(value: Any, loc: tuple[str | int, ...]) -> Iterable[tuple[str, str]]:
    """Each string in the document (keys included) holding a control character or a
    bidirectional override, at its location: `(dotted location, why)`."""
    if isinstance(value, str):
        problem = forbidden_character(value, multiline=True)
        if problem is not None:
            yield ".".join(str(part) for part in loc), f"must not contain {problem}"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            problem = forbidden_character(str(key))
            if problem is not None:
                yield ".".join(str(part) for part in (*loc, key)), f"must not contain {problem}"
            yield from _forbidden_text(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _forbidden_text(item, (*loc, index))


def _invalid_policy(problems: Sequence[tuple[str, str]]) -> Problem:
    """A 422 naming each field of the document at fault (a dotted location, as
    `signpost policy check` prints it, and a JSON pointer)."""
    errors = [
        {
            "field": field,
            "pointer": "/" + field.replace(".", "/") if field else "",
            "message": why,
            "type": "invalid_policy",
        }
        for field, why in problems
    ]
    named = "; ".join(f"{e['field'] or '(the document)'}: {e['message']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return Problem(
        422,
        "The policy is not valid",
        f"{len(errors)} problem(s): {named}{more}",
        type="invalid-policy",
        errors=errors,
    )


def _taken(why: str) -> Problem:
    return Problem(
        409,
        "Policy version taken",
        f"{why}: give the draft a version of its own.",
        type="policy-version-taken",
    )


def _not_draft(row: PolicyVersion, what: str) -> Problem:
    by = row.approved_by_name if row.state == "approved" else row.withdrawn_by_name
    return Problem(
        409,
        "Not a draft",
        f"This version was {row.state} by {by}: only a draft is {what}.",
        type="policy-version-not-draft",
        state=row.state,
    )


def _field_problem(title: str, field: str, detail: str, *, type: str) -> Problem:
    return Problem(
        422,
        title,
        detail,
        type=type,
        errors=[
            {
                "field": field,
                "pointer": f"/{field}",
                "message": detail,
                "type": type.replace("-", "_"),
            }
        ],
    )
