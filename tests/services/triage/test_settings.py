"""Triage's settings, under the environment names the README publishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.triage.settings import TriageSettings


def test_the_policy_file_is_named_by_triage_policy_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRIAGE_POLICY_PATH", str(tmp_path / "area.json"))
    assert TriageSettings().triage_policy_path == tmp_path / "area.json"
