"""The escalation loop: each tick one unit of work; an idle loop waits for its interval
(or a wake-up) instead of waking itself with its own commit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

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
