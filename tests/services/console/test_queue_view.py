"""The queue's deadline words: working time counted on the area's calendar (weekends,
bank holidays, British Summer Time), in agreement with triage's deadlines; the time
left or past in words; near and missed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.console.queue_view import (
    Deadline,
    WorkingWeek,
    deadline,
    duration_in_words,
    working_time,
)
from services.triage.deadlines import add_working_hours
from services.triage.policy import load_policy

WEEK = WorkingWeek()
NEAR = timedelta(hours=2)


def at(day: int, hour: int, minute: int = 0, *, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_working_time_stops_overnight_and_at_the_weekend() -> None:
    friday_4pm, monday_10am = at(27, 16), at(30, 10)
    assert working_time(WEEK, friday_4pm, monday_10am) == timedelta(hours=2)
    assert working_time(WEEK, at(30, 7), at(30, 20)) == timedelta(hours=8)


def test_working_time_stops_on_bank_holidays_and_the_areas_closures() -> None:
    # Christmas Day is a Friday in 2026; Boxing Day's substitute is Monday 28 December.
    christmas_eve_4pm = at(24, 16, month=12)
    tuesday_10am = at(29, 10, month=12)
    assert working_time(WEEK, christmas_eve_4pm, tuesday_10am) == timedelta(hours=2)
    closed = WorkingWeek(closed_days=frozenset({date(2026, 12, 29)}))
    assert working_time(closed, christmas_eve_4pm, tuesday_10am) == timedelta(hours=1)


def test_working_time_follows_local_hours_in_summer_time() -> None:
    # 09:00 to 17:00 in London is 08:00 to 16:00 UTC in July.
    assert working_time(WEEK, at(6, 7, month=7), at(6, 8, 30, month=7)) == timedelta(minutes=30)
    assert working_time(WEEK, at(6, 15, month=7), at(6, 17, month=7)) == timedelta(hours=1)


def test_working_time_is_negative_when_the_end_comes_first() -> None:
    assert working_time(WEEK, at(30, 11), at(30, 10)) == -timedelta(hours=1)


@pytest.mark.parametrize("hours", [0.5, 4, 8, 24, 72])
@pytest.mark.parametrize(
    "start", [at(30, 9), at(27, 16, 45), at(24, 12, month=12), at(3, 20, month=7), at(28, 3)]
)
def test_working_time_agrees_with_triages_deadlines(start: datetime, hours: float) -> None:
    due = add_working_hours(load_policy(), start, hours)
    assert working_time(WEEK, start, due) == timedelta(hours=hours)


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
