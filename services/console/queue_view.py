"""The queue's words for a deadline: how much working time is left before it (or how
long it is past), and whether it is near or missed. Pure functions over plain data.

A practitioner's clock runs in working hours: an amber referral due on Monday at 10:00
seen on Friday at 16:00 has two hours left, not 66. Which days are working days is the
area's working week as triage's active policy sets it out (`GET /v1/working-week`),
counted with `shared.working_time`, the one calendar triage's deadlines also use.
Red is worked to completion even out of hours, so a red referral's time is counted
round the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.working_time import WorkingWeek, working_time

Signal = Literal["missed", "near", "on_time"]


def week_from(answer: dict[str, Any]) -> WorkingWeek:
    """The area's working week from triage's `GET /v1/working-week` (the active threshold
    policy's, which triage's own deadlines run by)."""
    return WorkingWeek(
        division=answer["calendar"],
        zone=ZoneInfo(answer["timezone"]),
        opens=time.fromisoformat(answer["opens"]),
        closes=time.fromisoformat(answer["closes"]),
        weekdays=frozenset(answer["weekdays"]),
        closed_days=frozenset(date.fromisoformat(day) for day in answer["closed_days"]),
    )


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
