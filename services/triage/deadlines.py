"""Decision deadlines: working hours in the area's calendar, or round the clock for red.

Pure functions over the policy. Working-hours clocks stop outside the working day,
at weekends, on the bank holidays of the policy's calendar (England and Wales,
Scotland or Northern Ireland, by rule for any year: `shared.bank_holidays`) and on the
area's own closure days; a round-the-clock clock (red: worked to completion even out
of hours) never stops. A deadline always has an answer, however far ahead it falls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from services.triage.policy import WEEKDAYS, ThresholdPolicy
from shared.bank_holidays import is_bank_holiday


def is_working_day(policy: ThresholdPolicy, day: date) -> bool:
    """A day on which the area's working-hours clocks run."""
    return (
        WEEKDAYS[day.weekday()] in policy.working_hours.days
        and not is_bank_holiday(policy.calendar, day)
        and day not in policy.extra_closed_days
    )


def add_working_hours(policy: ThresholdPolicy, start: datetime, hours: float) -> datetime:
    """The instant (UTC) when `hours` of the area's working time have passed since `start`."""
    zone = policy.zone
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(zone).date()
    while True:
        if is_working_day(policy, day):
            # Compare in UTC: aware datetimes in one zone subtract as wall-clock times.
            opens = _at(day, policy.working_hours.start, policy)
            closes = _at(day, policy.working_hours.end, policy)
            cursor = max(cursor, opens)
            if cursor < closes:
                available = closes - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
        day += timedelta(days=1)
        cursor = _at(day, time(0, 0), policy)


def decision_deadline(policy: ThresholdPolicy, level: int, start: datetime) -> datetime | None:
    """When the decision on a referral at `level`, received at `start`, is due (UTC).

    None for a level without a clock (universal services).
    """
    spec = policy.level(level)
    if spec.decide_within_hours is None:
        return None
    if spec.clock == "round_the_clock":
        return start.astimezone(UTC) + timedelta(hours=spec.decide_within_hours)
    return add_working_hours(policy, start, spec.decide_within_hours)


def _at(day: date, clock: time, policy: ThresholdPolicy) -> datetime:
    return datetime.combine(day, clock, tzinfo=policy.zone).astimezone(UTC)
