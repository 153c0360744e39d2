"""Working time on an area's calendar: the clock stops overnight, at weekends, on bank
holidays and the area's closures, follows local time through British Summer Time, and
adding working hours and counting them agree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.working_time import WorkingWeek, add_working_time, working_time

WEEK = WorkingWeek()


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
def test_counting_the_working_time_to_a_deadline_gives_the_hours_added(
    start: datetime, hours: float
) -> None:
    due = add_working_time(WEEK, start, hours)
    assert working_time(WEEK, start, due) == timedelta(hours=hours)


def test_adding_working_hours_skips_the_weekend_and_bank_holidays() -> None:
    # Friday 27 November 2026 16:00 UTC (16:00 in London): one hour left that day.
    assert add_working_time(WEEK, at(27, 16), 3) == at(30, 11)
    # Christmas Eve 16:00 + 2 h: Christmas Day and Boxing Day's Monday substitute are shut.
    assert add_working_time(WEEK, at(24, 16, month=12), 2) == at(29, 10, month=12)
    # A deadline a decade ahead still has an answer (the calendar is a rule).
    assert add_working_time(WEEK, at(30, 9, year=2036), 8).year == 2036
