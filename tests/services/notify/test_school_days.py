"""The Operation Encompass deadline: the start of the next school day after the incident,
across weekends, half terms, holidays, bank holidays, a school's own training day and
start time, and the clock change; past the term dates, the next weekday that is not a
bank holiday; the operators' warning a year before the term dates end; and the calendar
file's validation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from services.notify.school_days import (
    DEFAULT_CALENDAR_PATH,
    SchoolCalendarError,
    calendar_warnings,
    load_calendar,
    notify_by,
    parse_calendar,
)

CALENDAR = load_calendar(None)  # the Demoshire example: 08:30, Monday to Friday


def deadline(incident: str, school_urn: str | None = None) -> str:
    """The deadline for an incident (local wall-clock time in, UTC ISO time out)."""
    at = datetime.fromisoformat(incident)
    return notify_by(CALENDAR, school_urn, at).at.isoformat()


@pytest.mark.parametrize(
    ("incident", "expected", "why"),
    [
        ("2026-11-24T19:00:00+00:00", "2026-11-25T08:30:00+00:00", "a weekday evening"),
        ("2026-11-25T06:45:00+00:00", "2026-11-25T08:30:00+00:00", "early morning: today"),
        ("2026-11-25T08:30:00+00:00", "2026-11-26T08:30:00+00:00", "at the bell: tomorrow"),
        ("2026-11-25T11:00:00+00:00", "2026-11-26T08:30:00+00:00", "during the school day"),
        ("2026-11-27T23:05:00+00:00", "2026-11-30T08:30:00+00:00", "Friday night: Monday"),
        ("2026-11-28T14:00:00+00:00", "2026-11-30T08:30:00+00:00", "Saturday: Monday"),
        ("2026-11-29T23:59:00+00:00", "2026-11-30T08:30:00+00:00", "Sunday night: Monday"),
    ],
)
def test_the_deadline_is_the_start_of_the_next_school_day(
    incident: str, expected: str, why: str
) -> None:
    assert deadline(incident) == expected, why


def test_over_half_term_the_deadline_is_the_first_day_back() -> None:
    # Autumn half term 2026 is 26-30 October; the clocks went back on the 25th (GMT).
    assert deadline("2026-10-23T20:00:00+01:00") == "2026-11-02T08:30:00+00:00"
    assert deadline("2026-10-28T10:00:00+00:00") == "2026-11-02T08:30:00+00:00"


def test_over_the_christmas_holiday_the_deadline_is_the_first_day_of_spring_term() -> None:
    assert deadline("2026-12-18T21:00:00+00:00") == "2027-01-05T08:30:00+00:00"
    assert deadline("2026-12-25T12:00:00+00:00") == "2027-01-05T08:30:00+00:00"


def test_over_the_summer_holiday_the_deadline_is_september() -> None:
    assert deadline("2027-07-21T18:00:00+01:00") == "2027-09-02T07:30:00+00:00"  # 08:30 BST


def test_a_term_time_bank_holiday_is_not_a_school_day() -> None:
    # Friday 30 April 2027; Monday 3 May is the Early May bank holiday.
    assert deadline("2027-04-30T22:00:00+01:00") == "2027-05-04T07:30:00+00:00"


def test_british_summer_time_moves_the_deadline_in_utc_not_in_local_time() -> None:
    # Easter term 2027 starts 12 April (BST): 08:30 local is 07:30 UTC.
    assert deadline("2027-04-11T20:00:00+01:00") == "2027-04-12T07:30:00+00:00"


def test_a_school_keeps_its_own_start_time_and_training_days() -> None:
    # Demo Primary (100001) starts at 08:45 and has a training day on 5 January 2027.
    assert deadline("2026-11-24T19:00:00+00:00", "100001") == "2026-11-25T08:45:00+00:00"
    assert deadline("2027-01-04T20:00:00+00:00", "100001") == "2027-01-06T08:45:00+00:00"
    # Another school is open on the 5th.
    assert deadline("2027-01-04T20:00:00+00:00", "100002") == "2027-01-05T08:30:00+00:00"


def test_a_school_with_its_own_terms_follows_them_not_the_areas() -> None:
    raw = _raw()
    raw["schools"]["100077"] = {
        # An academy back on 1 September 2026, two days before the area's schools, with
        # its own half term a week later than the area's.
        "terms": [{"from": "2026-09-01", "to": "2026-12-18"}],
        "closures": [{"from": "2026-11-02", "to": "2026-11-06", "name": "Half term"}],
    }
    calendar = parse_calendar(json.dumps(raw))
    summer = datetime(2026, 8, 28, 20, tzinfo=UTC)
    assert notify_by(calendar, "100077", summer).at.isoformat() == "2026-09-01T07:30:00+00:00"
    assert notify_by(calendar, None, summer).at.isoformat() == "2026-09-03T07:30:00+00:00"
    # The area's half term (26-30 October) is a school week for it; its own is not.
    october = datetime(2026, 10, 23, 20, tzinfo=UTC)
    assert notify_by(calendar, "100077", october).at.isoformat() == "2026-10-26T08:30:00+00:00"
    halfterm = datetime(2026, 10, 30, 20, tzinfo=UTC)
    assert notify_by(calendar, "100077", halfterm).at.isoformat() == "2026-11-09T08:30:00+00:00"
    # Past its own terms the safe fallback applies, as for the area.
    later = notify_by(calendar, "100077", datetime(2026, 12, 18, 20, tzinfo=UTC))
    assert later.calendar_covered is False


def test_past_the_term_dates_a_school_day_is_a_weekday_that_is_not_a_bank_holiday() -> None:
    # The Demoshire terms end on Friday 21 July 2028; the next Monday is no bank holiday.
    found = notify_by(CALENDAR, None, datetime(2028, 7, 21, 20, 0, tzinfo=UTC))
    assert found.at.isoformat() == "2028-07-24T07:30:00+00:00"
    assert found.calendar_covered is False
    assert notify_by(CALENDAR, None, datetime(2026, 11, 27, 20, tzinfo=UTC)).calendar_covered
    # Monday 28 August 2028 is the summer bank holiday: Tuesday (08:30 BST).
    assert deadline("2028-08-25T20:00:00+01:00") == "2028-08-29T07:30:00+00:00"
    # Christmas Day and Boxing Day 2028 are Monday and Tuesday: Wednesday.
    assert deadline("2028-12-22T20:00:00+00:00") == "2028-12-27T08:30:00+00:00"


def test_past_the_term_dates_the_deadline_has_an_answer_decades_ahead() -> None:
    # 2040: New Year's Day is a Sunday, so Monday 2 January is its substitute.
    found = notify_by(CALENDAR, None, datetime(2039, 12, 30, 20, tzinfo=UTC))
    assert found.at.isoformat() == "2040-01-03T08:30:00+00:00"
    assert found.calendar_covered is False


def test_past_the_term_dates_a_calendar_follows_its_own_divisions_bank_holidays() -> None:
    scottish = parse_calendar(json.dumps(_raw(division="scotland")))
    friday = datetime(2028, 8, 4, 20, tzinfo=UTC)
    # Scotland's summer bank holiday is the first Monday in August (7 August 2028).
    assert notify_by(scottish, None, friday).at.isoformat() == "2028-08-08T07:30:00+00:00"
    assert notify_by(CALENDAR, None, friday).at.isoformat() == "2028-08-07T07:30:00+00:00"
    assert CALENDAR.division == "england-and-wales"  # the default, for files without one


def test_the_warning_fires_365_days_before_the_term_dates_end_and_not_366() -> None:
    assert CALENDAR.data_ends == date(2028, 7, 21)
    assert calendar_warnings(CALENDAR, datetime(2027, 7, 21, 12, tzinfo=UTC)) == []  # 366 days
    [warning] = calendar_warnings(CALENDAR, datetime(2027, 7, 22, 12, tzinfo=UTC))  # 365 days
    assert "demoshire-schools version 2026-1: the area's terms end on 2028-07-21" in warning
    assert "365 days from now" in warning and "england-and-wales bank holiday" in warning


def test_the_warning_counts_days_in_the_calendars_time_zone() -> None:
    # 23:30 UTC on 21 July 2027 is 00:30 on the 22nd in London (BST): 365 days left.
    assert calendar_warnings(CALENDAR, datetime(2027, 7, 21, 23, 30, tzinfo=UTC))


def test_the_warning_says_when_the_term_dates_have_already_ended() -> None:
    [warning] = calendar_warnings(CALENDAR, datetime(2028, 9, 1, 12, tzinfo=UTC))
    assert "the area's terms ended on 2028-07-21" in warning


def test_a_school_whose_own_terms_end_first_is_named_in_the_warning() -> None:
    raw = _raw()
    raw["schools"]["100077"] = {"terms": [{"from": "2026-09-01", "to": "2027-07-16"}]}
    calendar = parse_calendar(json.dumps(raw))
    assert calendar.data_ends == date(2027, 7, 16)
    [warning] = calendar_warnings(calendar, datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert "school 100077's own terms end on 2027-07-16, 233 days from now" in warning
    assert calendar_warnings(CALENDAR, datetime(2026, 11, 25, 12, tzinfo=UTC)) == []


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(DEFAULT_CALENDAR_PATH.read_text())
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"timezone": "Europe/Nowhere"}, "unknown time zone"),
        ({"division": "wales"}, "division"),
        ({"school_days": []}, "school_days"),
        ({"day_starts_at": "25:00"}, "day_starts_at"),
        (
            {
                "terms": [
                    {"from": "2026-09-03", "to": "2026-12-18"},
                    {"from": "2026-12-01", "to": "2027-03-25"},
                ]
            },
            "overlaps",
        ),
        ({"terms": [{"from": "2026-12-18", "to": "2026-09-03"}]}, "before 'from'"),
        (
            {"terms": [{"from": "2026-09-03", "to": "2026-12-18"}]},
            "outside the terms",
        ),  # the shipped closures run to 2028
        ({"schools": {"12345": {}}}, "schools.12345"),
        ({"home_educated": None}, "home_educated"),
        ({"holidays": []}, "holidays"),
    ],
)
def test_a_bad_calendar_is_refused_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(SchoolCalendarError, match=reason):
        parse_calendar(json.dumps(_raw(**changes)), source="area.json")


def test_a_calendar_that_is_not_json_names_the_file_and_line() -> None:
    with pytest.raises(SchoolCalendarError, match=r"area\.json: not JSON.*line 1"):
        parse_calendar("{", source="area.json")


def test_signpost_calendar_check_passes_the_shipped_calendar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["calendar", "check", str(DEFAULT_CALENDAR_PATH)]) == 0
    assert "OK demoshire-schools" in capsys.readouterr().out


def test_signpost_calendar_check_lists_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "area.json"
    bad.write_text(json.dumps(_raw(timezone="Mars/Olympus", school_days=[])))
    assert main(["calendar", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "school_days" in err and str(bad) in err
    assert main(["calendar", "check", str(tmp_path / "missing.json")]) == 2
