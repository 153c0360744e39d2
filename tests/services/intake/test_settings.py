"""Intake's own settings: the Idempotency-Key retention and its bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings


def test_idempotency_answers_are_kept_for_a_week_unless_configured() -> None:
    assert IntakeSettings(mode="embedded").intake_idempotency_retention_hours == 168


def test_the_idempotency_retention_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTAKE_IDEMPOTENCY_RETENTION_HOURS", "24")
    assert IntakeSettings(mode="embedded").intake_idempotency_retention_hours == 24


@pytest.mark.parametrize("hours", [0, 8761])
def test_an_idempotency_retention_outside_an_hour_to_a_year_is_refused(hours: int) -> None:
    with pytest.raises(ValidationError, match="intake_idempotency_retention_hours"):
        IntakeSettings(mode="embedded", intake_idempotency_retention_hours=hours)
