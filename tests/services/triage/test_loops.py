"""Triage's one loop reads the approved threshold policy versions again every
TRIAGE_POLICY_REFRESH_SECONDS, so what another replica approved reaches this one; a
referral decided is no reason to read them (the loop is not woken by commits)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from services.triage import definition
from services.triage.loops import LOOPS, policy_refresh
from services.triage.service import schedule_of
from services.triage.service.policies import approve, draft, record_simulation
from services.triage.settings import TriageSettings
from shared.clock import Clock
from shared.db import Database
from shared.measures import Period
from shared.migrations import TRIAGE, upgrade
from tests.services.conftest import service_context
from tests.services.triage.helpers import DEMOSHIRE
from tests.services.triage.service.test_policies import ANN, BO, document

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_triage_runs_the_policy_refresh_loop_only() -> None:
    assert [name for name, _ in LOOPS] == ["policy-refresh"]
    assert definition.loops is LOOPS
    assert TriageSettings().triage_policy_refresh_seconds == 15


async def test_the_loop_reads_what_another_replica_approved(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'triage.db'}"
    db = Database(url)
    await upgrade(db, TRIAGE)
    await db.dispose()
    clock = Clock(START)
    here = service_context(definition, url, tmp_path / "here", clock=clock)
    here.config = here.config.model_copy(update={"triage_policy_refresh_seconds": 0.05})
    there = service_context(definition, url, tmp_path / "there", clock=clock)
    schedule = schedule_of(here)
    running = asyncio.create_task(policy_refresh(here))
    try:
        async with there.units.begin() as uow:
            drafted = await draft(
                uow=uow, principal=ANN, schedule=schedule_of(there), document=document("2027.1")
            )
            recorded = await record_simulation(
                uow=uow,
                principal=ANN,
                version_id=drafted.id,
                period=Period(date(2026, 11, 1), date(2026, 12, 1)),
                directory_version=None,
                summary={
                    "about": {"draft_policy": "demoshire@2027.1", "live_policy": DEMOSHIRE.tag}
                },
            )
        async with there.units.begin() as uow:
            await approve(
                uow=uow,
                principal=BO,
                schedule=schedule_of(there),
                version_id=drafted.id,
                simulation_id=recorded.id,
                activates_at=START + timedelta(minutes=5),
            )

        async with asyncio.timeout(10):
            while not schedule.versions:
                await asyncio.sleep(0.02)

        assert [v.version_id for v in schedule.versions] == [drafted.id]
        here.stopping.set()
        async with asyncio.timeout(5):
            await running
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await here.db.dispose()
        await there.db.dispose()
