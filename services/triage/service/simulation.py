"""Triage's part of the policy simulator: every stored referral of a period decided again
with a draft threshold policy, exactly as triage decided it when the report arrived, on
a batch path with no per-referral I/O and no event, no write, no change to live state.

"Exactly as then":

- the same pure function as the live path (`scoring.decide`), on the facts triage
  stored for the referral (its concern codes, household flags, immediate risk, the
  child's age, when it was reported and received), so the deadline falls on the
  working week and bank holidays of the day it arrived;
- the child's history as it was then: the decisions triage had made before this one
  (in the order it made them; decisions at the same instant in referral id order),
  reported within the policy's look-back, about the same child or another child of
  the household; each earlier referral at its level at that moment: a practitioner's
  override made before then stands, otherwise the level the draft gives it (so a
  draft that raises one referral can raise a later one through the cumulative rules).

The decisions stream in, a partition at a time; what is kept between them is the
look-back window of earlier referrals, a few small tuples each. Over the API
(`POST /v1/policy-versions/{id}/redecide`) they leave as NDJSON (`redecided_ndjson`),
read in a unit of work that is never committed.
"""

from __future__ import annotations

import json
import sys
from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.triage import repository
from services.triage.policy import ThresholdPolicy
from services.triage.scoring import Decision, PriorReport, ReportFacts, decide
from shared.clock import as_utc
from shared.simulation import Outcome, Redecided, redecided_to_dict
from shared.uow import UnitsOfWork

# How far beyond the policy's look-back an earlier referral is kept (a report can be
# received long after it was reported; its history reaches back from when it was
# reported).
KEEP_BEYOND = timedelta(days=366)
# Re-decided referrals sent in one chunk of an NDJSON answer.
LINES_PER_CHUNK = 1000


@dataclass(slots=True)
class _Prior:
    referral_id: str
    subject_key: str
    household_key: str | None
    reported_at: datetime
    level: int  # the draft's decision (an override made before a later one stands)
    concern_codes: tuple[str, ...]
    member_flags: tuple[str, ...]


def look_back(policy: ThresholdPolicy) -> timedelta:
    """The longest a policy's rules look back over a child's and household's history."""
    days = max([policy.household.within_days, *(r.within_days for r in policy.cumulative)])
    return timedelta(days=days)


def weight_changes(
    live: ThresholdPolicy, draft: ThresholdPolicy
) -> dict[str, tuple[int | None, int | None]]:
    """Each concern code and household flag whose weight the draft changes: (live, draft)."""

    def weights(policy: ThresholdPolicy) -> dict[str, int]:
        found = {code: w for domain in policy.weights.values() for code, w in domain.items()}
        found.update({flag: spec.weight for flag, spec in policy.household.member_flags.items()})
        return found

    before, after = weights(live), weights(draft)
    return {
        code: (before.get(code), after.get(code))
        for code in sorted({*before, *after})
        if before.get(code) != after.get(code)
    }


def _level_then(
    prior: _Prior, at: datetime, overrides: Mapping[str, list[tuple[datetime, int]]]
) -> int:
    """An earlier referral's level at `at`: the newest override made by then, or its
    decision's level."""
    made = overrides.get(prior.referral_id)
    if made:
        before = bisect_right([when for when, _ in made], at)
        if before:
            return made[before - 1][1]
    return prior.level


def outcome_of(decision: Decision) -> Outcome:
    return Outcome(
        level=decision.level,
        priority=decision.priority,
        destination="",
        decide_by=decision.decide_by,
        score=decision.score,
        rules=decision.rules,
        factors=tuple(f.code for f in decision.factors if f.weight),
        explanation=decision.rationale,
    )


def stored_outcome(row: Any) -> Outcome:
    factors = tuple(str(f["code"]) for f in row.factors or [] if f.get("weight"))
    return Outcome(
        level=row.decided_level,
        priority=row.decided_priority,
        destination="",
        decide_by=as_utc(row.decide_by) if row.decide_by else None,
        score=row.score,
        rules=tuple(row.rules or ()),
        factors=factors,
        explanation=row.rationale,
    )


async def redecide(
    conn: AsyncConnection,
    *,
    draft: ThresholdPolicy,
    start: datetime,
    end: datetime,
    step: Callable[[], object] | None = None,
) -> AsyncIterator[Redecided]:
    """Every referral received from `start` to `end` decided again with `draft`, in the
    order triage decided them (and the earlier referrals its history needs, marked
    `in_period=False`); `step` is called once for each referral of the period."""
    window = look_back(draft)
    earliest = await repository.earliest_reported(conn, start, end)
    if earliest is None:
        return
    since = as_utc(earliest) - window
    overrides = {
        referral_id: [(as_utc(at), level) for at, level in made]
        for referral_id, made in (await repository.overrides_since(conn, since)).items()
    }
    households = await repository.households_now(conn)
    by_subject: dict[str, list[_Prior]] = defaultdict(list)
    by_household: dict[str, list[_Prior]] = defaultdict(list)
    # In the order decided: when, the decision, and the households it is filed under.
    kept: deque[tuple[datetime, _Prior, tuple[str, ...]]] = deque()
    # Concern code sets repeat across a million referrals: one tuple for each.
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    async for row in repository.stream_decided(conn, since, end):
        reported_at = as_utc(row.reported_at)
        received_at = as_utc(row.received_at)
        decided_at = as_utc(row.decided_at)
        _forget(kept, by_subject, by_household, decided_at - window - KEEP_BEYOND)
        history = _history(
            row, reported_at, decided_at, window, by_subject, by_household, households, overrides
        )
        codes = tuple(row.concern_codes or ())
        codes = shared.setdefault(codes, codes)
        flags = tuple(row.member_flags or ())
        flags = shared.setdefault(flags, flags)
        facts = ReportFacts(
            concern_codes=codes,
            immediate_risk=bool(row.immediate_risk),
            age_years=row.child_age_years if row.child_age_years is not None else 99,
            reported_at=reported_at,
            received_at=received_at,
            member_flags=flags,
        )
        decision = decide(draft, facts, history)
        prior = _Prior(
            row.referral_id,
            sys.intern(row.subject_key),
            row.household_key,
            reported_at,
            decision.level,
            codes,
            flags,
        )
        by_subject[row.subject_key].append(prior)
        # Under the household it was decided in, and the one its child is in now (the
        # live path reads a household's members as they stand: households join as
        # reports link them).
        homes = tuple({row.household_key, households.get(row.subject_key)} - {None})
        for household in homes:
            by_household[household].append(prior)
        kept.append((decided_at, prior, homes))
        in_period = start <= received_at < end
        if in_period and step is not None:
            step()
        yield Redecided(
            referral_id=row.referral_id,
            received_at=received_at,
            decided_at=decided_at,
            stored=stored_outcome(row),
            draft=outcome_of(decision),
            concern_codes=codes,
            age_years=row.child_age_years,
            postcode_district=row.postcode_district,
            suspected_codes=tuple(str(s["code"]) for s in row.suspected_concerns or []),
            in_period=in_period,
        )


def _history(
    row: Any,
    reported_at: datetime,
    decided_at: datetime,
    window: timedelta,
    by_subject: Mapping[str, list[_Prior]],
    by_household: Mapping[str, list[_Prior]],
    households: Mapping[str, str],
    overrides: Mapping[str, list[tuple[datetime, int]]],
) -> list[PriorReport]:
    """The earlier decisions the live path read for this one: the same child's, and the
    household's other children's, reported within the look-back, as they stood then."""
    since = reported_at - window
    household = row.household_key
    seen: dict[str, _Prior] = {p.referral_id: p for p in by_subject.get(row.subject_key, ())}
    if household:
        for prior in by_household.get(household, ()):
            seen.setdefault(prior.referral_id, prior)
    found = []
    for prior in seen.values():
        if not since <= prior.reported_at <= reported_at:
            continue
        same_child = prior.subject_key == row.subject_key
        if not same_child and not (
            household
            and (prior.household_key == household or households.get(prior.subject_key) == household)
        ):
            continue
        found.append(
            PriorReport(
                referral_id=prior.referral_id,
                reported_at=prior.reported_at,
                level=_level_then(prior, decided_at, overrides),
                concern_codes=prior.concern_codes,
                member_flags=prior.member_flags,
                same_child=same_child,
            )
        )
    found.sort(key=lambda p: (p.reported_at, p.referral_id))
    return found


def _forget(
    kept: deque[tuple[datetime, _Prior, tuple[str, ...]]],
    by_subject: dict[str, list[_Prior]],
    by_household: dict[str, list[_Prior]],
    before: datetime,
) -> None:
    """Drop the earlier decisions made before `before`, which no later decision can look
    back to (each was reported before it was decided). They leave in the order they
    came, so each is the first of its lists."""
    while kept and kept[0][0] < before:
        _, prior, homes = kept.popleft()
        for index, key in ((by_subject, prior.subject_key), *((by_household, h) for h in homes)):
            entries = index[key]
            entries.pop(0)
            if not entries:
                del index[key]


async def redecided_ndjson(
    units: UnitsOfWork,
    *,
    draft: ThresholdPolicy,
    about: Mapping[str, Any],
    start: datetime,
    end: datetime,
) -> AsyncIterator[bytes]:
    """`{"about": about}`, then each referral `redecide` yields (look-back referrals
    included, in order) as `shared.simulation.redecided_to_dict`, one JSON object per
    line. Read in a unit of its own that is never completed: it rolls back, whatever
    happens, so nothing is written."""
    yield _line({"about": dict(about)})
    async with units.open() as uow:
        conn = await uow.connection()
        chunk: list[bytes] = []
        async for one in redecide(conn, draft=draft, start=start, end=end):
            chunk.append(_line(redecided_to_dict(one)))
            if len(chunk) >= LINES_PER_CHUNK:
                yield b"".join(chunk)
                chunk.clear()
        if chunk:
            yield b"".join(chunk)


def _line(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"
