"""`signpost access check FILE`: the report-access policy a partnership owns."""

from __future__ import annotations

import json
from pathlib import Path

from services.cli import main
from services.intake.access import DEFAULT_POLICY_PATH


def test_access_check_prints_ok_with_the_fields_each_kind_may_read(capsys) -> None:
    assert main(["access", "check", str(DEFAULT_POLICY_PATH)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK demoshire-report-access version")
    assert "agency" in out and "hub" in out


def test_access_check_names_each_unknown_field_and_fails(tmp_path: Path, capsys) -> None:
    policy = json.loads(DEFAULT_POLICY_PATH.read_text())
    policy["kinds"]["agency"].append("child.shoe_size")
    bad = tmp_path / "access.json"
    bad.write_text(json.dumps(policy))
    assert main(["access", "check", str(bad)]) == 1
    assert "'child.shoe_size' is not a field of the v1 report" in capsys.readouterr().err


def test_access_check_of_a_missing_file_says_so(tmp_path: Path, capsys) -> None:
    assert main(["access", "check", str(tmp_path / "none.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
