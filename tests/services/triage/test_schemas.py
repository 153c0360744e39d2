"""Triage's public models: an override needs a rationale that says why, and stored times
(naive on SQLite) answer as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.triage.schemas import MIN_RATIONALE, OverrideRequest, OverrideView


def test_an_override_needs_a_rationale_of_some_words() -> None:
    with pytest.raises(ValidationError, match="rationale"):
        OverrideRequest(level=3, rationale="worried")
    assert OverrideRequest(level=3, rationale="x" * MIN_RATIONALE).level == 3


def test_a_stored_time_answers_as_utc() -> None:
    view = OverrideView(
        id="ovr_1",
        from_level=2,
        to_level=3,
        priority="amber",
        rationale="Disclosure on a home visit.",
        by_name="Sam Hale",
        by_organisation="demoshire-hub",
        at=datetime(2026, 11, 2, 10, 0),
        decide_by=None,
    )
    assert view.at == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert view.model_dump(mode="json")["at"] == "2026-11-02T10:00:00Z"
