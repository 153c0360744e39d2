"""Intake's scheduled work: Idempotency-Key answers are replayed until
INTAKE_IDEMPOTENCY_RETENTION_HOURS have passed, then forgotten, so a retry is a new
request (which the resubmission rules still recognise as the same report). Turns that
keep failing (the database away) are logged once when they begin and once when they
end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from services.intake import loops, service
from services.intake.loops import forget_old_answers, idempotency_retention
from services.intake.models import IdempotencyRecord
from shared.db import table_of
from shared.report import ConcernReport
from shared.runtime import ServiceContext
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import POLICE, example, police_key


async def answers_kept(ctx: ServiceContext) -> int:
    async with ctx.db.engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(table_of(IdempotencyRecord)))
        return int(count or 0)


async def test_an_answer_is_replayed_until_its_retention_then_the_retry_is_a_resubmission(
    signpost: Signpost,
) -> None:
    signpost.clock.set(datetime(2026, 11, 30, 9, tzinfo=UTC), running=True)
    ctx = signpost.app.state.runtimes["intake"].ctx
    key = await police_key(signpost)
    headers = {**bearer(key), "Idempotency-Key": "k-week"}
    body = example("police-report.json")
    first = await signpost.client.post("/v1/reports", json=body, headers=headers)
    original = first.json()["referral_id"]

    signpost.clock.advance(hours=167)
    assert await forget_old_answers(ctx) == 0
    replayed = await signpost.client.post("/v1/reports", json=body, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.json()

    signpost.clock.advance(hours=2)
    assert await forget_old_answers(ctx) == 1
    again = await signpost.client.post("/v1/reports", json=body, headers=headers)
    assert again.status_code == 202
    assert "idempotent-replayed" not in again.headers
    assert again.json()["referral_id"] == again.json()["duplicate_of"] == original


async def test_the_retention_setting_decides_how_long_answers_are_kept(
    signpost_with: Any,
) -> None:
    async with signpost_with(intake_idempotency_retention_hours=1) as sp:
        sp.clock.set(datetime(2026, 11, 30, 9, tzinfo=UTC), running=True)
        ctx = sp.app.state.runtimes["intake"].ctx
        key = await police_key(sp)
        headers = {**bearer(key), "Idempotency-Key": "k-hour"}
        await sp.client.post("/v1/reports", json=example("police-report.json"), headers=headers)
        sp.clock.advance(minutes=59)
        assert await forget_old_answers(ctx) == 0
        sp.clock.advance(minutes=2)
        assert await forget_old_answers(ctx) == 1


async def test_the_retention_loop_forgets_at_start_and_stops_when_asked(
    replica: ServiceContext,
) -> None:
    await service.submit_report(
        units=replica.units,
        principal=POLICE,
        report=ConcernReport.model_validate(example("police-report.json")),
        idempotency_key="k-old",
        pseudonym_secret="test-secret",
    )
    replica.clock.advance(hours=169)
    loop = asyncio.create_task(idempotency_retention(replica))
    async with asyncio.timeout(10):
        while await answers_kept(replica):
            await asyncio.sleep(0.02)
    assert not loop.done()  # waiting for its next turn
    replica.stopping.set()
    async with asyncio.timeout(2):
        await loop


def connection_lost() -> OperationalError:
    """What a turn meets while intake's database is away: its connection is lost."""
    return OperationalError("DELETE", {}, Exception("connection lost"), connection_invalidated=True)


@pytest.mark.parametrize(("error", "traceback"), [(connection_lost, False), (RuntimeError, True)])
async def test_failing_turns_are_logged_once_when_they_begin_and_once_when_they_end(
    replica: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
    traceback: bool,
) -> None:
    forget = service.forget_idempotency_keys
    calls: list[int] = []

    async def flaky(**kwargs: Any) -> int:
        calls.append(1)
        if len(calls) <= 4:
            raise error()
        return await forget(**kwargs)

    monkeypatch.setattr(service, "forget_idempotency_keys", flaky, raising=True)
    monkeypatch.setattr(loops, "INTERVAL_SECONDS", 0.02, raising=True)
    with caplog.at_level(logging.INFO, logger=loops.__name__):
        loop = asyncio.create_task(idempotency_retention(replica))
        async with asyncio.timeout(10):
            while len(calls) < 6:
                await asyncio.sleep(0.02)
        replica.stopping.set()
        async with asyncio.timeout(2):
            await loop
    logged = [
        (r.levelname, r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.name == loops.__name__
    ]
    assert logged == [
        ("WARNING", "idempotency retention failed; retrying", traceback),
        ("INFO", "idempotency retention succeeding again", False),
    ]
    [down, up] = [r for r in caplog.records if r.name == loops.__name__]
    assert vars(down)["error"] == type(error()).__name__
    assert vars(up)["failures"] == 4
