"""The policy and directory simulator (`signpost simulate`): what a draft threshold
policy, a draft agency directory, or both, would have done to every referral received
in a period, before anyone switches them on.

Each service does its part from its own database, read-only, with the pure decision
functions its live path uses: triage decides each referral again with the draft
(`services.triage.service.simulation`), routing routes it again
(`services.routing.service.simulation`), and `shared.simulation` sums the difference.
No event is emitted, nothing is written and no live state changes: a simulation can run
beside the live services at any time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.routing import repository as routing_repository
from services.routing.directory import Directory
from services.routing.service.directory import as_directory
from services.routing.service.simulation import capacity_of, reroute
from services.triage import repository as triage_repository
from services.triage.policy import ThresholdPolicy
from services.triage.service.policies import PolicySchedule
from services.triage.service.simulation import redecide, weight_changes
from shared.db import Database
from shared.measures import Period
from shared.simulation import Compared, Difference


@dataclass(frozen=True)
class Draft:
    """What is rehearsed: a threshold policy, and a directory if one is given (else each
    referral is routed by the directory version it really was)."""

    policy: ThresholdPolicy
    directory: Directory | None = None


def load_draft_directory(path: Path) -> Directory:
    """A draft directory file: the directory's JSON, with or without a `version` (a draft
    has none yet: it is called "draft")."""
    document = json.loads(path.read_text())
    return Directory.model_validate({"version": "draft", **document})


async def referrals_in(triage_url: str, period: Period) -> int:
    """How many referrals were received in the period (the progress bar's total)."""
    db = Database(triage_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return await triage_repository.count_received(conn, period.start_at, period.end_at)
    finally:
        await db.dispose()


async def policy_in_force(
    triage_url: str, file_policy: ThresholdPolicy, at: datetime
) -> ThresholdPolicy:
    """The policy a draft is measured against: the one in force at `at`, as triage would
    decide with it (the newest approved version whose time has come, else the file)."""
    db = Database(triage_url, pool_size=1)
    try:
        async with db.session() as session:
            rows = await triage_repository.approved_policy_versions(session)
    finally:
        await db.dispose()
    schedule = PolicySchedule(file_policy)
    schedule.replace(schedule.scheduled(row) for row in rows)
    return schedule.in_force(at)


@asynccontextmanager
async def compared(
    *,
    triage_url: str,
    routing_url: str,
    draft: Draft,
    period: Period,
    step: Callable[[], object] | None = None,
) -> AsyncIterator[tuple[AsyncIterator[Compared], Directory | None]]:
    """Every referral received in `period`, decided and routed again with `draft` beside
    what was stored (one `Compared` each, in the order they were decided), read-only
    from triage's and routing's databases; with the directory the draft is routed by
    (the draft's, or the newest stored version)."""
    triage_db = Database(triage_url, pool_size=1)
    routing_db = Database(routing_url, pool_size=1)
    try:
        async with triage_db.engine.connect() as conn, routing_db.session() as session:
            newest = (await routing_repository.all_versions(session))[-1:]
            directory = draft.directory or (as_directory(newest[0]) if newest else None)
            redecided = redecide(
                conn, draft=draft.policy, start=period.start_at, end=period.end_at, step=step
            )
            yield (
                reroute(
                    session,
                    redecided,
                    start=period.start_at,
                    top_level=draft.policy.top_level,
                    draft_directory=draft.directory,
                ),
                directory,
            )
            await session.rollback()  # read only: nothing to keep
    finally:
        await triage_db.dispose()
        await routing_db.dispose()


async def simulate(
    *,
    triage_url: str,
    routing_url: str,
    live: ThresholdPolicy,
    draft: Draft,
    period: Period,
    step: Callable[[], object] | None = None,
) -> Difference:
    """The difference `draft` makes to the referrals received in `period`, summed.
    `live` is the policy in force, what the draft is measured against: its top level
    for the safety review, its weights for what drives the changes. Agency load is set
    against the capacity of the directory the draft is routed by."""
    async with compared(
        triage_url=triage_url, routing_url=routing_url, draft=draft, period=period, step=step
    ) as (each, directory):
        difference = Difference(
            top_level=live.top_level,
            capacity=capacity_of(directory) if directory else {},
            weight_changes=weight_changes(live, draft.policy),
        )
        async for one in each:
            difference.add(one)
    return difference
