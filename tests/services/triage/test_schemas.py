"""Triage's public models: an override needs a rationale that says why, may give a
reason code of the vocabulary (and only one of it), and stored times (naive on SQLite)
answer as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.triage.schemas import MIN_RATIONALE, OverrideRequest, OverrideView
from shared.override_reasons import OverrideReason


def test_an_override_needs_a_rationale_of_some_words() -> None:
    with pytest.raises(ValidationError, match="rationale"):
        OverrideRequest(level=3, rationale="worried")
    assert OverrideRequest(level=3, rationale="x" * MIN_RATIONALE).level == 3


def test_an_override_reason_code_is_optional_and_of_the_vocabulary() -> None:
    why = "x" * MIN_RATIONALE

    assert OverrideRequest(level=3, rationale=why).reason_code is None
    given = OverrideRequest.model_validate(
        {"level": 3, "rationale": why, "reason_code": "new_information"}
    )
    assert given.reason_code is OverrideReason.NEW_INFORMATION
    with pytest.raises(ValidationError) as refused:
        OverrideRequest.model_validate({"level": 3, "rationale": why, "reason_code": "gut_feel"})
    assert [e["loc"] for e in refused.value.errors()] == [("reason_code",)]


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
    assert view.reason_code is None  # made before reason codes were kept
    assert view.model_dump(mode="json")["at"] == "2026-11-02T10:00:00Z"
