"""Writing spreadsheets without formula injection: the one place Signpost writes CSV or XLSX.

A value a referrer typed (a reference, a narrative, an agency's name) can begin with
`=`, `+`, `-` or `@`, or with a tab or carriage return; opened in Excel, LibreOffice
or Google Sheets such a cell is run as a formula (OWASP, "CSV Injection"): it can
fetch a URL carrying other cells' contents, or show a misleading value. Every text
cell Signpost writes into a CSV (or, later, an XLSX workbook) goes through
`safe_cell`, which prefixes such a value with a single quote: the spreadsheet shows
the text as typed and never evaluates it. Numbers, booleans and dates are written as
they are (a negative count is a number, not a formula). Stored data is never changed:
only what leaves as a spreadsheet is neutralised.

`tests/test_architecture.py` checks that no other module writes CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

# Where OWASP's guidance and the spreadsheet applications agree a cell becomes active.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str | int | float | bool | date | datetime | None:
    """`value` as a spreadsheet cell that cannot be a formula."""
    if value is None or isinstance(value, bool | int | float | date | datetime):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (RFC 4180, CRLF line ends, every field quoted as needed) whose
    header and every cell went through `safe_cell`."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow(["" if (cell := safe_cell(v)) is None else cell for v in row])
    return out.getvalue()


def write_xlsx(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """An XLSX workbook (openpyxl), one sheet per `(title, header, rows)` in order, every
    cell through `safe_cell`. Each text cell is stored as text, never as a formula
    (openpyxl would make a string starting with `=` one), and the header row is bold and
    frozen so it stays in view."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, header, rows in sheets:
        sheet = book.create_sheet(title=title[:31])  # Excel's longest sheet name
        sheet.append([safe_cell(h) for h in header])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
        for line in sheet.iter_rows():
            for cell in line:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
