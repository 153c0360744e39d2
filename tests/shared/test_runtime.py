"""A service's loops rest between ticks without ever sleeping through a stop."""

from __future__ import annotations

import asyncio

from shared.runtime import doze


async def test_a_loop_resting_between_ticks_wakes_for_a_stop_even_with_its_wakeup_cleared() -> None:
    wake, stopping = asyncio.Event(), asyncio.Event()
    resting = asyncio.create_task(doze(wake, stopping, 60))
    await asyncio.sleep(0)
    # A stop sets the wake-up too; the tick in flight clears it before resting.
    stopping.set()
    wake.clear()
    await asyncio.wait_for(resting, 1)


async def test_a_loop_rests_until_woken_or_for_its_interval() -> None:
    wake, stopping = asyncio.Event(), asyncio.Event()
    resting = asyncio.create_task(doze(wake, stopping, 60))
    await asyncio.sleep(0)
    assert not resting.done()
    wake.set()
    await asyncio.wait_for(resting, 1)
    await asyncio.wait_for(doze(asyncio.Event(), stopping=asyncio.Event(), seconds=0.01), 1)
