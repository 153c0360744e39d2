"""A service's loops rest between ticks without ever sleeping through a stop."""

from __future__ import annotations

import asyncio
import subprocess
import sys

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


def test_a_server_settles_its_start_up_heap_out_of_the_collector_s_way() -> None:
    """A server process (`signpost serve`/`run`) freezes what start-up built, so full
    collections under load no longer walk it, and collects its young objects less often;
    garbage made afterwards, cycles included, is still collected. Run in its own
    interpreter: a frozen heap would outlive this test in the test process."""
    script = """
import asyncio, gc, weakref
from shared.runtime import YOUNG_COLLECTION_THRESHOLD, settle_heap

assert gc.get_freeze_count() == 0
asyncio.run(settle_heap())
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None
print("settled")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "settled"
