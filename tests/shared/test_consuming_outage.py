"""A real PostgreSQL outage while events arrive: the consumer waits for the database
to come back, parks nothing on the DLQ (however many attempts the outage takes), and
handles every event once when it returns."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from shared.bus.base import Record
from shared.bus.embedded import EmbeddedBus
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database, table_of
from shared.outbox import InboxEntry
from shared.uow import UnitOfWork, UnitsOfWork
from tests.conftest import create_database
from tests.infra import SCRIPTS, start_script, stop_script, unavailable
from tests.shared.bus.test_contract import Effect, record_effect, status_event

pytestmark = pytest.mark.postgres


def restart(workdir: str, port: str) -> None:
    subprocess.run(
        ["bash", str(SCRIPTS / "postgres.sh"), "start", workdir],
        env={**os.environ, "PG_PORT": port},
        capture_output=True,
        timeout=120,
        check=True,
    )


async def effects(db: Database) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).select_from(Effect))).one())


async def test_events_arriving_while_postgresql_is_down_wait_for_it_and_none_is_parked(
    tmp_path: Path,
) -> None:
    try:
        workdir, admin_url = start_script("postgres.sh")  # a cluster of its own to stop
    except Exception as exc:
        unavailable("PostgreSQL", str(exc))
        raise
    port = admin_url.rsplit(":", 1)[1].split("/", 1)[0]
    bus = EmbeddedBus(tmp_path / "events.db")
    db = Database(await create_database(admin_url, "outage"))
    consumer: EventConsumer | None = None
    try:
        await db.create_tables([table_of(Effect), table_of(InboxEntry)])
        await bus.start()

        async def handler(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
            await record_effect(uow, event)

        consumer = EventConsumer(
            bus=bus,
            units=units_on(db),
            subscription=Subscription(group="outage", topics=["outage"], handler=handler),
            max_attempts=2,
            backoff_seconds=0.05,
        )
        await consumer.start()
        stop_script("postgres.sh", workdir)
        events = [status_event(f"ref_{i}", "child-1") for i in range(3)]
        await bus.publish(
            [Record(topic="outage", key=e.key, value=e.value, headers=e.headers) for e in events]
        )

        async def drain() -> None:
            assert consumer is not None
            while consumer.handled + consumer.parked < len(events):
                await consumer.poll_once(timeout=0.2)

        draining = asyncio.create_task(drain())
        await asyncio.sleep(3)  # many more failed attempts than max_attempts
        assert consumer.parked == 0 and consumer.handled == 0
        restart(workdir, port)
        async with asyncio.timeout(60):
            await draining
        assert consumer.parked == 0
        assert await effects(db) == 3
    finally:
        if consumer is not None:
            await consumer.stop()
        await bus.stop()
        await db.dispose()
        stop_script("postgres.sh", workdir)


def units_on(db: Database) -> UnitsOfWork:
    """Units of work on `db` for a consumer under test."""
    return UnitsOfWork(db, clock=Clock(), source="/test")
