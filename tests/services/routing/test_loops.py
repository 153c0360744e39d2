"""The escalation loop: each tick one unit of work; an idle loop waits for its interval
(or a wake-up) instead of waking itself with its own commit; ticks that keep failing
(the database away) are logged once when they begin and once when they end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from services.routing import loops
from services.routing.loops import WAKEUP
from services.routing.service.referrals import escalate_due
from tests.services.routing.conftest import eventually, routing, running, stopped_clock


async def test_an_idle_escalation_loop_ticks_once_then_waits_until_woken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks: list[int] = []

    async def counted(**kwargs: Any) -> int:
        claimed = await escalate_due(**kwargs)
        ticks.append(claimed)
        return claimed

    async def ticked(times: int) -> bool:
        return len(ticks) >= times

    monkeypatch.setattr(loops, "escalate_due", counted, raising=True)
    async with running(
        tmp_path / "var", stopped_clock(), routing_escalation_interval_seconds=60
    ) as sp:
        await eventually(lambda: ticked(1))
        await asyncio.sleep(0.3)
        assert ticks == [0]  # its own commit did not wake it again

        routing(sp).wakeup(WAKEUP).set()
        await eventually(lambda: ticked(2))
        await asyncio.sleep(0.3)
        assert ticks == [0, 0]


def connection_lost() -> OperationalError:
    """What a tick meets while routing's database is away: its connection is lost."""
    return OperationalError("SELECT", {}, Exception("connection lost"), connection_invalidated=True)


@pytest.mark.parametrize(("error", "traceback"), [(connection_lost, False), (RuntimeError, True)])
async def test_failing_ticks_are_logged_once_when_they_begin_and_once_when_they_end(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
    traceback: bool,
) -> None:
    calls: list[int] = []

    async def flaky(**kwargs: Any) -> int:
        calls.append(1)
        if len(calls) <= 4:
            raise error()
        return await escalate_due(**kwargs)

    async def ticked(times: int) -> bool:
        return len(calls) >= times

    monkeypatch.setattr(loops, "escalate_due", flaky, raising=True)
    with caplog.at_level(logging.INFO, logger=loops.__name__):
        async with running(tmp_path / "var", stopped_clock()):  # a tick every 50 ms
            await eventually(lambda: ticked(6))
    logged = [
        (r.levelname, r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.name == loops.__name__
    ]
    assert logged == [
        ("WARNING", "escalation tick failed; retrying", traceback),
        ("INFO", "escalation ticks succeeding again", False),
    ]
    [down, up] = [r for r in caplog.records if r.name == loops.__name__]
    assert vars(down)["error"] == type(error()).__name__
    assert vars(up)["failures"] == 4
