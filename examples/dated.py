"""Print an example report with its times moved to now: `reported_at` becomes the
current time and every other `*_at` time keeps its distance from it (the incident an
hour before, say). Dates of birth are left alone. Use it to post an example whose
deadlines run from today:

    python3 examples/dated.py examples/police-domestic-abuse-report.json |
      curl -s -X POST localhost:8000/v1/reports -H "Authorization: Bearer $KEY" \\
           -H 'Content-Type: application/json' --data @-
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def moved(value: Any, shift: timedelta) -> Any:
    """Every `*_at` timestamp in the document, `shift` later."""
    if isinstance(value, dict):
        return {
            key: (
                (parse(item) + shift).strftime("%Y-%m-%dT%H:%M:%SZ")
                if key.endswith("_at") and isinstance(item, str)
                else moved(item, shift)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [moved(item, shift) for item in value]
    return value


def main(path: str, now: datetime) -> str:
    with open(path, encoding="utf-8") as file:
        report = json.load(file)
    shift = now.replace(microsecond=0) - parse(report["reported_at"])
    return json.dumps(moved(report, shift), indent=2, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 examples/dated.py EXAMPLE.json")
    # The wall clock, deliberately: this script stands in for a police system posting now.
    print(main(sys.argv[1], datetime.now(UTC)))  # noqa: TID251
