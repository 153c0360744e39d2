"""UK bank holidays by rule for the three divisions: the dates gov.uk published, the
table triage shipped before, the announced one-off changes, and years with no end."""

from __future__ import annotations

import json
from datetime import date

import pytest

from shared.bank_holidays import (
    CHANGES_FILE,
    DIVISIONS,
    BankHolidayChanges,
    Division,
    bank_holidays,
    changes,
    easter_sunday,
    is_bank_holiday,
)
from shared.datafiles import DataFileError, parse_data_file


def days(year: int, month_days: str) -> frozenset[date]:
    """Dates from "MM-DD MM-DD ..." in one year."""
    return frozenset(date.fromisoformat(f"{year}-{md}") for md in month_days.split())


# The dates on gov.uk/bank-holidays.json, division by division: every substitute day and
# one-off change (2012 Diamond Jubilee, 2020 VE Day, 2022 Platinum Jubilee and State
# Funeral, 2023 Coronation, Scotland's 2026 World Cup holiday) included.
PUBLISHED: dict[Division, dict[int, str]] = {
    "england-and-wales": {
        2012: "01-02 04-06 04-09 05-07 06-04 06-05 08-27 12-25 12-26",
        2019: "01-01 04-19 04-22 05-06 05-27 08-26 12-25 12-26",
        2020: "01-01 04-10 04-13 05-08 05-25 08-31 12-25 12-28",
        2021: "01-01 04-02 04-05 05-03 05-31 08-30 12-27 12-28",
        2022: "01-03 04-15 04-18 05-02 06-02 06-03 08-29 09-19 12-26 12-27",
        2023: "01-02 04-07 04-10 05-01 05-08 05-29 08-28 12-25 12-26",
        2024: "01-01 03-29 04-01 05-06 05-27 08-26 12-25 12-26",
        2026: "01-01 04-03 04-06 05-04 05-25 08-31 12-25 12-28",
        2028: "01-03 04-14 04-17 05-01 05-29 08-28 12-25 12-26",
    },
    "scotland": {
        2012: "01-02 01-03 04-06 05-07 06-04 06-05 08-06 11-30 12-25 12-26",
        2019: "01-01 01-02 04-19 05-06 05-27 08-05 12-02 12-25 12-26",
        2020: "01-01 01-02 04-10 05-08 05-25 08-03 11-30 12-25 12-28",
        2021: "01-01 01-04 04-02 05-03 05-31 08-02 11-30 12-27 12-28",
        2022: "01-03 01-04 04-15 05-02 06-02 06-03 08-01 09-19 11-30 12-26 12-27",
        2023: "01-02 01-03 04-07 05-01 05-08 05-29 08-07 11-30 12-25 12-26",
        2024: "01-01 01-02 03-29 05-06 05-27 08-05 12-02 12-25 12-26",
        2025: "01-01 01-02 04-18 05-05 05-26 08-04 12-01 12-25 12-26",
        2026: "01-01 01-02 04-03 05-04 05-25 06-15 08-03 11-30 12-25 12-28",
        2027: "01-01 01-04 03-26 05-03 05-31 08-02 11-30 12-27 12-28",
        2028: "01-03 01-04 04-14 05-01 05-29 08-07 11-30 12-25 12-26",
    },
    "northern-ireland": {
        2012: "01-02 03-19 04-06 04-09 05-07 06-04 06-05 07-12 08-27 12-25 12-26",
        2019: "01-01 03-18 04-19 04-22 05-06 05-27 07-12 08-26 12-25 12-26",
        2020: "01-01 03-17 04-10 04-13 05-08 05-25 07-13 08-31 12-25 12-28",
        2022: "01-03 03-17 04-15 04-18 05-02 06-02 06-03 07-12 08-29 09-19 12-26 12-27",
        2023: "01-02 03-17 04-07 04-10 05-01 05-08 05-29 07-12 08-28 12-25 12-26",
        2024: "01-01 03-18 03-29 04-01 05-06 05-27 07-12 08-26 12-25 12-26",
        2025: "01-01 03-17 04-18 04-21 05-05 05-26 07-14 08-25 12-25 12-26",
        2026: "01-01 03-17 04-03 04-06 05-04 05-25 07-13 08-31 12-25 12-28",
        2027: "01-01 03-17 03-26 03-29 05-03 05-31 07-12 08-30 12-27 12-28",
    },
}
PUBLISHED_ROWS = [
    (division, year, dates)
    for division, years in PUBLISHED.items()
    for year, dates in years.items()
]


@pytest.mark.parametrize(
    ("division", "year", "published"),
    PUBLISHED_ROWS,
    ids=[f"{d}-{y}" for d, y, _ in PUBLISHED_ROWS],
)
def test_the_rules_and_changes_give_exactly_the_published_dates(
    division: Division, year: int, published: str
) -> None:
    assert bank_holidays(division, year) == days(year, published)


# Every date of the table triage shipped until the rules replaced it
# (services/triage/calendars/england-and-wales.json, 2025-2030), as it was.
SHIPPED_TABLE = [
    "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25",
    "2025-12-25", "2025-12-26", "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04",
    "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28", "2027-01-01", "2027-03-26",
    "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-27", "2027-12-28",
    "2028-01-03", "2028-04-14", "2028-04-17", "2028-05-01", "2028-05-29", "2028-08-28",
    "2028-12-25", "2028-12-26", "2029-01-01", "2029-03-30", "2029-04-02", "2029-05-07",
    "2029-05-28", "2029-08-27", "2029-12-25", "2029-12-26", "2030-01-01", "2030-04-19",
    "2030-04-22", "2030-05-06", "2030-05-27", "2030-08-26", "2030-12-25", "2030-12-26",
]  # fmt: skip


def test_the_rules_reproduce_the_shipped_table_so_no_past_decision_changes() -> None:
    computed = frozenset().union(
        *(bank_holidays("england-and-wales", year) for year in range(2025, 2031))
    )
    assert computed == frozenset(date.fromisoformat(d) for d in SHIPPED_TABLE)


# Years no published list reaches: the rules answer them all.
FAR_AHEAD: list[tuple[Division, int, str]] = [
    ("england-and-wales", 2031, "01-01 04-11 04-14 05-05 05-26 08-25 12-25 12-26"),
    ("scotland", 2031, "01-01 01-02 04-11 05-05 05-26 08-04 12-01 12-25 12-26"),
    ("northern-ireland", 2031, "01-01 03-17 04-11 04-14 05-05 05-26 07-14 08-25 12-25 12-26"),
    ("england-and-wales", 2040, "01-02 03-30 04-02 05-07 05-28 08-27 12-25 12-26"),
    ("scotland", 2040, "01-02 01-03 03-30 05-07 05-28 08-06 11-30 12-25 12-26"),
    ("northern-ireland", 2040, "01-02 03-19 03-30 04-02 05-07 05-28 07-12 08-27 12-25 12-26"),
    ("england-and-wales", 2050, "01-03 04-08 04-11 05-02 05-30 08-29 12-26 12-27"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("division", "year", "expected"), FAR_AHEAD, ids=[f"{d}-{y}" for d, y, _ in FAR_AHEAD]
)
def test_years_far_ahead_have_holidays_too(division: Division, year: int, expected: str) -> None:
    assert bank_holidays(division, year) == days(year, expected)


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2000, date(2000, 4, 23)), (2008, date(2008, 3, 23)), (2011, date(2011, 4, 24)),
     (2038, date(2038, 4, 25)), (2285, date(2285, 3, 22)), (2031, date(2031, 4, 13))],
)  # fmt: skip
def test_easter_sunday_by_the_anonymous_gregorian_algorithm(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


def test_a_weekend_christmas_and_boxing_day_take_the_monday_and_tuesday() -> None:
    # 2032: Christmas on Saturday; 2033: on Sunday (Boxing Day is the Monday itself).
    for division in DIVISIONS:
        assert {date(2032, 12, 27), date(2032, 12, 28)} <= bank_holidays(division, 2032)
        assert {date(2033, 12, 26), date(2033, 12, 27)} <= bank_holidays(division, 2033)
        assert date(2033, 12, 25) not in bank_holidays(division, 2033)


def test_scotlands_new_year_pair_at_a_weekend_takes_the_next_free_weekdays() -> None:
    # 2033: 1 January Saturday, 2 January Sunday; 2034: Sunday and Monday.
    assert {date(2033, 1, 3), date(2033, 1, 4)} <= bank_holidays("scotland", 2033)
    assert {date(2034, 1, 2), date(2034, 1, 3)} <= bank_holidays("scotland", 2034)
    assert date(2033, 1, 4) not in bank_holidays("england-and-wales", 2033)


def test_each_division_keeps_its_own_holidays() -> None:
    assert is_bank_holiday("scotland", date(2027, 11, 30))  # St Andrew's Day
    assert not is_bank_holiday("england-and-wales", date(2027, 11, 30))
    assert is_bank_holiday("scotland", date(2027, 8, 2))  # first Monday in August
    assert not is_bank_holiday("scotland", date(2027, 8, 30))
    assert not is_bank_holiday("scotland", date(2027, 3, 29))  # no Easter Monday
    assert is_bank_holiday("northern-ireland", date(2027, 3, 17))  # St Patrick's Day
    assert is_bank_holiday("northern-ireland", date(2029, 3, 19))  # its Saturday substitute
    assert is_bank_holiday("northern-ireland", date(2031, 7, 14))  # Boyne, Saturday 12th
    assert not is_bank_holiday("england-and-wales", date(2031, 7, 14))


def test_an_unknown_division_is_refused() -> None:
    with pytest.raises(ValueError, match="not a bank holiday division"):
        bank_holidays("wales", 2027)  # type: ignore[arg-type]


def test_every_shipped_change_has_a_reason_and_one_offs_apply_only_where_announced() -> None:
    shipped = changes()
    assert shipped and all(change.reason for change in shipped)
    world_cup = date(2026, 6, 15)
    assert is_bank_holiday("scotland", world_cup)
    assert not is_bank_holiday("england-and-wales", world_cup)
    assert not is_bank_holiday("northern-ireland", world_cup)
    # The moved spring holiday of 2022 is gone everywhere.
    assert all(not is_bank_holiday(division, date(2022, 5, 30)) for division in DIVISIONS)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"removed": "2027-05-04", "added": None}, "is not a scotland bank holiday"),
        ({"removed": None, "added": "2027-05-08"}, "is at a weekend"),
        ({"removed": None, "added": None}, "removes a day, adds one, or both"),
    ],
)
def test_a_change_that_does_not_fit_the_rules_is_refused(
    change: dict[str, str | None], reason: str
) -> None:
    text = json.dumps(
        {
            "description": "test",
            "changes": [{"divisions": ["scotland"], "reason": "a test", **change}],
        }
    )
    with pytest.raises(DataFileError, match=reason):
        parse_data_file(BankHolidayChanges, text, source=CHANGES_FILE)
