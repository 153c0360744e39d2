"""`signpost policy check FILE`: OK with the policy's id and version, or each line and
reason of a file that must not be used: invalid, or unsound against the guidance."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.cli import main
from tests.services.triage.fixtures.unsound import UNSOUND, Raw, unsound
from tests.services.triage.helpers import POLICIES, line_containing

SHIPPED = sorted(POLICIES.glob("*.json"))


def test_policy_check_prints_ok_with_the_id_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(POLICIES / "cwm-demo.json")]) == 0
    assert capsys.readouterr().out.startswith("OK cwm-demo version 2026.12-1")


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


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_policy_check_passes_every_shipped_policy(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "check", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("OK ") and "informational" in out.out and out.err == ""


@pytest.mark.parametrize(("case", "change", "named"), UNSOUND, ids=[row[0] for row in UNSOUND])
def test_policy_check_fails_an_unsound_policy_naming_each_problem(
    case: str,
    change: Callable[[Raw], None],
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "unsound.json"
    bad.write_text(json.dumps(unsound(change), indent=2))
    assert main(["policy", "check", str(bad)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    assert all(line.startswith(f"{bad}:line ") for line in lines), lines
    assert any(named in line for line in lines), lines


def test_policy_check_puts_a_significant_harm_code_at_its_weight(tmp_path: Path) -> None:
    text = (POLICIES / "demoshire.json").read_text()
    text = text.replace('"gang_involvement", ', "", 1).replace(
        '"bullying": 1', '"bullying": 1, "gang_involvement": 5', 1
    )
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "policy", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    line = line_containing(text, '"gang_involvement": 5')
    assert out.stderr.splitlines() == [
        f"{bad}:line {line} (weights.child_development.gang_involvement): 'gang_involvement' "
        "is not statutory, but gang involvement with risk of harm is reasonable cause to "
        "suspect significant harm (Children Act 1989 s47; Working Together to Safeguard "
        "Children 2023): it must set the top level by itself"
    ]
