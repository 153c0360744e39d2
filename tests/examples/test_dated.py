"""`examples/dated.py` moves an example report to now, keeping its times' distances, so
the README's Operation Encompass example is never already late."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from examples.dated import main, parse
from tests.infra import ROOT

EXAMPLE = ROOT / "examples" / "police-domestic-abuse-report.json"
NOW = datetime(2027, 3, 4, 10, 30, tzinfo=UTC)


def test_the_report_is_made_now_and_the_incident_keeps_its_distance_before_it() -> None:
    original = json.loads(EXAMPLE.read_text())
    dated = json.loads(main(str(EXAMPLE), NOW))
    assert parse(dated["reported_at"]) == NOW
    before = parse(original["reported_at"]) - parse(original["police"]["occurred_at"])
    assert NOW - parse(dated["police"]["occurred_at"]) == before > timedelta(0)


def test_only_the_times_move_dates_of_birth_and_everything_else_stay() -> None:
    original = json.loads(EXAMPLE.read_text())
    dated = json.loads(main(str(EXAMPLE), NOW))

    def without_times(value: object) -> object:
        if isinstance(value, dict):
            return {k: without_times(v) for k, v in value.items() if not k.endswith("_at")}
        if isinstance(value, list):
            return [without_times(v) for v in value]
        return value

    assert without_times(dated) == without_times(original)
    assert dated["child"]["date_of_birth"] == original["child"]["date_of_birth"]


def test_run_as_the_readme_runs_it_prints_a_report_dated_today() -> None:
    done = subprocess.run(
        [sys.executable, "examples/dated.py", str(EXAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    # The script reads the wall clock (it stands in for a police system posting now).
    reported = parse(json.loads(done.stdout)["reported_at"])
    assert abs(reported - datetime.now(UTC)) < timedelta(minutes=5)
