"""Which threshold policy decides a referral: the file policy until an approved version's
time comes, then the newest approved version whose time has come. Each replica keeps
that schedule in memory: read at start and at every refresh (what another replica
approved or withdrew), changed at once by an approval or a withdrawal made in it, and
only once that is committed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.triage import definition
from services.triage.service import (
    on_start,
    policy_for_decision,
    policy_of,
    refresh_policies,
    schedule_of,
)
from services.triage.service.policies import (
    STALE_AFTER_SECONDS,
    PolicySchedule,
    Scheduled,
    approve,
    draft,
    record_simulation,
    refresh_schedule,
    withdraw,
)
from shared.auth import Principal
from shared.clock import Clock
from shared.db import Database
from shared.measures import Period
from shared.migrations import TRIAGE, upgrade
from shared.people import Person, principal_of
from shared.runtime import ServiceContext
from tests.conftest import create_database
from tests.services.conftest import service_context
from tests.services.triage.helpers import CWM, DEMOSHIRE, POLICIES

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HUB = "demoshire-hub"
ANN = principal_of(Person(id="per_ann", name="Ann Shaw", organisation=HUB, roles=("hub_manager",)))
BO = principal_of(Person(id="per_bo", name="Bo Reid", organisation=HUB, roles=("hub_manager",)))


def document(version: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((POLICIES / "demoshire.json").read_text())
    raw["version"] = version
    return raw


def scheduled(policy_version: str, activates: datetime, approved: datetime = START) -> Scheduled:
    policy = DEMOSHIRE.model_copy(update={"version": policy_version})
    return Scheduled(f"pol_{policy_version}", activates, approved, policy)


def test_the_file_policy_decides_until_a_versions_time_then_the_newest_due() -> None:
    schedule = PolicySchedule(DEMOSHIRE)
    t1, t2 = START + timedelta(hours=1), START + timedelta(days=1)
    schedule.replace(
        [
            scheduled("b", t2),
            scheduled("a", t1),
            # Approved later to take effect at the same moment: it is the one.
            scheduled("a2", t1, approved=START + timedelta(minutes=5)),
        ]
    )

    assert schedule.in_force(START) is DEMOSHIRE
    assert schedule.in_force(t1 - timedelta(microseconds=1)) is DEMOSHIRE
    assert schedule.in_force(t1).version == "a2"
    assert schedule.in_force(t2 - timedelta(seconds=1)).version == "a2"
    assert schedule.in_force(t2).version == "b"
    schedule.remove("pol_a2")
    assert schedule.in_force(t1).version == "a"
    schedule.add(scheduled("a", t2 + timedelta(days=1)))  # the same version, moved
    assert [v.version_id for v in schedule.versions] == ["pol_b", "pol_a"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A triage database migrated to head."""
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'triage.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        found = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    db = Database(found)
    try:
        await upgrade(db, TRIAGE)
    finally:
        await db.dispose()
    return found


@pytest.fixture
async def replicas(
    url: str, tmp_path: Path
) -> AsyncIterator[tuple[ServiceContext, ServiceContext]]:
    """Two triage replicas on one database, reading one stopped clock."""
    clock = Clock(START)
    a = service_context(definition, url, tmp_path / "a", clock=clock)
    b = service_context(definition, url, tmp_path / "b", clock=clock)
    try:
        yield a, b
    finally:
        await a.db.dispose()
        await b.db.dispose()


def summary_for(ctx: ServiceContext, version: str, activates: datetime) -> dict[str, Any]:
    """A simulation of `version` against the policy it will replace at `activates`."""
    replaced = schedule_of(ctx).in_force(activates - timedelta(microseconds=1))
    return {"about": {"draft_policy": f"demoshire@{version}", "live_policy": replaced.tag}}


async def approved_in(
    ctx: ServiceContext, version: str, activates: datetime, by: Principal = BO
) -> str:
    """A version drafted by Ann, simulated and approved by `by` in replica `ctx`."""
    schedule = schedule_of(ctx)
    async with ctx.units.begin() as uow:
        drafted = await draft(uow=uow, principal=ANN, schedule=schedule, document=document(version))
        recorded = await record_simulation(
            uow=uow,
            principal=ANN,
            version_id=drafted.id,
            period=Period(date(2026, 11, 1), date(2026, 12, 1)),
            directory_version=None,
            summary=summary_for(ctx, version, activates),
        )
    async with ctx.units.begin() as uow:
        await approve(
            uow=uow,
            principal=by,
            schedule=schedule,
            version_id=drafted.id,
            simulation_id=recorded.id,
            activates_at=activates,
        )
    return drafted.id


async def test_a_replica_reads_a_version_another_approved_at_its_next_refresh(
    replicas: tuple[ServiceContext, ServiceContext],
) -> None:
    a, b = replicas
    await on_start(a)
    await on_start(b)
    activates = START + timedelta(minutes=2)

    version_id = await approved_in(b, "2027.1", activates)

    # The replica that approved holds it at once; the other, at its next refresh.
    assert [v.version_id for v in schedule_of(b).versions] == [version_id]
    assert schedule_of(a).versions == ()
    await refresh_policies(a)
    assert [v.version_id for v in schedule_of(a).versions] == [version_id]
    assert policy_of(a) is schedule_of(a).file_policy
    a.clock.advance(minutes=2)
    assert policy_of(a).tag == "demoshire@2027.1"
    assert policy_of(b).tag == "demoshire@2027.1"


async def test_a_version_withdrawn_elsewhere_leaves_the_schedule_at_the_next_refresh(
    replicas: tuple[ServiceContext, ServiceContext],
) -> None:
    a, b = replicas
    version_id = await approved_in(b, "2027.1", START + timedelta(minutes=2))
    await refresh_policies(a)

    async with b.units.begin() as uow:
        await withdraw(uow=uow, principal=BO, schedule=schedule_of(b), version_id=version_id)

    assert schedule_of(b).versions == ()
    assert len(schedule_of(a).versions) == 1
    await refresh_policies(a)
    assert schedule_of(a).versions == ()
    a.clock.advance(minutes=5)
    assert policy_of(a) is schedule_of(a).file_policy


async def test_an_approval_that_is_not_committed_changes_no_schedule(
    replicas: tuple[ServiceContext, ServiceContext],
) -> None:
    a, _ = replicas
    version_id = await approved_in(a, "2027.1", START + timedelta(minutes=2))
    schedule = schedule_of(a)
    async with a.units.begin() as uow:
        other = await draft(uow=uow, principal=ANN, schedule=schedule, document=document("2027.2"))
        recorded = await record_simulation(
            uow=uow,
            principal=ANN,
            version_id=other.id,
            period=Period(date(2026, 11, 1), date(2026, 12, 1)),
            directory_version=None,
            summary=summary_for(a, "2027.2", START + timedelta(minutes=3)),
        )

    with pytest.raises(RuntimeError):
        async with a.units.begin() as uow:
            await approve(
                uow=uow,
                principal=BO,
                schedule=schedule,
                version_id=other.id,
                simulation_id=recorded.id,
                activates_at=START + timedelta(minutes=3),
            )
            raise RuntimeError("the unit fails after the approval")

    assert [v.version_id for v in schedule.versions] == [version_id]
    await refresh_policies(a)
    assert [v.version_id for v in schedule.versions] == [version_id]


async def test_a_starting_replica_holds_the_version_in_force_and_those_to_come(
    replicas: tuple[ServiceContext, ServiceContext], url: str, tmp_path: Path
) -> None:
    a, _ = replicas
    first = await approved_in(a, "2027.1", START + timedelta(minutes=2))
    second = await approved_in(a, "2027.2", START + timedelta(minutes=3))
    third = await approved_in(a, "2027.3", START + timedelta(days=30))
    a.clock.advance(minutes=10)

    started = service_context(definition, url, tmp_path / "c", clock=a.clock)
    try:
        await on_start(started)

        # The first was replaced before this replica started: it is not needed again.
        assert [v.version_id for v in schedule_of(started).versions] == [second, third]
        assert first not in [v.version_id for v in schedule_of(started).versions]
        assert policy_of(started).tag == "demoshire@2027.2"
    finally:
        await started.db.dispose()


async def test_a_starting_replica_keeps_its_configured_file_policy_as_the_base(
    replicas: tuple[ServiceContext, ServiceContext],
) -> None:
    a, _ = replicas
    a.config = a.config.model_copy(update={"triage_policy_path": POLICIES / "cwm-demo.json"})

    await on_start(a)

    assert schedule_of(a).file_policy.tag == CWM.tag
    assert policy_of(a) is schedule_of(a).file_policy


async def test_a_read_begun_before_a_change_in_this_process_does_not_undo_it(
    replicas: tuple[ServiceContext, ServiceContext],
) -> None:
    a, _ = replicas
    await on_start(a)
    schedule = schedule_of(a)
    async with a.units.begin() as uow:
        read = asyncio.create_task(refresh_schedule(uow=uow, schedule=schedule))
        await asyncio.sleep(0)  # the read has begun: it waits for the database
        # An approval commits in this process while the read is on its way.
        schedule.add(scheduled("2027.9", START + timedelta(minutes=5)))
        await read

    assert [v.version_id for v in schedule.versions] == ["pol_2027.9"]


async def test_a_stale_schedule_is_read_again_before_a_referral_is_decided(
    replicas: tuple[ServiceContext, ServiceContext],
) -> None:
    """A replica whose refresh loop keeps failing never decides past a version it has
    not read: the decision reads the versions first (and fails, to be retried, if it
    cannot)."""
    a, b = replicas
    await on_start(a)
    version_id = await approved_in(b, "2027.1", START + timedelta(minutes=2))
    a.clock.advance(minutes=2)
    schedule = schedule_of(a)

    async with a.units.begin() as uow:
        fresh = await policy_for_decision(a, uow)
    assert fresh is schedule.file_policy  # read 0 s ago: not read again

    assert schedule.read_at is not None
    schedule.read_at -= STALE_AFTER_SECONDS + 1
    async with a.units.begin() as uow:
        decided_with = await policy_for_decision(a, uow)

    assert decided_with.tag == "demoshire@2027.1"
    assert [v.version_id for v in schedule.versions] == [version_id]
    assert not schedule.stale
