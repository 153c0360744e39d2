"""The shape every service answers its share of the measures in: the period a request
asks for (UK dates, a 422 naming a bad one), the statistics (nearest-rank quantiles,
shares of none), small-number suppression on anything that leaves the partnership, and
a catalogue that says the same as docs/measures.md."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError

from shared.measures import (
    CATALOGUE,
    MAX_PERIOD_DAYS,
    Filters,
    count,
    filters_of,
    nearest_rank,
    period_of,
    published,
    share,
    spread,
    suppressed,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "measures.md"


def named(refused: pytest.ExceptionInfo[RequestValidationError]) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in refused.value.errors()]


def test_a_period_runs_from_uk_midnight_to_uk_midnight_in_utc() -> None:
    summer = period_of("2026-06-01", "2026-07-01")  # British Summer Time: UTC+1
    winter = period_of("2026-12-01", "2027-01-01")

    assert summer.start_at == datetime(2026, 5, 31, 23, 0, tzinfo=UTC)
    assert summer.end_at == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert winter.start_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert summer.holds(datetime(2026, 5, 31, 23, 0, tzinfo=UTC))
    assert not summer.holds(summer.end_at)
    assert (summer.first, summer.end) == (date(2026, 6, 1), date(2026, 7, 1))


@pytest.mark.parametrize(
    ("first", "end", "field"),
    [
        ("June", "2026-07-01", "query.from"),
        ("2026-06-01", "2026-06-31", "query.to"),
        ("2026-06-01", "2026-06-01", "query.to"),  # empty
        ("2026-07-01", "2026-06-01", "query.to"),  # reversed
        ("2020-01-01", "2026-01-01", "query.to"),  # longer than five years
    ],
)
def test_a_period_that_is_not_one_is_a_422_naming_the_parameter(
    first: str, end: str, field: str
) -> None:
    with pytest.raises(RequestValidationError) as refused:
        period_of(first, end)
    assert named(refused) == [field]


def test_five_years_is_the_longest_period() -> None:
    assert period_of("2021-01-01", "2025-12-31").end == date(2025, 12, 31)
    assert MAX_PERIOD_DAYS >= 5 * 365


def test_filters_take_a_gss_code_and_a_source_kind_and_name_what_is_not_one() -> None:
    assert filters_of(" e06099001 ", "School") == Filters(area="E06099001", source="school")
    assert filters_of(None, "") == Filters()
    for area, source, name in (
        ("EX1", None, "area"),
        ("E0609900", None, "area"),
        (None, "gp", "source"),
    ):
        with pytest.raises(RequestValidationError) as refused:
            filters_of(area, source)
        assert named(refused) == [f"query.{name}"]


def test_a_view_names_the_measures_a_filter_asked_for_did_not_narrow() -> None:
    period = period_of("2026-11-01", "2026-12-01")
    rows = [count("a", 1), count("a", 2, source="police"), count("b", 3), count("c", 4)]

    both = Filters(area="E06099001", source="police").view(
        "routing", period, rows, area=("a", "b"), source=("a", "c")
    )
    source_only = Filters(source="police").view("routing", period, rows, source=("a", "c"))
    none = Filters().view("routing", period, rows)

    assert both.unfiltered == ["b", "c"]
    assert source_only.unfiltered == ["b"]
    assert none.unfiltered == []
    assert (both.area, both.source, both.rows) == ("E06099001", "police", rows)


def test_quantiles_are_nearest_rank_and_none_of_nothing() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 8.0, 7.0, 9.0]

    assert nearest_rank(values, 0.5) == 5.0
    assert nearest_rank(values, 0.9) == 9.0
    assert nearest_rank([7.0], 0.9) == 7.0
    assert nearest_rank([], 0.5) is None
    median, p90 = spread("time_to_decision", values, "working_hours", rag="red")
    assert (median.statistic, median.value, p90.statistic, p90.value) == ("median", 5.0, "p90", 9.0)
    assert median.breakdown == {"rag": "red"} and median.unit == "working_hours"


def test_a_share_is_a_percentage_to_one_place_with_its_parts_and_none_of_none() -> None:
    third = share("outcome_of_contact", 1, 3, outcome="MASH")

    assert (third.value, third.part, third.of, third.unit) == (33.3, 1, 3, "percent")
    assert share("outcome_of_contact", 0, 0).value is None


@pytest.mark.parametrize(
    ("value", "shown"), [(0, 0), (1, "<5"), (4, "<5"), (5, 5), (120, 120), (None, None)]
)
def test_counts_from_one_to_four_leave_the_partnership_as_under_five(
    value: int | None, shown: object
) -> None:
    assert suppressed(value) == shown


def test_a_share_of_a_suppressed_count_is_suppressed_too() -> None:
    rows = [
        count("contacts_by_source", 3, source="other"),
        share("contacts_by_source", 3, 40, source="other"),  # 7.5% of 40 gives 3 away
        share("contacts_by_source", 37, 40, source="police"),
        share("contacts_by_source", 2, 2, source="school"),  # and so does 100% of 2
        count("contacts_by_source", 0, source="none"),
    ]

    shown = [row["value"] for row in published(rows)]

    assert shown == ["<5", "<5", 92.5, "<5", 0]
    assert all("part" not in row and "of" not in row for row in published(rows))


def measures_section() -> str:
    """docs/measures.md's table of measures (not the vocabularies after it)."""
    text = DOCS.read_text()
    return text.split("## The measures", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def test_the_catalogue_says_what_docs_measures_md_says() -> None:
    table = {
        match[0]: match[1]
        for match in re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+?) \|", measures_section(), re.M)
    }
    for measure, definition in CATALOGUE.items():
        assert table.get(measure) == definition.name, measure
    # Every measure the docs define is one the services compute, and none is left out.
    assert set(table) == set(CATALOGUE)
