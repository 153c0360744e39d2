"""The rule that keeps CI honest: missing infrastructure fails under CI=true."""

from __future__ import annotations

import pytest

from tests.infra import unavailable


def test_missing_infrastructure_fails_the_run_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="mandatory"):
        unavailable("Apache Kafka", "java not found")


def test_missing_infrastructure_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="java not found"):
        unavailable("Apache Kafka", "java not found")
