"""The queue's words for a deadline: how much working time is left before it (or how
long it is past), and whether it is near or missed. Pure functions over plain data.

A practitioner's clock runs in working hours: an amber referral due on Monday at 10:00
seen on Friday at 16:00 has two hours left, not 66. Which days are working days is the
area's calendar: the bank holidays of `shared.bank_holidays` (the one calendar triage's
deadlines use), the working day and week of the area (`WorkingWeek`, whose defaults are
those of triage's threshold policies). Red is worked to completion even out of hours,
so a red referral's time is counted round the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shared.bank_holidays import Division, is_bank_holiday

Signal = Literal["missed", "near", "on_time"]


@dataclass(frozen=True)
class WorkingWeek:
    """When the area's working-hours clocks run: from `opens` to `closes` (local time in
    `zone`) on `weekdays` (Monday is 0), except the bank holidays of `division` and the
    area's own `closed_days`."""

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


# The area's working week: its calendar's bank holidays, nine to five on weekdays, as
# triage's threshold policies have it. The queue page and its emails count by this one.
WORKING_WEEK = WorkingWeek()


def working_time(week: WorkingWeek, start: datetime, end: datetime) -> timedelta:
    """The working time from `start` to `end`; negative when `end` comes first."""
    if end < start:
        return -working_time(week, end, start)
    total = timedelta(0)
    day, last = start.astimezone(week.zone).date(), end.astimezone(week.zone).date()
    while day <= last:
        if week.is_working_day(day):
            # Compare in UTC: aware datetimes in one zone subtract as wall-clock times.
            overlap = min(end, week.at(day, week.closes)) - max(start, week.at(day, week.opens))
            total += max(overlap, timedelta(0))
        day += timedelta(days=1)
    return total


def duration_in_words(span: timedelta) -> str:
    """A span (either sign) as a practitioner reads it, to the minute below: "3 h 20 min",
    "45 min", "under 1 min"."""
    hours, minutes = divmod(int(abs(span).total_seconds()) // 60, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else "under 1 min"


@dataclass(frozen=True)
class Deadline:
    """A running deadline as the queue shows it: the time left (or past) in words, and
    its signal, which the page gives in words as well as in colour."""

    left: str
    signal: Signal


def deadline(
    *, now: datetime, due: datetime, week: WorkingWeek, near: timedelta, round_the_clock: bool
) -> Deadline:
    """How a deadline `due` stands at `now`: missed once it has passed; near when no
    more than `near` of working time (round the clock: of time) is left."""
    left = due - now if round_the_clock else working_time(week, now, due)
    clock = " (round the clock)" if round_the_clock else ""
    if due <= now:
        if not round_the_clock and left > -timedelta(minutes=1):
            # Passed outside working hours: no working time has gone by since.
            return Deadline("overdue (passed outside working hours)", "missed")
        return Deadline(f"overdue by {duration_in_words(left)}{clock}", "missed")
    if not round_the_clock and left < timedelta(minutes=1):
        # Due before the next working day starts: nothing of it is working time.
        return Deadline("no working time left", "near")
    words = f"{duration_in_words(left)} left{clock}"
    return Deadline(words, "near" if left <= near else "on_time")
