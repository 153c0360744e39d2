"""Why a practitioner changed a level, as a code: every code has a meaning said in a
line, and the API's description of the field lists them all."""

from __future__ import annotations

from services.triage.schemas import OverrideRequest
from shared.override_reasons import MEANINGS, OverrideReason, described, in_words


def test_every_code_has_a_one_line_meaning() -> None:
    assert set(MEANINGS) == set(OverrideReason)
    for code, meaning in MEANINGS.items():
        assert meaning.strip() and "\n" not in meaning, code
    # A code is a short word in snake case: it fits the 40-character column.
    assert all(code.value.isidentifier() and len(code.value) <= 40 for code in OverrideReason)


def test_the_api_describes_every_code_with_its_meaning() -> None:
    description = OverrideRequest.model_json_schema()["properties"]["reason_code"]["description"]

    assert described() in description
    for code, meaning in MEANINGS.items():
        assert f"`{code}`: {meaning}" in description


def test_a_code_reads_as_words_in_a_sentence() -> None:
    assert in_words("needs_met_elsewhere") == "needs met elsewhere"
