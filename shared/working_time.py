"""Working time: the one calendar every clock that stops outside working hours runs by.

An area's working week (`WorkingWeek`): its working day, its working weekdays, the bank
holidays of its part of the UK (`shared.bank_holidays`, by rule for any year) and its own
closure days. Triage's decision deadlines add working hours with it (`add_working_time`,
built from the threshold policy), and the console's queue counts the working time left
before a deadline with it (`working_time`), so the two can never disagree about what a
working hour is. Pure functions; every instant is an aware datetime, answers in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.bank_holidays import Division, is_bank_holiday


@dataclass(frozen=True)
class WorkingWeek:
    """When an area's working-hours clocks run: from `opens` to `closes` (local time in
    `zone`) on `weekdays` (Monday is 0), except the bank holidays of `division` and the
    area's own `closed_days`. The defaults are nine to five, Monday to Friday, in
    England and Wales."""

    division: Division = "england-and-wales"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    closed_days: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        return (
            day.weekday() in self.weekdays
            and not is_bank_holiday(self.division, day)
            and day not in self.closed_days
        )

    def at(self, day: date, clock: time) -> datetime:
        """The instant (UTC) a local `clock` time falls on `day`."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)


def add_working_time(week: WorkingWeek, start: datetime, hours: float) -> datetime:
    """The instant (UTC) when `hours` of working time have passed since `start`. Always
    has an answer, however far ahead it falls (the calendar is a rule for every year)."""
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(week.zone).date()
    while True:
        if week.is_working_day(day):
            # Compare in UTC: aware datetimes in one zone subtract as wall-clock times.
            opens, closes = week.at(day, week.opens), week.at(day, week.closes)
            cursor = max(cursor, opens)
            if cursor < closes:
                available = closes - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
        day += timedelta(days=1)
        cursor = week.at(day, time(0, 0))


def working_time(week: WorkingWeek, start: datetime, end: datetime) -> timedelta:
    """The working time from `start` to `end`; negative when `end` comes first."""
    if end < start:
        return -working_time(week, end, start)
    total = timedelta(0)
    day, last = start.astimezone(week.zone).date(), end.astimezone(week.zone).date()
    while day <= last:
        if week.is_working_day(day):
            overlap = min(end, week.at(day, week.closes)) - max(start, week.at(day, week.opens))
            total += max(overlap, timedelta(0))
        day += timedelta(days=1)
    return total
