"""UK bank holidays, by rule, for England and Wales, Scotland and Northern Ireland.

Reference data every service may read: triage's working-hours clocks stop on them, and
notify counts them out of school days past an area's term dates. The holidays follow
from the rules in force since 2007 (when St Andrew's Day became a Scottish bank
holiday), so any year has an answer and none is refused:

- every division: New Year's Day, Good Friday (Easter by the anonymous Gregorian
  algorithm), the first and last Mondays in May, Christmas Day and Boxing Day;
- England and Wales, and Northern Ireland: Easter Monday and the last Monday in August;
- Scotland: 2 January, the first Monday in August and St Andrew's Day (30 November),
  and no Easter Monday;
- Northern Ireland: St Patrick's Day (17 March) and the Battle of the Boyne (12 July).

A fixed-date holiday at a weekend moves to the next weekday that is not already a
holiday (so a Saturday Christmas and Sunday Boxing Day are the Monday and Tuesday).
The one-off changes a royal proclamation makes (a jubilee, a funeral, a coronation) are
data, `shared/data/bank-holiday-changes.json`: add a new one there when it is announced.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.datafiles import parse_data_file

Division = Literal["england-and-wales", "scotland", "northern-ireland"]
DIVISIONS: tuple[Division, ...] = ("england-and-wales", "scotland", "northern-ireland")

CHANGES_FILE = "bank-holiday-changes.json"

# (month, day) of the fixed-date holidays, in the order they claim substitute days.
_FIXED: dict[Division, tuple[tuple[int, int], ...]] = {
    "england-and-wales": ((1, 1), (12, 25), (12, 26)),
    "scotland": ((1, 1), (1, 2), (11, 30), (12, 25), (12, 26)),
    "northern-ireland": ((1, 1), (3, 17), (7, 12), (12, 25), (12, 26)),
}


class BankHolidayChange(BaseModel):
    """A one-off change: a holiday the rules give that did not happen (it moved), a day
    added, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    divisions: list[Division] = Field(min_length=1)
    removed: date | None
    added: date | None
    reason: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _checked(self) -> BankHolidayChange:
        if self.removed is None and self.added is None:
            raise ValueError("a change removes a day, adds one, or both")
        if self.added is not None and self.added.weekday() >= 5:
            raise ValueError(f"added: {self.added} is at a weekend")
        for division in self.divisions:
            if self.removed is not None and self.removed not in _by_rule(
                division, self.removed.year
            ):
                raise ValueError(f"removed: {self.removed} is not a {division} bank holiday")
        return self


class BankHolidayChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    changes: list[BankHolidayChange]


@cache
def changes() -> tuple[BankHolidayChange, ...]:
    """The announced one-off changes, from the packaged data file."""
    text = resources.files("shared.data").joinpath(CHANGES_FILE).read_text(encoding="utf-8")
    return tuple(parse_data_file(BankHolidayChanges, text, source=CHANGES_FILE).changes)


def easter_sunday(year: int) -> date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def bank_holidays(division: Division, year: int) -> frozenset[date]:
    """The bank holidays of `division` in `year`, as the weekdays they are taken on (a
    holiday at a weekend is its substitute day), with the announced one-off changes."""
    days = set(_by_rule(division, year))
    for change in changes():
        if division not in change.divisions:
            continue
        if change.removed is not None and change.removed.year == year:
            days.discard(change.removed)
        if change.added is not None and change.added.year == year:
            days.add(change.added)
    return frozenset(days)


def is_bank_holiday(division: Division, day: date) -> bool:
    """Whether `day` is a bank holiday (or a substitute day) in `division`."""
    return day in bank_holidays(division, day.year)


@cache
def _by_rule(division: Division, year: int) -> frozenset[date]:
    if division not in _FIXED:
        raise ValueError(f"{division!r} is not a bank holiday division: one of {DIVISIONS}")
    easter = easter_sunday(year)
    days = {
        easter - timedelta(days=2),
        _nth_monday(year, 5, 1),
        _nth_monday(year, 5, -1),
        _nth_monday(year, 8, 1) if division == "scotland" else _nth_monday(year, 8, -1),
    }
    if division != "scotland":
        days.add(easter + timedelta(days=1))
    for month, day in _FIXED[division]:
        taken = date(year, month, day)
        # Past the weekend, and past a day another holiday has already claimed.
        while taken.weekday() >= 5 or taken in days:
            taken += timedelta(days=1)
        days.add(taken)
    return frozenset(days)


def _nth_monday(year: int, month: int, n: Literal[1, -1]) -> date:
    """The first (n=1) or last (n=-1) Monday of a month."""
    if n == 1:
        first = date(year, month, 1)
        return first + timedelta(days=-first.weekday() % 7)
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=last.weekday())
