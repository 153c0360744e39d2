"""Decision deadlines in working hours, across weekends, bank holidays of England and
Wales, an area's own closure days and the clock change; red runs round the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.triage.deadlines import (
    CalendarNotCovered,
    add_working_hours,
    decision_deadline,
    is_working_day,
)
from services.triage.policy import bank_holidays
from tests.services.triage.helpers import CWM, DEMOSHIRE

LONDON = ZoneInfo("Europe/London")


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
]


@pytest.mark.parametrize(
    ("case", "policy", "level", "received", "due"), TABLE, ids=[row[0] for row in TABLE]
)
def test_decision_deadline(case, policy, level, received, due) -> None:
    assert decision_deadline(policy, level, received) == due


def test_universal_has_no_decision_clock() -> None:
    assert decision_deadline(DEMOSHIRE, 1, london(2026, 11, 10, 10, 0)) is None


def test_england_and_wales_share_bank_holidays_but_areas_close_on_their_own_days() -> None:
    holidays, _, _ = bank_holidays("england-and-wales")
    assert date(2026, 12, 28) in holidays  # Boxing Day (substitute day)
    assert date(2026, 3, 2) not in holidays  # St David's Day is not a bank holiday
    assert is_working_day(DEMOSHIRE, date(2026, 12, 29))
    assert not is_working_day(CWM, date(2026, 12, 29))
    assert not is_working_day(DEMOSHIRE, date(2027, 3, 26))  # Good Friday 2027


def test_a_deadline_beyond_the_shipped_calendar_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarNotCovered):
        add_working_hours(DEMOSHIRE, london(2030, 12, 31, 16, 0), 24)
