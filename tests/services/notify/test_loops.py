"""Notify's scheduled work, on the app's clock: operators are warned a year before the
school calendar's term dates end, when notify starts and at most once a day after; a
broken policy or calendar file stops notify at start; a dispatcher that finds
nothing due does not wake itself into polling without pause; and while the database is
away, the Encompass checks and the dispatcher log it once when it begins and once when
it ends."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from services.apps import embedded_app
from services.notify import definition
from services.notify.loops import WAKEUP, Dispatcher, EncompassChecks
from services.notify.models import WebhookSubscription
from services.notify.school_days import SchoolCalendarError, calendar_warnings, load_calendar
from services.notify.service import attempts, encompass
from services.notify.sharing import SharingPolicyError
from shared.db import table_of
from shared.outbox import InboxEntry, OutboxMessage
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, service_context

CALENDAR = load_calendar(None)  # the Demoshire example: its terms end on 21 July 2028
# 365 days before the terms end: the first day of the warning.
A_YEAR_BEFORE = datetime(2027, 7, 22, 12, 0, tzinfo=UTC)
LONG_BEFORE = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def calendar_warnings_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "services.notify.loops" and getattr(r, "calendar", None) == CALENDAR.id
    ]


@pytest.mark.parametrize(("now", "warned"), [(A_YEAR_BEFORE, True), (LONG_BEFORE, False)])
async def test_notify_warns_at_start_when_the_term_dates_end_within_a_year(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, now: datetime, warned: bool
) -> None:
    app = embedded_app(embedded_settings(tmp_path / "var"))
    app.state.clock.set(now)
    with caplog.at_level(logging.WARNING, logger="services.notify.loops"):
        async with app.router.lifespan_context(app):
            pass
    logged = calendar_warnings_logged(caplog)
    assert [r.getMessage() for r in logged] == calendar_warnings(CALENDAR, now)
    assert bool(logged) is warned
    assert all(r.levelno == logging.WARNING for r in logged)


async def test_the_encompass_loop_warns_of_the_calendars_end_at_most_once_a_day(
    signpost: Signpost, caplog: pytest.LogCaptureFixture
) -> None:
    signpost.clock.set(A_YEAR_BEFORE)
    checks = EncompassChecks(signpost.app.state.runtimes["notify"].ctx)
    with caplog.at_level(logging.WARNING, logger="services.notify.loops"):
        await checks.turn()
        assert calendar_warnings_logged(caplog) == []  # notify warned as it started today
        signpost.clock.advance(days=1)
        await checks.turn()
        assert len(calendar_warnings_logged(caplog)) == 1
        signpost.clock.advance(hours=10)  # 23:00 in London: still the same day
        await checks.turn()
        await checks.turn()
        assert len(calendar_warnings_logged(caplog)) == 1
        signpost.clock.advance(hours=1, minutes=30)  # 23:30 UTC, but the next day in London
        await checks.turn()
        assert len(calendar_warnings_logged(caplog)) == 2
    [first, _] = calendar_warnings_logged(caplog)
    assert "364 days from now" in first.getMessage()


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ("notify_school_calendar_path", SchoolCalendarError),
        ("notify_sharing_policy_path", SharingPolicyError),
    ],
)
async def test_a_broken_calendar_or_policy_file_stops_notify_at_start(
    tmp_path: Path, setting: str, error: type[Exception]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"id": "broken"}))
    app = embedded_app(embedded_settings(tmp_path / "var", **{setting: broken}))
    with pytest.raises(error):
        async with app.router.lifespan_context(app):
            pass


async def test_a_claim_that_finds_nothing_due_does_not_wake_the_dispatcher(
    tmp_path: Path,
) -> None:
    ctx = service_context(definition, f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}", tmp_path)
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
    await ctx.db.create_tables([table_of(m) for m in models])
    dispatcher = Dispatcher(ctx)
    try:
        wakeup = ctx.wakeup(WAKEUP)
        assert await dispatcher.claim_due() == []
        assert not wakeup.is_set()  # else the dispatcher would poll again at once
        async with ctx.units.begin():
            pass  # a unit that writes nothing wakes nothing
        assert not wakeup.is_set()
        async with ctx.units.begin() as uow:  # one that writes a row does
            uow.session.add(
                WebhookSubscription(
                    id="sub_1",
                    organisation="demoshire-hub",
                    client_kind="hub",
                    client_id="c",
                    url="https://partner.example/hooks",
                    event_types=[],
                    secret="whsec_x",
                    created_at=datetime(2026, 11, 30, tzinfo=UTC),
                )
            )
        assert wakeup.is_set()
    finally:
        await dispatcher.client.close()
        await ctx.db.dispose()


def connection_lost() -> OperationalError:
    """What a turn meets while notify's database is away: its connection is lost."""
    return OperationalError("SELECT", {}, Exception("connection lost"), connection_invalidated=True)


@pytest.fixture
async def notify_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ServiceContext]:
    """Notify's context on its own database, not started; its Encompass checks turn
    every 20 ms."""
    monkeypatch.setenv("NOTIFY_ENCOMPASS_INTERVAL_SECONDS", "0.02")
    ctx = service_context(definition, f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}", tmp_path)
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
    await ctx.db.create_tables([table_of(m) for m in models])
    try:
        yield ctx
    finally:
        await ctx.db.dispose()


def outage_lines(caplog: pytest.LogCaptureFixture, what: str) -> list[tuple[str, str, bool]]:
    return [
        (r.levelname, r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.name == "services.notify.loops" and getattr(r, "dependency", None) == what
    ]


@pytest.mark.parametrize(("error", "traceback"), [(connection_lost, False), (RuntimeError, True)])
async def test_failing_encompass_checks_are_logged_once_when_they_begin_and_once_when_they_end(
    notify_replica: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
    traceback: bool,
) -> None:
    alert_missed = encompass.alert_missed
    calls: list[int] = []

    async def flaky(**kwargs: Any) -> int:
        calls.append(1)
        if len(calls) <= 4:
            raise error()
        return await alert_missed(**kwargs)

    monkeypatch.setattr(encompass, "alert_missed", flaky, raising=True)
    with caplog.at_level(logging.INFO, logger="services.notify.loops"):
        loop = asyncio.create_task(EncompassChecks(notify_replica).run())
        async with asyncio.timeout(10):
            while len(calls) < 6:
                await asyncio.sleep(0.02)
        notify_replica.stopping.set()
        async with asyncio.timeout(2):
            await loop
    assert outage_lines(caplog, "encompass deadline check") == [
        ("WARNING", "encompass deadline check failed; retrying", traceback),
        ("INFO", "encompass deadline checks succeeding again", False),
    ]


async def test_a_dispatcher_waits_out_a_database_outage_and_logs_it_once_each_way(
    notify_replica: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    claim_due = attempts.claim_due
    calls: list[int] = []

    async def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 4:
            raise connection_lost()
        return await claim_due(**kwargs)

    monkeypatch.setattr(attempts, "claim_due", flaky, raising=True)
    dispatcher = Dispatcher(notify_replica)
    with caplog.at_level(logging.INFO, logger="services.notify.loops"):
        loop = asyncio.create_task(dispatcher.run())
        async with asyncio.timeout(10):
            while len(calls) < 6:
                seen = len(calls)
                while len(calls) == seen:
                    await asyncio.sleep(0.01)
                # A commit's wake-up, so the test need not wait out the idle second.
                notify_replica.wakeup(WAKEUP).set()
        assert not loop.done()  # it waited for the database rather than crash
        notify_replica.stopping.set()
        notify_replica.wakeup(WAKEUP).set()
        async with asyncio.timeout(2):
            await loop
    assert outage_lines(caplog, "webhook dispatcher") == [
        ("WARNING", "webhook dispatcher waiting for the database", False),
        ("INFO", "webhook dispatcher delivering again", False),
    ]
    assert dispatcher.client.closed


async def test_a_dispatcher_that_meets_an_error_of_its_own_still_stops_for_its_supervisor(
    notify_replica: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(attempts, "claim_due", broken, raising=True)
    dispatcher = Dispatcher(notify_replica)
    with pytest.raises(RuntimeError):
        async with asyncio.timeout(5):
            await dispatcher.run()
    assert dispatcher.client.closed
