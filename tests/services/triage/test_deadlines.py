"""Decision deadlines in working hours, across weekends, the bank holidays of England and
Wales, Scotland and Northern Ireland, an area's own closure days and the clock change,
in any year; red runs round the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.triage.deadlines import add_working_hours, decision_deadline, is_working_day
from services.triage.policy import ThresholdPolicy, parse_policy
from shared.bank_holidays import Division, is_bank_holiday
from tests.services.triage.helpers import CWM, DEMOSHIRE, POLICIES

LONDON = ZoneInfo("Europe/London")


def demoshire_in(division: Division) -> ThresholdPolicy:
    """The Demoshire policy with another division's bank holidays, validated as loaded."""
    text = (POLICIES / "demoshire.json").read_text()
    old = '"calendar": "england-and-wales"'
    assert old in text
    return parse_policy(text.replace(old, f'"calendar": "{division}"', 1))


SCOTTISH = demoshire_in("scotland")
NORTHERN_IRISH = demoshire_in("northern-ireland")


def london(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A UTC instant from a wall-clock time in London (GMT in winter, BST in summer)."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


# (case, policy, level, received (London wall clock), due (London wall clock))
TABLE = [
    # Demoshire, England: 09:00-17:00 Mon-Fri; green 72 h, amber 24 h working; red 4 h always.
    (
        "amber within one week",
        DEMOSHIRE,
        3,
        london(2026, 11, 10, 10, 0),
        london(2026, 11, 13, 10, 0),
    ),
    (
        "amber across a weekend",
        DEMOSHIRE,
        3,
        london(2026, 11, 13, 15, 0),
        london(2026, 11, 18, 15, 0),
    ),
    (
        "received on Saturday starts Monday 09:00",
        DEMOSHIRE,
        3,
        london(2026, 11, 14, 11, 0),
        london(2026, 11, 18, 17, 0),
    ),
    (
        "received after hours starts next morning",
        DEMOSHIRE,
        3,
        london(2026, 11, 10, 18, 30),
        london(2026, 11, 13, 17, 0),
    ),
    (
        "received before opening starts at 09:00",
        DEMOSHIRE,
        3,
        london(2026, 11, 10, 7, 0),
        london(2026, 11, 12, 17, 0),
    ),
    (
        "green 72 working hours is nine working days",
        DEMOSHIRE,
        2,
        london(2026, 11, 2, 9, 0),
        london(2026, 11, 12, 17, 0),
    ),
    (
        "Easter: Good Friday and Easter Monday stop the clock",
        DEMOSHIRE,
        3,
        london(2026, 4, 2, 13, 0),
        london(2026, 4, 9, 13, 0),
    ),
    ("May Day bank holiday", DEMOSHIRE, 3, london(2026, 5, 1, 9, 0), london(2026, 5, 6, 17, 0)),
    (
        "late summer bank holiday",
        DEMOSHIRE,
        3,
        london(2026, 8, 28, 12, 0),
        london(2026, 9, 3, 12, 0),
    ),
    (
        "Christmas: Boxing Day substitute Monday 28th",
        DEMOSHIRE,
        3,
        london(2026, 12, 24, 15, 0),
        london(2026, 12, 31, 15, 0),
    ),
    (
        "red runs round the clock on Christmas Day",
        DEMOSHIRE,
        4,
        london(2026, 12, 25, 22, 0),
        london(2026, 12, 26, 2, 0),
    ),
    (
        "red on a Saturday night",
        DEMOSHIRE,
        4,
        london(2026, 11, 14, 23, 30),
        london(2026, 11, 15, 3, 30),
    ),
    (
        "clock change: BST ends inside a weekend",
        DEMOSHIRE,
        3,
        london(2026, 10, 23, 16, 0),
        london(2026, 10, 28, 16, 0),
    ),
    # Cwm Demo, Wales: 08:30-17:00 Mon-Fri, council closed 29-31 Dec; amber 6 h, green 24 h.
    (
        "Wales amber 6 working hours, same day",
        CWM,
        4,
        london(2026, 11, 10, 9, 0),
        london(2026, 11, 10, 15, 0),
    ),
    (
        "Wales amber runs into the next morning",
        CWM,
        4,
        london(2026, 11, 10, 14, 0),
        london(2026, 11, 11, 11, 30),
    ),
    ("Wales green across Easter", CWM, 2, london(2026, 4, 2, 13, 0), london(2026, 4, 9, 11, 30)),
    (
        "Wales: the council's Christmas closure stops the clock",
        CWM,
        4,
        london(2026, 12, 24, 15, 0),
        london(2027, 1, 4, 12, 30),
    ),
    (
        "Wales red 2 hours round the clock",
        CWM,
        5,
        london(2026, 12, 30, 23, 0),
        london(2026, 12, 31, 1, 0),
    ),
    # The same Demoshire timescales with Scotland's or Northern Ireland's holidays.
    (
        "Scotland: St Andrew's Day stops the clock",
        SCOTTISH,
        3,
        london(2026, 11, 27, 10, 0),
        london(2026, 12, 3, 10, 0),
    ),
    (
        "England: St Andrew's Day is a working day",
        DEMOSHIRE,
        3,
        london(2026, 11, 27, 10, 0),
        london(2026, 12, 2, 10, 0),
    ),
    (
        "Scotland: Easter Monday is a working day",
        SCOTTISH,
        3,
        london(2026, 4, 2, 13, 0),
        london(2026, 4, 8, 13, 0),
    ),
    (
        "Scotland: the first Monday in August stops the clock",
        SCOTTISH,
        3,
        london(2026, 7, 31, 10, 0),
        london(2026, 8, 6, 10, 0),
    ),
    (
        "Scotland: the one-off World Cup bank holiday stops the clock",
        SCOTTISH,
        3,
        london(2026, 6, 12, 10, 0),
        london(2026, 6, 18, 10, 0),
    ),
    (
        "Northern Ireland: St Patrick's Day stops the clock",
        NORTHERN_IRISH,
        3,
        london(2026, 3, 16, 10, 0),
        london(2026, 3, 20, 10, 0),
    ),
    (
        "England: St Patrick's Day is a working day",
        DEMOSHIRE,
        3,
        london(2026, 3, 16, 10, 0),
        london(2026, 3, 19, 10, 0),
    ),
    (
        "Northern Ireland: the Boyne's Sunday holiday moves to Monday",
        NORTHERN_IRISH,
        3,
        london(2026, 7, 10, 10, 0),
        london(2026, 7, 16, 10, 0),
    ),
]


@pytest.mark.parametrize(
    ("case", "policy", "level", "received", "due"), TABLE, ids=[row[0] for row in TABLE]
)
def test_decision_deadline(case, policy, level, received, due) -> None:
    assert decision_deadline(policy, level, received) == due


def test_universal_has_no_decision_clock() -> None:
    assert decision_deadline(DEMOSHIRE, 1, london(2026, 11, 10, 10, 0)) is None


def test_england_and_wales_share_bank_holidays_but_areas_close_on_their_own_days() -> None:
    assert is_bank_holiday("england-and-wales", date(2026, 12, 28))  # Boxing Day (substitute)
    assert not is_bank_holiday("england-and-wales", date(2026, 3, 2))  # St David's Day
    assert is_working_day(DEMOSHIRE, date(2026, 12, 29))
    assert not is_working_day(CWM, date(2026, 12, 29))
    assert not is_working_day(DEMOSHIRE, date(2027, 3, 26))  # Good Friday 2027


def test_a_deadline_past_the_old_shipped_calendar_is_computed_not_refused() -> None:
    # The old table ended on 31 December 2030; New Year's Day 2031 is a Wednesday.
    assert add_working_hours(DEMOSHIRE, london(2030, 12, 31, 16, 0), 24) == london(
        2031, 1, 6, 16, 0
    )


def test_a_deadline_in_2031_stops_for_christmas() -> None:
    # Christmas Day and Boxing Day 2031 are Thursday and Friday.
    received = london(2031, 12, 24, 15, 0)
    assert decision_deadline(DEMOSHIRE, 3, received) == london(2031, 12, 31, 15, 0)


def test_a_deadline_decades_ahead_is_computed() -> None:
    # 2050: Christmas on Sunday, so Boxing Day is Monday 26th and Christmas's substitute
    # Tuesday 27th.
    received = london(2050, 12, 23, 15, 0)
    assert decision_deadline(DEMOSHIRE, 3, received) == london(2050, 12, 30, 15, 0)


def test_a_sunday_night_referral_in_a_leap_year_counts_29_february() -> None:
    # 2028: Sunday 27 February; the clock runs Monday 28, Tuesday 29 and Wednesday 1 March.
    assert decision_deadline(DEMOSHIRE, 3, london(2028, 2, 27, 22, 0)) == london(2028, 3, 1, 17, 0)
    # 2032: 29 February itself is a Sunday night; the clock starts Monday 1 March.
    assert decision_deadline(DEMOSHIRE, 3, london(2032, 2, 29, 22, 0)) == london(2032, 3, 3, 17, 0)


def test_a_scottish_and_a_northern_irish_policy_stop_on_their_own_holidays() -> None:
    st_andrews, st_patricks = date(2027, 11, 30), date(2027, 3, 17)
    assert not is_working_day(SCOTTISH, st_andrews)
    assert is_working_day(NORTHERN_IRISH, st_andrews)
    assert not is_working_day(NORTHERN_IRISH, st_patricks)
    assert is_working_day(SCOTTISH, st_patricks)
    assert is_working_day(DEMOSHIRE, st_andrews) and is_working_day(DEMOSHIRE, st_patricks)
