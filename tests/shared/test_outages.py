"""Waiting for something that is away: the backoff schedule, an outage logged once each
way, and a library's repeated log lines held back."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.bus.base import Backoff, pause
from shared.logging import OutageLog, Quieten


class Ticks:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_backoff_doubles_from_its_first_delay_up_to_its_cap() -> None:
    backoff = Backoff(initial=0.2, cap=2.0, jitter=0.0)
    assert [round(backoff.next(), 3) for _ in range(7)] == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]


def test_a_reset_backoff_starts_again_from_its_first_delay() -> None:
    backoff = Backoff(initial=0.5, cap=10.0, jitter=0.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_jitter_spreads_a_delay_within_its_fraction_and_never_past_the_cap(draw: float) -> None:
    backoff = Backoff(initial=1.0, cap=4.0, jitter=0.25, rand=lambda: draw)
    delays = [backoff.next() for _ in range(6)]
    for delay, base in zip(delays, [1.0, 2.0, 4.0, 4.0, 4.0, 4.0], strict=True):
        assert base * 0.75 <= delay <= min(4.0, base * 1.25)


def test_a_long_outage_does_not_overflow_the_backoff() -> None:
    backoff = Backoff(initial=0.1, cap=3.0, jitter=0.0)
    assert [backoff.next() for _ in range(5000)][-1] == 3.0


async def test_a_pause_ends_early_when_stopping_is_set() -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stopping.set)
    async with asyncio.timeout(2):
        assert await pause(30, stopping) is True
    assert await pause(0.01, asyncio.Event()) is False


def test_an_outage_is_logged_once_when_it_begins_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    outage = OutageLog("broker", logging.getLogger("t.outage"), monotonic=ticks)
    with caplog.at_level(logging.INFO, logger="t.outage"):
        assert outage.failed(ConnectionRefusedError("refused")) is True
        for _ in range(500):
            ticks.now += 0.01
            assert outage.failed(ConnectionRefusedError("refused")) is False
        assert outage.down
        assert outage.recovered() is True
        assert outage.recovered() is False  # already said
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "broker unavailable"),
        ("INFO", "broker available again"),
    ]
    began, ended = caplog.records
    assert began.error == "ConnectionRefusedError"  # type: ignore[attr-defined]
    assert ended.failures == 501  # type: ignore[attr-defined]
    assert ended.outage_seconds == 5.0  # type: ignore[attr-defined]


def test_the_next_outage_is_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog("database", logging.getLogger("t.again"), down="db down", up="db up")
    with caplog.at_level(logging.INFO, logger="t.again"):
        for _ in range(2):
            outage.failed("no answer")
            outage.failed("no answer")
            outage.recovered()
    assert [r.getMessage() for r in caplog.records] == ["db down", "db up", "db down", "db up"]


def test_a_fault_that_recurs_is_never_silenced_only_thinned_to_a_line_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    fault = OutageLog("escalation tick", logging.getLogger("t.fault"), monotonic=ticks)
    with caplog.at_level(logging.INFO, logger="t.fault"):
        for _ in range(10 * 60):  # a loop failing every second for ten minutes
            fault.failed(KeyError("a bug"), traceback=True)
            ticks.now += 1.0
    lines = caplog.records
    assert len(lines) == 10
    assert all(r.levelname == "WARNING" and r.exc_info for r in lines)
    assert lines[-1].failures == 541  # type: ignore[attr-defined]


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_a_library_line_passes_once_then_its_repeats_are_held_back_and_counted() -> None:
    ticks = Ticks()
    quieten = Quieten("aiokafka", period=60, budget=5, monotonic=ticks)
    template = "Unable connect to node with id %s: %s"
    passed = []
    for n in range(7000):  # what aiokafka wrote in a second while the broker was away
        ticks.now += 1 / 7000
        record = _record("aiokafka", template, 1, f"[Errno 111] refused {n}")
        if quieten.filter(record):
            passed.append(record)
    assert len(passed) == 1
    ticks.now += 60
    again = _record("aiokafka", template, 1, "refused")
    assert quieten.filter(again)
    assert again.suppressed == 6999  # type: ignore[attr-defined]


def test_all_kinds_of_library_lines_together_stay_within_the_budget() -> None:
    ticks = Ticks()
    quieten = Quieten("aiokafka", period=60, budget=5, monotonic=ticks)
    names = ["aiokafka", "aiokafka.conn", "aiokafka.consumer.fetcher", "aiokafka.producer.sender"]
    passed = 0
    for n in range(2000):
        ticks.now += 0.01
        record = _record(names[n % 4], f"failure kind {n % 50}")
        passed += quieten.filter(record)
    assert passed == 5


def test_lines_of_other_loggers_are_never_held_back() -> None:
    quieten = Quieten("aiokafka", period=60, budget=1, monotonic=Ticks())
    assert all(quieten.filter(_record("shared.bus.kafka", "broker unavailable")) for _ in range(50))
    assert all(quieten.filter(_record("aiokafkaesque", "not the library")) for _ in range(50))
