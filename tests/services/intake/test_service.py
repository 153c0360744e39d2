"""Intake's use cases called directly, on SQLite and PostgreSQL: Idempotency-Key answers
replayed, refused for another body, and forgotten a batch at a time after their
retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake import service
from services.intake.models import IdempotencyRecord
from shared.db import table_of
from shared.problems import Problem
from shared.report import ConcernReport
from shared.runtime import ServiceContext
from tests.services.intake.conftest import POLICE, example

RETENTION = timedelta(hours=168)


async def submit(ctx: ServiceContext, key: str | None, name: str = "police-report.json") -> Any:
    return await service.submit_report(
        units=ctx.units,
        principal=POLICE,
        report=ConcernReport.model_validate(example(name)),
        idempotency_key=key,
        pseudonym_secret="test-secret",
    )


async def answers_kept(ctx: ServiceContext) -> int:
    async with ctx.db.engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(table_of(IdempotencyRecord)))
        return int(count or 0)


async def forget(ctx: ServiceContext, limit: int) -> int:
    async with ctx.units.begin() as uow:
        return await service.forget_idempotency_keys(uow=uow, older_than=RETENTION, limit=limit)


async def test_the_first_answer_is_replayed_under_its_key(replica: ServiceContext) -> None:
    first = await submit(replica, "k-1")
    again = await submit(replica, "k-1")
    assert (first.status_code, first.replayed) == (202, False)
    assert (again.status_code, again.replayed) == (202, True)
    assert again.body == first.body


async def test_a_key_used_again_with_another_body_is_a_conflict(replica: ServiceContext) -> None:
    await submit(replica, "k-1")
    with pytest.raises(Problem) as refused:
        await submit(replica, "k-1", "statutory-report.json")
    assert (refused.value.status, refused.value.type) == (409, "idempotency-conflict")


async def test_answers_past_their_retention_are_forgotten_a_batch_at_a_time(
    replica: ServiceContext,
) -> None:
    for key in ("k-1", "k-2", "k-3"):
        await submit(replica, key)
    replica.clock.advance(hours=100)
    await submit(replica, "k-recent")
    replica.clock.advance(hours=68)  # the first three are exactly 168 hours old
    assert await forget(replica, limit=10) == 0
    replica.clock.advance(seconds=1)
    assert [await forget(replica, limit=2) for _ in range(3)] == [2, 1, 0]
    assert await answers_kept(replica) == 1  # the recent one stays


async def test_a_retry_after_its_answer_is_forgotten_is_recognised_as_a_resubmission(
    replica: ServiceContext,
) -> None:
    first = await submit(replica, "k-1")
    replica.clock.advance(RETENTION + timedelta(minutes=1))
    assert await forget(replica, limit=10) == 1
    again = await submit(replica, "k-1")
    assert not again.replayed
    assert again.body["referral_id"] == again.body["duplicate_of"] == first.body["referral_id"]
    assert await answers_kept(replica) == 1  # the new answer is kept for its own retention
