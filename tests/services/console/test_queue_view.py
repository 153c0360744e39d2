"""The queue's deadline words: the time left or past in words, near and missed, counted
on the area's working week (the same one triage's deadlines are set by)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.console.queue_view import Deadline, deadline, duration_in_words, week_from
from services.triage import policies
from services.triage.api import get_working_week
from services.triage.deadlines import week_of
from services.triage.policy import load_policy
from shared.working_time import WorkingWeek

WEEK = WorkingWeek()
NEAR = timedelta(hours=2)


def at(day: int, hour: int, minute: int = 0, *, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("policy", ["demoshire", "cwm-demo"])
def test_the_queue_counts_by_the_week_triage_publishes_for_its_policy(policy: str) -> None:
    """The queue's week is the area's, as triage's GET /v1/working-week gives it: the
    week triage's own deadlines are set by, its opening time and closures included."""
    active = load_policy(Path(policies.__file__).parent / f"{policy}.json")
    published = asyncio.run(get_working_week(None, active))  # type: ignore[arg-type]
    assert week_from(published.model_dump()) == week_of(active)


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(hours=3, minutes=20), "3 h 20 min"),
        (timedelta(hours=1, minutes=5, seconds=59), "1 h 05 min"),
        (-timedelta(hours=1, minutes=5), "1 h 05 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=50), "50 h 00 min"),
        (timedelta(seconds=40), "under 1 min"),
    ],
)
def test_a_span_in_words(span: timedelta, words: str) -> None:
    assert duration_in_words(span) == words


def shown(now: datetime, due: datetime, *, red: bool = False) -> Deadline:
    return deadline(now=now, due=due, week=WEEK, near=NEAR, round_the_clock=red)


def test_a_deadline_with_more_working_time_left_than_the_warning_is_on_time() -> None:
    assert shown(at(27, 16), at(30, 13)) == Deadline("5 h 00 min left", "on_time")


def test_a_deadline_is_near_within_the_warnings_working_hours() -> None:
    # Friday 16:00 to Monday 10:00 is three days away, two working hours.
    assert shown(at(27, 16), at(30, 10)) == Deadline("2 h 00 min left", "near")
    assert shown(at(30, 18), at(30, 22)) == Deadline("no working time left", "near")


def test_a_deadline_passed_is_missed_by_the_working_time_since() -> None:
    assert shown(at(30, 11, 5), at(30, 10)) == Deadline("overdue by 1 h 05 min", "missed")
    assert shown(at(30, 10), at(30, 10)).signal == "missed"
    assert shown(at(30, 19), at(30, 18)) == Deadline(
        "overdue (passed outside working hours)", "missed"
    )


def test_a_red_deadline_counts_round_the_clock() -> None:
    assert shown(at(27, 22), at(28, 1), red=True) == Deadline(
        "3 h 00 min left (round the clock)", "on_time"
    )
    assert shown(at(28, 0), at(28, 1), red=True).signal == "near"
    assert shown(at(28, 2, 5), at(28, 1), red=True) == Deadline(
        "overdue by 1 h 05 min (round the clock)", "missed"
    )
