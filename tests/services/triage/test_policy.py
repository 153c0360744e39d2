"""Threshold policies load only when valid, and a bad one says the line and the reason."""

from __future__ import annotations

import json

import pytest

from services.triage.policy import PolicyError, line_of, load_policy, parse_policy
from services.triage.settings import TriageSettings
from services.triage.soundness import SIGNIFICANT_HARM
from shared.settings import Settings
from tests.services.triage.helpers import POLICIES, line_containing

DEMO_TEXT = (POLICIES / "demoshire.json").read_text()


def test_the_example_policies_load_and_differ() -> None:
    demo = load_policy(POLICIES / "demoshire.json")
    cwm = load_policy(POLICIES / "cwm-demo.json")
    assert (demo.id, demo.top_level, cwm.id, cwm.top_level) == ("demoshire", 4, "cwm-demo", 5)
    assert demo.level(4).decide_within_hours == 4 and demo.level(4).clock == "round_the_clock"
    assert cwm.level(5).decide_within_hours == 2
    # Both make every category of significant harm statutory (a soundness rule since
    # 2026.11: Cwm Demo used to weight five of them), and since 2026.12 (vocabulary v2)
    # the categories with a route of their own and serious violence; they differ in the
    # weights.
    routes = {
        "radicalisation", "private_fostering", "unaccompanied_asylum_seeking_child",
        "homeless_16_17", "serious_violence",
    }  # fmt: skip
    assert set(demo.statutory) == set(cwm.statutory) == set(SIGNIFICANT_HARM) | routes
    assert demo.weights != cwm.weights


def test_the_demo_policy_is_the_default_setting() -> None:
    assert Settings(mode="embedded").service_settings(TriageSettings).triage_policy_path is None
    assert load_policy(None).id == "demoshire"


# (case, replace this, with that, the line's marker (after the change), the reason)
BROKEN = [
    (
        "a priority that is not RAG",
        '"priority": "amber", "decide_within_hours": 24',
        '"priority": "orange", "decide_within_hours": 24',
        '"orange"',
        "Input should be 'red', 'amber', 'green' or 'blue'",
    ),
    (
        "a negative weight",
        '"bullying": 1',
        '"bullying": -1',
        '"bullying": -1',
        "greater than or equal to 1",
    ),
    (
        "a code outside the vocabulary",
        '"bullying": 1',
        '"bulying": 1',
        '"bulying": 1',
        "'bulying' is not in the vocabulary",
    ),
    (
        "a code both statutory and weighted",
        '"bullying": 1',
        '"bullying": 1, "fgm": 2',
        '"fgm": 2',
        "'fgm' is already placed at statutory",
    ),
    (
        "a cumulative rule that reaches the statutory level",
        '"reports": 3, "within_days": 90, "min_level": 3',
        '"reports": 3, "within_days": 90, "min_level": 4',
        '"min_level": 4',
        "only statutory indicators reach the top level",
    ),
    (
        "bands that do not rise",
        '{"min_score": 6, "level": 3}',
        '{"min_score": 1, "level": 3}',
        '{"min_score": 1, "level": 3}',
        "bands must rise in min_score",
    ),
    (
        "a level without a timescale",
        '"decide_within_hours": 72,',
        "",
        '"level": 2,',
        "every level above 1 needs a timescale",
    ),
    (
        "an unknown field (a typo)",
        '"within_days": 90,\n    "shared_codes"',
        '"within_days": 90, "sharde_codes": [],\n    "shared_codes"',
        "sharde_codes",
        "Extra inputs are not permitted",
    ),
    (
        "a calendar that is not a UK bank holiday division",
        '"calendar": "england-and-wales"',
        '"calendar": "wales"',
        '"calendar": "wales"',
        "Input should be 'england-and-wales', 'scotland' or 'northern-ireland'",
    ),
    (
        "an unknown time zone",
        '"Europe/London"',
        '"Europe/Londres"',
        "Europe/Londres",
        "not a known IANA time zone",
    ),
    (
        "a missing comma",
        '"reports": 3, "within_days": 90',
        '"reports": 3 "within_days": 90',
        '"reports": 3 "within_days"',
        "Expecting ',' delimiter",
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "new", "marker", "reason"), BROKEN, ids=[row[0] for row in BROKEN]
)
def test_a_bad_policy_refuses_to_load_with_the_line_and_the_reason(
    case: str, old: str, new: str, marker: str, reason: str
) -> None:
    assert old in DEMO_TEXT
    text = DEMO_TEXT.replace(old, new, 1)
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, source="demoshire.json")
    problems = raised.value.problems
    assert any(p.line == line_containing(text, marker) and reason in p.reason for p in problems), (
        problems
    )


@pytest.mark.parametrize("division", ["england-and-wales", "scotland", "northern-ireland"])
def test_a_policy_may_name_any_uk_bank_holiday_division(division: str) -> None:
    text = DEMO_TEXT.replace('"calendar": "england-and-wales"', f'"calendar": "{division}"', 1)
    assert parse_policy(text).calendar == division


def test_a_policy_must_name_its_bank_holiday_division() -> None:
    raw = json.loads(DEMO_TEXT)
    del raw["calendar"]
    with pytest.raises(PolicyError, match=r"\(calendar\): Field required"):
        parse_policy(json.dumps(raw, indent=2))


def test_a_policy_must_place_every_concern_code() -> None:
    raw = json.loads(DEMO_TEXT)
    del raw["weights"]["child_development"]["bullying"]
    with pytest.raises(PolicyError, match="'bullying' is not handled: make it statutory, give"):
        parse_policy(json.dumps(raw, indent=2))


def test_a_code_may_be_informational_with_a_reason_and_old_files_need_neither_field() -> None:
    raw = json.loads(DEMO_TEXT)
    del raw["weights"]["child_development"]["missed_health_checks"]
    raw["informational"] = {"missed_health_checks": " the health visitor follows these up "}
    policy = parse_policy(json.dumps(raw, indent=2))
    assert policy.informational == {"missed_health_checks": "the health visitor follows these up"}
    del raw["informational"], raw["notes"]
    raw["weights"]["child_development"]["missed_health_checks"] = 1
    assert parse_policy(json.dumps(raw, indent=2)).notes == {}


def test_an_informational_code_needs_a_reason() -> None:
    text = DEMO_TEXT.replace('"missed_health_checks": 1, ', "", 1).replace(
        '"informational": {}', '"informational": {"missed_health_checks": "  "}', 1
    )
    with pytest.raises(PolicyError) as raised:
        parse_policy(text)
    [problem] = raised.value.problems
    assert problem.location == "informational.missed_health_checks"
    assert problem.line == line_containing(text, '"missed_health_checks": "  "')
    assert "at least 1 character" in problem.reason


def test_line_of_follows_objects_and_arrays_and_stops_at_what_is_missing() -> None:
    text = '{\n "a": [\n  1,\n  {"b":\n    2}\n ],\n "c": {}\n}'
    assert line_of(text, ("a", 1, "b")) == 5
    assert line_of(text, ("a", 0)) == 3
    assert line_of(text, ("c", "missing")) == 7
    assert line_of(text, ()) == 1
