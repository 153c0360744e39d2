"""Decision deadlines: working hours in the area's calendar, or round the clock for red.

Pure functions over the policy. Working-hours clocks stop outside the working day,
at weekends, on the bank holidays of the policy's calendar (England and Wales,
Scotland or Northern Ireland, by rule for any year: `shared.bank_holidays`) and on the
area's own closure days; a round-the-clock clock (red: worked to completion even out
of hours) never stops. A deadline always has an answer, however far ahead it falls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.triage.policy import WEEKDAYS, ThresholdPolicy
from shared.working_time import WorkingWeek, add_working_time

# The working week of each policy in use, made once (every decision's deadline reads
# it): by the policy object, which is kept with it so its id cannot be reused.
_WEEKS: dict[int, tuple[ThresholdPolicy, WorkingWeek]] = {}


def week_of(policy: ThresholdPolicy) -> WorkingWeek:
    """The area's working week as its threshold policy sets it out."""
    known = _WEEKS.get(id(policy))
    if known is not None and known[0] is policy:
        return known[1]
    week = WorkingWeek(
        division=policy.calendar,
        zone=policy.zone,
        opens=policy.working_hours.start,
        closes=policy.working_hours.end,
        weekdays=frozenset(WEEKDAYS.index(day) for day in policy.working_hours.days),
        closed_days=frozenset(policy.extra_closed_days),
    )
    if len(_WEEKS) >= 16:  # a long-lived process that loads many drafts
        _WEEKS.clear()
    _WEEKS[id(policy)] = (policy, week)
    return week


def is_working_day(policy: ThresholdPolicy, day: date) -> bool:
    """A day on which the area's working-hours clocks run."""
    return week_of(policy).is_working_day(day)


def add_working_hours(policy: ThresholdPolicy, start: datetime, hours: float) -> datetime:
    """The instant (UTC) when `hours` of the area's working time have passed since `start`."""
    return add_working_time(week_of(policy), start, hours)


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
