"""An area's school calendar: when the next school day starts (Operation Encompass).

The calendar is data a local authority owns (a JSON file, validated here): its time
zone, the weekdays schools open, the time the school day starts, the terms, the days
closed within them (half terms, bank holidays, training days), and a school's own
start time or closures where they differ (academies set their own). It also names the
local authority team that is told about home-educated children.

`notify_by` is pure: the start of the first school day after an incident. Outside
the terms the calendar knows, a school day is an opening weekday that is not a bank
holiday of the calendar's `division` (England and Wales unless it says otherwise): the
school holidays it cannot know count as school days, so a deadline comes early, never
late, and never fails for want of data. `calendar_warnings` tells an operator a year
ahead that the term dates are running out. A school whose term dates differ from the
area's needs its own `terms` here, or its deadline follows the area's dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.bank_holidays import Division, is_bank_holiday
from shared.datafiles import DataFileError, parse_data_file

DEFAULT_CALENDAR_PATH = Path(__file__).with_name("school_calendars") / "demoshire.json"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Urn = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
# How far ahead `notify_by` looks for a school day: past any summer holiday.
_SEARCH_DAYS = 400
# How long before its term dates end a calendar warns its operators.
WARN_DAYS_AHEAD = 365


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(_Strict):
    """Days from `from` to `to`, both included."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    first: date = Field(alias="from")
    last: date = Field(alias="to")
    name: str = Field(default="", max_length=120)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.last < self.first:
            raise ValueError(f"'to' ({self.last}) is before 'from' ({self.first})")
        return self

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


class SchoolOverride(_Strict):
    """Where one school differs from the area: its start time, its own closures (beside
    the area's), or its own terms (an academy, or a school that follows another
    area's dates). With its own `terms`, the area's terms and closures do not apply to
    it: list its half terms and bank holidays in its `closures`."""

    day_starts_at: time | None = None
    terms: list[Span] | None = Field(default=None, min_length=1, max_length=60)
    closures: list[Span] = Field(default_factory=list, max_length=100)


class Recipient(_Strict):
    organisation: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class SchoolCalendar(_Strict):
    id: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=40)
    area: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="Europe/London")
    division: Division = Field(
        default="england-and-wales",
        description="Whose bank holidays close schools on days past the terms listed here.",
    )
    school_days: list[Weekday] = Field(min_length=1, max_length=7)
    day_starts_at: time = Field(description="When the school day starts, local time.")
    terms: list[Span] = Field(min_length=1, max_length=60)
    closures: list[Span] = Field(default_factory=list, max_length=500)
    schools: dict[Urn, SchoolOverride] = Field(default_factory=dict)
    home_educated: Recipient = Field(
        description="The local authority team told about home-educated children."
    )

    @model_validator(mode="after")
    def _coherent(self) -> SchoolCalendar:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        terms = sorted(self.terms, key=lambda t: t.first)
        for earlier, later in pairwise(terms):
            if later.first <= earlier.last:
                raise ValueError(f"terms: {earlier.name or earlier.first} overlaps {later.name}")
        covered = Span(first=terms[0].first, last=terms[-1].last)
        for closure in self.closures:
            if closure.first not in covered or closure.last not in covered:
                raise ValueError(
                    f"closures: {closure.name or closure.first} is outside the terms "
                    f"({covered.first} to {covered.last})"
                )
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def covers(self) -> Span:
        """From the first day of the first term to the last day of the last."""
        return Span(first=min(t.first for t in self.terms), last=max(t.last for t in self.terms))

    @cached_property
    def term_data_ends(self) -> tuple[tuple[str, date], ...]:
        """Whose term dates end when: the area's, then each school that has its own."""
        own = (
            (f"school {urn}'s own terms", max(t.last for t in override.terms))
            for urn, override in sorted(self.schools.items())
            if override.terms is not None
        )
        return (("the area's terms", self.covers.last), *own)

    @cached_property
    def data_ends(self) -> date:
        """The last day the term dates cover for every school: after it, some school's
        days follow the rule (weekdays that are not bank holidays)."""
        return min(last for _, last in self.term_data_ends)

    def starts_at(self, school_urn: str | None) -> time:
        override = self.schools.get(school_urn or "")
        if override is not None and override.day_starts_at is not None:
            return override.day_starts_at
        return self.day_starts_at

    def is_school_day(self, day: date, school_urn: str | None = None) -> bool:
        """A day the school (or, without one, the area's schools) opens for pupils."""
        if WEEKDAYS[day.weekday()] not in self.school_days:
            return False
        if not self.covers_day(day, school_urn):
            # Beyond the term dates: open unless a bank holiday (so early, never late).
            return not is_bank_holiday(self.division, day)
        override = self.schools.get(school_urn or "")
        own_terms = override.terms if override is not None else None
        if not any(day in term for term in own_terms or self.terms):
            return False
        closures = list(override.closures) if override is not None else []
        if own_terms is None:
            closures += self.closures
        return not any(day in closure for closure in closures)

    def covers_day(self, day: date, school_urn: str | None = None) -> bool:
        """Whether the calendar knows this school's terms on this day."""
        override = self.schools.get(school_urn or "")
        if override is not None and override.terms is not None:
            # From whichever starts first to the end of the school's own last term:
            # past that, its dates are unknown (the weekday rule applies).
            first = min(self.covers.first, *(t.first for t in override.terms))
            return first <= day <= max(t.last for t in override.terms)
        return day in self.covers


@dataclass(frozen=True)
class Deadline:
    """When a notice must have reached its recipient, and whether the calendar knew."""

    at: datetime
    calendar_covered: bool


def notify_by(calendar: SchoolCalendar, school_urn: str | None, after: datetime) -> Deadline:
    """The start (UTC) of the school's first school day that starts after `after`."""
    zone = calendar.zone
    day = after.astimezone(zone).date()
    starts = calendar.starts_at(school_urn)
    for _ in range(_SEARCH_DAYS):
        if calendar.is_school_day(day, school_urn):
            start = datetime.combine(day, starts, tzinfo=zone).astimezone(UTC)
            if start > after:
                return Deadline(at=start, calendar_covered=calendar.covers_day(day, school_urn))
        day += timedelta(days=1)
    # Unreachable with at least one school weekday; a deadline now is the safe answer.
    return Deadline(at=after.astimezone(UTC), calendar_covered=False)


def calendar_warnings(calendar: SchoolCalendar, now: datetime) -> list[str]:
    """For operators: a warning for each set of term dates in the calendar that ends
    within WARN_DAYS_AHEAD days of `now` (or has ended); empty when every one runs on
    for longer. Past them, every weekday that is not a bank holiday counts as a school
    day, so a notice's deadline may come early over a school holiday."""
    today = now.astimezone(calendar.zone).date()
    warnings = []
    for whose, last in calendar.term_data_ends:
        left = (last - today).days
        if left > WARN_DAYS_AHEAD:
            continue
        when = f"ended on {last}" if left < 0 else f"end on {last}, {_days(left)} from now"
        warnings.append(
            f"school calendar {calendar.id} version {calendar.version}: {whose} {when}; "
            f"after that, every weekday that is not a {calendar.division} bank holiday "
            "counts as a school day, so Encompass deadlines may come early over school "
            "holidays: add the next academic year's terms"
        )
    return warnings


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


class SchoolCalendarError(DataFileError):
    """The calendar file is not valid; `problems` lists each reason."""


def parse_calendar(text: str, *, source: str = "<calendar>") -> SchoolCalendar:
    """A validated calendar from JSON text; raises `SchoolCalendarError` with every reason."""
    return parse_data_file(SchoolCalendar, text, source=source, error=SchoolCalendarError)


def load_calendar(path: Path | None) -> SchoolCalendar:
    """The calendar at `path`, or the shipped Demoshire example when none is configured."""
    target = path or DEFAULT_CALENDAR_PATH
    return parse_calendar(target.read_text(encoding="utf-8"), source=str(target))
