"""A school MIS: send the day's safeguarding concerns as a CSV batch, showing progress
and every rejected row by the file's own row number and column; then poll today's
Operation Encompass notices and acknowledge each (the Designated Safeguarding Lead has
read them).

Against `make run` (embedded Signpost on http://127.0.0.1:8000; it prints the demo keys):

    export SIGNPOST_URL=http://127.0.0.1:8000
    export SIGNPOST_KEY=<the "demo school key" make run printed>   # school URN 100001
    .venv/bin/python examples/integrators/school_mis.py [CONCERNS.csv]

Without a CSV path it writes a small one from examples/school-report.json: three
children, the third with a mistyped postcode, to show how a rejected row is reported.
A CSV's columns are the report's dotted field paths (`child.address.postcode`), with
`concerns` holding codes separated by `;` (see POST /v1/reports/batch in /docs).
Notices reach the school when the police report a domestic abuse incident about one of
its pupils: post examples/police-domestic-abuse-report.json with the demo police key
first (examples/integrators/police_rms.py does).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from signpost_client import Notice, SignpostClient, SignpostError

SCHOOL_REPORT = Path(__file__).resolve().parents[1] / "school-report.json"
# Sent a part at a time, so a long file shows progress (the server takes up to 500 rows).
ROWS_PER_REQUEST = 100
# Not yet acknowledged (by webhook or by us): missed is past its deadline, still unread.
UNREAD = frozenset({"pending", "missed"})

Say = Callable[[str], None]


# ------------------------------------------------------------------ the CSV batch


def flattened(report: Mapping[str, Any]) -> dict[str, str]:
    """One report as a CSV row: dotted column names, `concerns` as `code;code`, booleans
    as `true`/`false`. Lists other than `concerns` (household) need the JSON form."""
    row: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}{key}.", item)
        elif isinstance(value, bool):
            row[prefix[:-1]] = "true" if value else "false"
        elif value is not None and not isinstance(value, list):
            row[prefix[:-1]] = str(value)

    walk("", report)
    row["concerns"] = ";".join(concern["code"] for concern in report.get("concerns", []))
    return row


def csv_of(reports: Sequence[Mapping[str, Any]]) -> bytes:
    """The reports as a CSV file with a header naming every column used."""
    rows = [flattened(report) for report in reports]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def demo_csv() -> bytes:
    """A small file from the example school report: three children, the third with a
    mistyped postcode."""
    example = json.loads(SCHOOL_REPORT.read_text(encoding="utf-8"))
    children = [("Leo", "Sample", "EX4 6PX"), ("Ava", "Sample", "EX4 6PX"), ("Kai", "Demo", "EX4")]
    reports = []
    for number, (given, family, postcode) in enumerate(children, start=1):
        report = json.loads(json.dumps(example))
        report["source"]["reference"] = f"{example['source']['reference']}-{number}"
        report["child"].update(given_name=given, family_name=family)
        report["child"]["address"]["postcode"] = postcode
        reports.append(report)
    return csv_of(reports)


def parts(data: bytes, rows_per_part: int) -> Iterator[tuple[int, int, bytes]]:
    """The file in parts of at most `rows_per_part` rows, each with the header: (rows
    before it, rows in it, the part as CSV). Quoted cells may hold line breaks: rows are
    counted as records, as the server (and a spreadsheet) numbers them."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    header = next(reader)
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    for start in range(0, len(rows), rows_per_part):
        chunk = rows[start : start + rows_per_part]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(chunk)
        yield start, len(chunk), out.getvalue().encode("utf-8")


@dataclass
class Rejection:
    """A rejected row, numbered as the whole file numbers it (the header is row 1)."""

    file_row: int
    field: str
    message: str


@dataclass
class Sent:
    """What the batch came to."""

    rows: int = 0
    accepted: list[str] = field(default_factory=list)  # referral ids
    rejected: list[Rejection] = field(default_factory=list)


def send_csv(
    client: SignpostClient,
    data: bytes,
    *,
    rows_per_request: int = ROWS_PER_REQUEST,
    say: Say = print,
) -> Sent:
    """Send the file part by part, saying progress after each and every rejected row by
    its `file_row` in the whole file and its column. Each part has an Idempotency-Key
    from its content, so re-running after a failure replays the parts already sent."""
    total = sum(count for _, count, _ in parts(data, rows_per_request))
    sent = Sent()
    for before, count, part in parts(data, rows_per_request):
        key = "mis-" + hashlib.sha256(part).hexdigest()[:32]
        result = client.submit_batch_csv(part, idempotency_key=key)
        sent.rows += result.rows
        sent.accepted += [row.referral_id for row in result.accepted]
        for row in result.errors:
            # The part's own numbering, moved to the whole file's.
            file_row = (row.file_row if row.file_row is not None else row.row + 2) + before
            for error in row.errors:
                sent.rejected.append(Rejection(file_row, error.field, error.message))
        say(
            f"rows {before + 1}-{before + count} of {total} sent: "
            f"{len(result.accepted)} accepted, {len(result.errors)} rejected"
        )
    for rejection in sent.rejected:
        say(f"  row {rejection.file_row}, {rejection.field}: {rejection.message}")
    say(f"{len(sent.accepted)} of {sent.rows} rows accepted")
    return sent


# ------------------------------------------------------------------ Operation Encompass


def acknowledge_todays_notices(
    client: SignpostClient, *, today: date, say: Say = print
) -> list[Notice]:
    """Acknowledge every Operation Encompass notice received `today` (UTC) that nobody
    has acknowledged yet; the acknowledged notices."""
    done: list[Notice] = []
    for notice in client.notices(limit=500):
        if notice.received_at.astimezone(UTC).date() != today or notice.status not in UNREAD:
            continue
        acknowledged = client.acknowledge_notice(notice.notice_id)
        say(
            f"notice {notice.notice_id} (referral {notice.referral_id}, due "
            f"{notice.notify_by:%Y-%m-%d %H:%M}): {acknowledged.status}"
        )
        done.append(acknowledged)
    say(f"{len(done)} notice(s) acknowledged")
    return done


def main(argv: list[str]) -> int:
    data = Path(argv[1]).read_bytes() if len(argv) > 1 else demo_csv()
    with SignpostClient(os.environ["SIGNPOST_URL"], os.environ["SIGNPOST_KEY"]) as signpost:
        try:
            send_csv(signpost, data)
            # The wall clock, deliberately: the MIS asks for today's notices.
            acknowledge_todays_notices(signpost, today=datetime.now(UTC).date())  # noqa: TID251
        except SignpostError as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
