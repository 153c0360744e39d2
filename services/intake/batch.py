"""Bulk intake for school systems: a JSON array of reports, or a CSV file with one flat
row per report. Every row is answered: accepted with its referral id, or rejected
with its field errors. No row is dropped silently.

CSV columns are the report's dotted field paths (`child.address.postcode`), so a
row's field errors name its columns, and each answer carries `file_row`, the row as the
file numbers it (the header is row 1, the first report row 2). `concerns` holds codes
separated by `;`.
`source.kind` and `source.organisation` default to the API key's; `school.urn`
defaults to `source.organisation` when any `school.` column is filled. Empty cells
are absent fields. Boolean columns hold `true` or `false` (any case, as spreadsheets
write TRUE and FALSE); anything else is that column's error. Household members and
police details need the JSON form.

A row whose source the key may not speak for (another kind, another organisation:
see `authority`) is that row's error; a key that may not submit reports at all is
refused whole (403). A JSON body that gives a key twice in one object is refused whole
(400, see `strict_json`).

Cells are stored exactly as given (after trimming), a leading `=`, `+`, `-` or `@`
included: intake never writes them into a spreadsheet, and whatever does must
neutralise them there (`shared.spreadsheet`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from services.intake import strict_json
from services.intake.authority import may_submit, not_a_referrer, source_errors
from services.intake.rules import rule_errors
from shared.auth import Principal
from shared.problems import Problem, field_errors
from shared.report import ConcernReport

# The columns a row cannot do without.
_REQUIRED: tuple[str, ...] = (
    "source.reference",
    "reported_at",
    "child.given_name",
    "child.family_name",
    "child.date_of_birth",
    "child.address.postcode",
    "concerns",
)
REQUIRED_CSV_COLUMNS = frozenset(_REQUIRED)
CSV_COLUMNS: tuple[str, ...] = (
    "source.kind",
    "source.organisation",
    *_REQUIRED,
    "immediate_risk",
    "narrative",
    "school.urn",
    "school.upn",
    "school.dsl.name",
    "school.dsl.role",
    "school.dsl.email",
    "school.dsl.phone",
    "school.attendance_percent",
    "school.exclusions.fixed_term_count",
    "school.exclusions.permanent",
    "school.sen_status",
    "consent.status",
    "consent.lawful_basis",
    "consent.sharing_authorised_by.name",
    "consent.sharing_authorised_by.role",
    "consent.sharing_authorised_by.reason",
    "consent.sharing_authorised_by.decided_at",
)
# The columns that hold a boolean, written `true` or `false` in any case.
BOOLEAN_CSV_COLUMNS = frozenset({"immediate_risk", "school.exclusions.permanent"})
_BOOLEANS = {"true": True, "false": False}


@dataclass
class Rows:
    """A batch split into rows that validated and rows that did not."""

    valid: list[tuple[int, ConcernReport]] = field(default_factory=list)
    invalid: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    # A CSV file: its rows are also numbered as the file numbers them (`file_row`).
    csv: bool = False

    @property
    def count(self) -> int:
        return len(self.valid) + len(self.invalid)

    def file_row(self, index: int) -> int | None:
        """The row as a spreadsheet shows the CSV file: the header is row 1, so the
        first report is row 2. None for a JSON array (its index is the position)."""
        return index + 2 if self.csv else None


def _whole_batch_invalid(message: str, loc: list[str] | None = None) -> Problem:
    location = loc or ["body"]
    return Problem(
        422,
        "The request is not valid",
        message,
        type="validation",
        errors=[
            {
                "loc": location,
                "pointer": "/" + "/".join(location[1:]),
                "field": ".".join(location[1:]),
                "message": message,
                "type": "batch_invalid",
            }
        ],
    )


def _validate_row(
    rows: Rows, index: int, data: object, principal: Principal, csv_row: bool, now: datetime
) -> None:
    broken: list[ErrorDetails]
    try:
        report = ConcernReport.model_validate(data)
        broken = rule_errors(report, now=now)
    except ValidationError as exc:
        broken = list(exc.errors(include_input=False))
    if broken:
        errors = field_errors([{**e, "loc": ("body", index, *e["loc"])} for e in broken])
        if csv_row:
            # A CSV user fixes columns, not JSON paths: concerns.2.code is the concerns cell.
            for error in errors:
                error["field"] = _column_of(error["loc"][2:])
        rows.invalid.append((index, errors))
        return
    wrong_source = source_errors(principal, report, at=(str(index),))
    if wrong_source:
        rows.invalid.append((index, wrong_source))
        return
    rows.valid.append((index, report))


def _column_of(loc: list[str]) -> str:
    for width in range(len(loc), 0, -1):
        candidate = ".".join(loc[:width])
        if candidate in CSV_COLUMNS:
            return candidate
    return ".".join(loc)


def json_rows(body: bytes, principal: Principal, max_rows: int, *, now: datetime) -> Rows:
    """Validate a JSON array of reports, row by row."""
    if not may_submit(principal):
        raise not_a_referrer(principal)
    try:
        data = strict_json.loads(body)
    except strict_json.DuplicateKey as exc:
        raise strict_json.duplicate_key_problem(exc) from None
    except strict_json.LoneSurrogate as exc:
        raise strict_json.lone_surrogate_problem(exc) from None
    except (ValueError, RecursionError) as exc:
        raise _whole_batch_invalid(f"The body is not JSON: {type(exc).__name__}.") from exc
    if not isinstance(data, list):
        raise _whole_batch_invalid("The body must be a JSON array of reports.")
    if not 1 <= len(data) <= max_rows:
        raise _whole_batch_invalid(f"A batch holds 1 to {max_rows} reports.")
    rows = Rows()
    for index, item in enumerate(data):
        _validate_row(rows, index, item, principal, csv_row=False, now=now)
    return rows


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _csv_report(cells: dict[str, str], principal: Principal) -> dict[str, Any]:
    flat: dict[str, Any] = {k: v.strip() for k, v in cells.items() if v is not None and v.strip()}
    for column in BOOLEAN_CSV_COLUMNS & flat.keys():
        # Only true and false are booleans; any other text stays text, and fails
        # validation naming its column.
        flat[column] = _BOOLEANS.get(flat[column].casefold(), flat[column])
    flat.setdefault("source.kind", principal.kind.value)
    flat.setdefault("source.organisation", principal.organisation)
    if any(k.startswith("school.") for k in flat):
        flat.setdefault("school.urn", flat["source.organisation"])
    concerns = flat.pop("concerns", "")
    report = _nest(flat)
    report["concerns"] = [{"code": c.strip()} for c in concerns.split(";") if c.strip()]
    return report


def csv_rows(body: bytes, principal: Principal, max_rows: int, *, now: datetime) -> Rows:
    """Validate a CSV file (header row of CSV_COLUMNS, then one report per row)."""
    if not may_submit(principal):
        raise not_a_referrer(principal)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _whole_batch_invalid("The CSV file must be UTF-8.") from exc
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = [h.strip() for h in (reader.fieldnames or [])]
        unknown = sorted(set(header) - set(CSV_COLUMNS))
        missing = sorted(REQUIRED_CSV_COLUMNS - set(header))
        if unknown or missing:
            parts = []
            if unknown:
                parts.append("unknown column(s): " + ", ".join(unknown))
            if missing:
                parts.append("missing column(s): " + ", ".join(missing))
            raise _whole_batch_invalid("; ".join(parts) + ".")
        if len(header) != len(set(header)):
            raise _whole_batch_invalid("A column appears twice in the header.")
        reader.fieldnames = header
        rows = Rows(csv=True)
        for index, cells in enumerate(reader):
            if index >= max_rows:
                raise _whole_batch_invalid(f"A batch holds 1 to {max_rows} reports.")
            extra = cells.pop(None, None)
            if extra:
                rows.invalid.append(
                    (
                        index,
                        [
                            {
                                "loc": ["body", str(index)],
                                "pointer": f"/{index}",
                                "field": "",
                                "message": "the row has more cells than the header",
                                "type": "csv_row_too_long",
                            }
                        ],
                    )
                )
                continue
            _validate_row(
                rows, index, _csv_report(cells, principal), principal, csv_row=True, now=now
            )
    except csv.Error as exc:
        raise _whole_batch_invalid(f"The CSV file is malformed: {exc}.") from exc
    if rows.count == 0:
        raise _whole_batch_invalid(f"A batch holds 1 to {max_rows} reports.")
    return rows
