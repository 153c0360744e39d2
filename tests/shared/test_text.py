"""Text a caller sends is text: what the guard refuses, what free text may hold, and
that data checked at the door is not checked again when it is read back."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from shared.text import ACCEPTED, CheckedText, forbidden_character


class Note(CheckedText):
    multiline: ClassVar[frozenset[str]] = frozenset({"body"})

    title: str
    body: str | None = None
    tags: list[str] = []
    labels: dict[str, str] = {}


class Wrapper(CheckedText):
    notes: list[Note]


REFUSED_EVERYWHERE = {
    "\x00": "a control character (U+0000)",
    "\x1b": "a control character (U+001B)",
    "\x7f": "a control character (U+007F)",
    "\x85": "a control character (U+0085)",
    "\u202a": "a bidirectional override (U+202A)",
    "\u202e": "a bidirectional override (U+202E)",
    "\u2066": "a bidirectional override (U+2066)",
    "\u2069": "a bidirectional override (U+2069)",
    "\ud800": "half a surrogate pair (U+D800)",
}


@pytest.mark.parametrize(("char", "described"), REFUSED_EVERYWHERE.items())
@pytest.mark.parametrize("multiline", [False, True])
def test_controls_bidi_overrides_and_lone_surrogates_are_refused_in_any_text(
    char: str, described: str, multiline: bool
) -> None:
    assert forbidden_character(f"Sam{char}Smith", multiline=multiline) == described


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\u2028", "\u2029"])
def test_line_breaks_and_tabs_are_refused_on_one_line_only(char: str) -> None:
    assert forbidden_character(f"a{char}b") is not None
    if char in "\t\n\r":
        assert forbidden_character(f"a{char}b", multiline=True) is None


@pytest.mark.parametrize("text", ["Zoë O'Brien-Smith", "李小龍", "=SUM(A1)", "مريم", ""])
def test_ordinary_text_in_any_script_passes(text: str) -> None:
    assert forbidden_character(text) is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "a\x00"}, "title"),
        ({"title": "ok", "body": "b\u202e"}, "body"),
        ({"title": "ok", "tags": ["fine", "bad\n"]}, "tags"),
        ({"title": "ok", "labels": {"k\x01": "v"}}, "labels"),
        ({"title": "ok", "labels": {"k": "v\x01"}}, "labels"),
    ],
)
def test_a_model_names_the_field_and_the_code_point_never_the_value(
    data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Note.model_validate(data)
    (error,) = caught.value.errors(include_input=False)
    assert error["loc"][0] == field
    assert error["type"] == "forbidden_character"
    assert "U+" in error["msg"]
    assert not any(word in error["msg"] for word in ("bad", "'v", "k\x01", "a\x00"))


def test_free_text_keeps_its_paragraphs_and_nested_models_are_checked() -> None:
    assert Note(title="t", body="one\n\ttwo\r\n").body == "one\n\ttwo\r\n"
    with pytest.raises(ValidationError) as caught:
        Wrapper.model_validate({"notes": [{"title": "fine"}, {"title": "x\u2067"}]})
    assert caught.value.errors()[0]["loc"] == ("notes", 1, "title")


def test_data_accepted_earlier_is_not_checked_again_when_read_back() -> None:
    stored = {"title": "accepted by an older release\x07", "tags": ["\u202e"]}
    note = Note.model_validate(stored, context={ACCEPTED: True})
    assert note.title == stored["title"]
    with pytest.raises(ValidationError):
        Note.model_validate(stored)


def test_a_plain_model_is_not_affected() -> None:
    class Plain(BaseModel):
        title: str

    assert Plain(title="a\x00").title == "a\x00"


def test_a_report_an_older_release_accepted_still_decodes_from_its_event() -> None:
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    from cloudevents.core.v1.event import CloudEvent

    from shared.envelope import event_data
    from shared.events import EventType, ReferralReceived

    report = json.loads(
        (Path(__file__).resolve().parents[2] / "examples" / "police-report.json").read_text()
    )
    report["child"]["given_name"] = "Sam\x07"  # refused at the door today
    event = CloudEvent(
        attributes={
            "type": EventType.REFERRAL_RECEIVED.value,
            "source": "/signpost/intake/older-release",
            "id": "evt-1",
            "subject": "ref_1",
            "time": datetime(2026, 1, 5, tzinfo=UTC),
            "datacontenttype": "application/json",
        },
        data={
            "referral_id": "ref_1",
            "subject_key": "s_1",
            "client_id": "key_1",
            "received_at": "2026-01-05T09:00:00Z",
            "report": report,
        },
    )
    assert event_data(event, ReferralReceived).report.child.given_name == "Sam\x07"
