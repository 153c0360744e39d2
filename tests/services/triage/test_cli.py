"""`signpost policy check FILE`: OK with the policy's id and version, or each line and
reason of a file that must not be used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import main
from tests.services.triage.helpers import POLICIES, line_containing


def test_policy_check_prints_ok_with_the_id_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(POLICIES / "cwm-demo.json")]) == 0
    assert capsys.readouterr().out.startswith("OK cwm-demo version 2026.10-2")


def test_policy_check_prints_each_line_and_reason_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        (POLICIES / "demoshire.json").read_text().replace('"bullying": 1', '"bullying": 0', 1)
    )
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "policy", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    line = line_containing(bad.read_text(), '"bullying": 0')
    assert f"{bad}:line {line} (weights.child_development.bullying):" in out.stderr
    assert "greater than or equal to 1" in out.stderr
