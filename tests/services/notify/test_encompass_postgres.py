"""On PostgreSQL, two notify replicas checking deadlines at the same moment raise each
missed-deadline alert once (FOR UPDATE SKIP LOCKED), on the real database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from services.notify import definition
from services.notify.models import EncompassNoticeRecord
from shared.db import table_of
from shared.events import Topic
from shared.outbox import InboxEntry, OutboxMessage
from shared.runtime import ServiceContext
from tests.services.conftest import service_context
from tests.services.notify.conftest import alert_missed

pytestmark = pytest.mark.postgres

DEADLINE = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)


def replica(url: str, tmp_path: Path, name: str) -> ServiceContext:
    return service_context(definition, url, tmp_path / name)


async def test_two_replicas_raise_each_missed_deadline_once(
    postgres_url: str, tmp_path: Path
) -> None:
    first, second = (replica(postgres_url, tmp_path, n) for n in ("a", "b"))
    try:
        models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
        await first.db.create_tables([table_of(m) for m in models])
        ids = [f"enc_pg_{i}" for i in range(20)]
        async with first.db.session() as session:
            for i, notice_id in enumerate(ids):
                session.add(
                    EncompassNoticeRecord(
                        id=notice_id,
                        referral_id=f"ref_pg_{i}",
                        referrer_organisation="demo-police",
                        recipient_organisation="100002",
                        recipient_kind="school",
                        school_urn="100002",
                        body={},
                        received_at=DEADLINE - timedelta(days=2),
                        # One notice reached its school in time: no alert for it.
                        notify_by=DEADLINE,
                        notified_at=DEADLINE - timedelta(days=1) if i == 0 else None,
                        notified_via="webhook" if i == 0 else None,
                    )
                )
            await session.commit()

        after = DEADLINE + timedelta(minutes=1)
        raised = await asyncio.gather(
            *(alert_missed(ctx, now=after, limit=7) for ctx in (first, second, first, second))
        )
        while (more := await alert_missed(second, now=after)) > 0:
            raised.append(more)
        assert sum(raised) == len(ids) - 1

        outbox = table_of(OutboxMessage)
        async with first.db.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.value).where(outbox.c.topic == Topic.ENCOMPASS_ALERT.value)
            )
            alerted = sorted(json.loads(value)["notice_id"] for (value,) in rows)
        assert alerted == sorted(ids[1:])  # each missed notice once; the delivered one never
    finally:
        for ctx in (first, second):
            await ctx.db.dispose()
