"""The v1 report's validation rules, one behaviour per test."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.rules import rule_errors
from shared.report import (
    Concern,
    ConcernReport,
    age_on,
    concern_codes,
    is_valid_upn,
    upn_check_letter,
    vocabulary,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return body


def police() -> dict[str, Any]:
    return example("police-domestic-abuse-report.json")


def school() -> dict[str, Any]:
    return example("school-upn-report.json")


def errors_of(body: dict[str, Any], now: datetime = NOW) -> dict[str, str]:
    """Each failing location (dotted) with its error type, as intake checks a report on
    receipt at `now` (the field rules, then its cross-field rules); {} when it is valid."""
    try:
        errors = rule_errors(ConcernReport.model_validate(body), now=now)
    except ValidationError as exc:
        errors = exc.errors()
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in errors}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_example_report_is_valid(path: Path) -> None:
    assert errors_of(json.loads(path.read_text())) == {}


# UPN check letters: computed by hand from the DfE rule (weights 2..13, mod 23) and one
# published valid UPN (python-stdnum's documentation: B801200005001).
@pytest.mark.parametrize(
    "upn", ["B801200005001", "G878200125010", "P207000016049", "G87820012501A"]
)
def test_upns_with_the_right_check_letter_are_valid(upn: str) -> None:
    assert is_valid_upn(upn)
    assert upn_check_letter(upn[1:]) == upn[0]


def test_the_check_letter_weights_each_character_by_its_position() -> None:
    # 8*2 + 1*4 + 2*5 + 5*10 + 1*13 = 93; 93 mod 23 = 1 -> B
    assert upn_check_letter("801200005001") == "B"
    # A temporary UPN's final letter counts as its index: A=0, so ...A == ...0
    assert upn_check_letter("87820012501A") == upn_check_letter("878200125010")


@pytest.mark.parametrize(
    "upn",
    [
        "A801200005001",  # wrong check letter
        "I801200005001",  # I is never a check letter
        "B80120000500",  # 12 characters
        "B8012000050011",  # 14 characters
        "B80120000A001",  # a letter in the middle
        "B80120000500S",  # S is never the final letter
    ],
)
def test_malformed_or_miscalculated_upns_are_refused(upn: str) -> None:
    assert not is_valid_upn(upn)
    body = school()
    body["school"]["upn"] = upn
    assert "school.upn" in errors_of(body)


def test_a_lower_case_upn_is_accepted_and_normalised() -> None:
    body = school()
    body["school"]["upn"] = "g878200125010"
    report = ConcernReport.model_validate(body)
    assert report.school is not None and report.school.upn == "G878200125010"


@pytest.mark.parametrize("urn", ["10001", "1000011", "10000A", ""])
def test_a_urn_is_six_digits(urn: str) -> None:
    body = school()
    body["school"]["urn"] = urn
    assert "school.urn" in errors_of(body)


def test_a_school_reports_only_under_its_own_urn() -> None:
    body = school()
    body["school"]["urn"] = "100002"
    assert errors_of(body) == {"school.urn": "urn_mismatch"}


def test_a_school_source_organisation_must_be_a_urn() -> None:
    body = example("school-report.json")
    body["source"]["organisation"] = "demo-primary"
    assert errors_of(body) == {"source.organisation": "urn_format"}


def test_the_police_section_is_only_for_police_and_the_school_section_only_for_schools() -> None:
    body = school()
    body["police"] = police()["police"]
    assert errors_of(body)["police"] == "section_not_allowed"
    body = police()
    body["school"] = school()["school"]
    assert errors_of(body)["school"] == "section_not_allowed"


@pytest.mark.parametrize("postcode", ["EX1", "12345", "EX1 1A", "ZZZZ ZZZ", "EX11 1AAA"])
def test_postcodes_must_be_uk_format(postcode: str) -> None:
    body = police()
    body["child"]["address"]["postcode"] = postcode
    assert "child.address.postcode" in errors_of(body)


def test_postcodes_are_normalised_to_upper_case_with_one_space() -> None:
    body = police()
    body["child"]["address"]["postcode"] = "ex25ab"
    body["police"]["location"]["postcode"] = " sw1a1aa "
    report = ConcernReport.model_validate(body)
    assert report.child.address.postcode == "EX2 5AB"
    assert report.police is not None and report.police.location.postcode == "SW1A 1AA"


@pytest.mark.parametrize(
    ("date_of_birth", "error"),
    [
        ("2008-11-27", "not_a_child"),  # 18 the day before the report
        ("1990-01-01", "not_a_child"),
        ("2026-11-28", "future_date"),  # born after the report date
    ],
)
def test_the_subject_must_be_a_child_on_the_report_date(date_of_birth: str, error: str) -> None:
    body = police()  # reported 2026-11-27
    body["child"]["date_of_birth"] = date_of_birth
    assert errors_of(body) == {"child.date_of_birth": error}


@pytest.mark.parametrize("date_of_birth", ["2008-11-28", "2026-11-27"])
def test_seventeen_year_olds_and_newborns_are_children(date_of_birth: str) -> None:
    body = police()
    body["child"]["date_of_birth"] = date_of_birth
    assert errors_of(body) == {}


def test_ages_count_whole_years() -> None:
    from datetime import date

    assert age_on(date(2010, 3, 1), date(2026, 2, 28)) == 15
    assert age_on(date(2010, 3, 1), date(2026, 3, 1)) == 16


def test_no_date_may_be_in_the_future() -> None:
    body = police()
    body["reported_at"] = "2026-11-28T12:30:00Z"
    body["police"]["occurred_at"] = "2026-11-28T12:20:00Z"
    body["household"][0]["date_of_birth"] = "2026-12-01"
    body["consent"]["sharing_authorised_by"]["decided_at"] = "2027-01-01T00:00:00Z"
    assert errors_of(body) == {
        "reported_at": "future_date",
        "police.occurred_at": "future_date",
        "household.0.date_of_birth": "future_date",
        "consent.sharing_authorised_by.decided_at": "future_date",
    }


def test_a_few_minutes_of_clock_skew_is_tolerated() -> None:
    body = police()
    body["reported_at"] = "2026-11-28T12:04:00Z"
    assert errors_of(body) == {}


def test_an_incident_cannot_happen_after_it_was_reported() -> None:
    body = police()
    body["police"]["occurred_at"] = "2026-11-28T01:00:00Z"  # reported 2026-11-27T23:55Z
    assert errors_of(body) == {"police.occurred_at": "after_report"}


def test_children_present_must_be_children_on_the_incident_date() -> None:
    body = police()
    body["police"]["children_present"][1]["date_of_birth"] = "2000-01-01"
    assert errors_of(body) == {"police.children_present.1.date_of_birth": "not_a_child"}


def test_a_ppn_grade_is_high_medium_or_low() -> None:
    body = police()
    body["police"]["ppn_grade"] = "red"
    assert "police.ppn_grade" in errors_of(body)


def test_a_contact_needs_an_email_or_a_phone() -> None:
    body = police()
    del body["police"]["officer"]["email"]
    del body["police"]["officer"]["phone"]
    assert "police.officer" in errors_of(body)


def test_unknown_concern_codes_are_refused() -> None:
    body = police()
    body["concerns"].append({"code": "made_up"})
    assert errors_of(body) == {"concerns.2.code": "value_error"}


def test_sharing_without_consent_records_who_authorised_it() -> None:
    body = police()
    del body["consent"]["sharing_authorised_by"]
    assert errors_of(body) == {"consent.sharing_authorised_by": "authorisation_required"}


def test_an_authorisation_is_not_recorded_when_consent_was_given() -> None:
    body = police()
    body["consent"]["status"] = "given"
    assert errors_of(body) == {"consent.sharing_authorised_by": "authorisation_not_expected"}


def test_consent_is_not_the_lawful_basis_when_it_was_refused() -> None:
    body = police()
    body["consent"]["status"] = "refused"
    body["consent"]["lawful_basis"] = "consent"
    assert errors_of(body) == {"consent.lawful_basis": "basis_conflict"}


def test_an_authorisation_gives_a_reason() -> None:
    body = police()
    body["consent"]["sharing_authorised_by"]["reason"] = "risk"
    assert "consent.sharing_authorised_by.reason" in errors_of(body)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("child", "given_name"), "x" * 101),
        (("source", "reference"), "x" * 65),
        (("narrative",), "x" * 20001),
        (("police", "incident_reference"), "x" * 65),
        (("police", "location", "description"), "x" * 301),
        (("police", "officer", "name"), "x" * 101),
        (("police", "children_present", 0, "detail"), "x" * 1001),
        (("household", 0, "given_name"), "x" * 101),
        (("consent", "sharing_authorised_by", "reason"), "x" * 2001),
    ],
)
def test_every_string_has_a_maximum_size(path: tuple[str | int, ...], value: str) -> None:
    body = police()
    node: Any = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert ".".join(str(p) for p in path) in errors_of(body)


@pytest.mark.parametrize(
    ("path", "item", "limit"),
    [
        (("concerns",), {"code": "bullying"}, 30),
        (("household",), None, 20),
        (("police", "children_present"), None, 20),
    ],
)
def test_every_list_has_a_maximum_size(
    path: tuple[str, ...], item: dict[str, Any] | None, limit: int
) -> None:
    body = police()
    node: Any = body
    for part in path:
        node = node[part]
    template = item if item is not None else node[0]
    node[:] = [copy.deepcopy(template) for _ in range(limit + 1)]
    assert ".".join(path) in errors_of(body)


def test_unknown_fields_are_refused_at_every_level() -> None:
    body = police()
    body["police"]["weapon"] = "knife"
    body["household"][0]["nickname"] = "R"
    assert set(errors_of(body)) == {"police.weapon", "household.0.nickname"}


def test_every_failure_is_reported_at_once() -> None:
    body = school()
    body["school"]["urn"] = "100002"
    body["child"]["date_of_birth"] = "1990-01-01"
    body["concerns"][0]["code"] = "nope"
    assert set(errors_of(body)) == {"concerns.0.code"}  # field errors stop cross-field ones
    body["concerns"][0]["code"] = "bullying"
    assert set(errors_of(body)) == {"school.urn", "child.date_of_birth"}


# The vocabulary: DOMAIN.md's level-2, level-3 and level-4 indicators and the ten ACEs.
LEVEL_2 = {
    "absence_truancy",
    "fixed_term_exclusion",
    "missing_once",
    "missed_health_checks",
    "anti_social_behaviour",
    "early_substance_use",
    "low_level_mental_health",
    "young_carer",
    "child_of_prisoner",
    "bullying",
    "poor_housing",
    "low_income",
}
LEVEL_4 = {
    "physical_abuse",
    "sexual_abuse",
    "emotional_abuse",
    "physical_neglect",
    "emotional_neglect",
    "child_sexual_exploitation",
    "child_criminal_exploitation",
    "trafficking",
    "fgm",
    "gang_involvement",
    "missing_frequently",
    "parental_mental_health_significant",
    "parental_substance_misuse_significant",
    "domestic_abuse_serious",
}
# Education and early-help matters by themselves; statutory only with an indicator of harm.
LEVEL_3 = {"permanent_exclusion", "chronic_non_attendance"}
ACES = {
    "physical_abuse",
    "sexual_abuse",
    "emotional_abuse",
    "physical_neglect",
    "emotional_neglect",
    "household_substance_misuse",
    "household_member_in_prison",
    "household_mental_illness",
    "domestic_abuse",
    "parental_separation",
}


def test_the_vocabulary_covers_the_threshold_indicators_and_the_ten_aces() -> None:
    assert LEVEL_2 | LEVEL_3 | LEVEL_4 | ACES <= concern_codes()
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    assert {c["code"] for c in concerns if c["ace"]} == ACES
    assert vocabulary()["version"]


def test_every_vocabulary_code_has_a_plain_english_label_and_is_unique() -> None:
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    codes = [c["code"] for c in concerns]
    assert len(codes) == len(set(codes))
    for concern in concerns:
        assert concern["label"] and "_" not in concern["label"]


# Vocabulary v2: additive over v1, each code with its domain, guidance, synonyms, source.
DOMAINS = {"child_development", "parenting_capacity", "family_and_environment"}
V1_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "concerns-v1.json"


def test_the_vocabulary_is_v2_and_every_code_says_what_a_referrer_needs() -> None:
    assert vocabulary()["version"] == "2026-12-v2"
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    codes = [c["code"] for c in concerns]
    assert len(codes) == len(set(codes))
    assert frozenset(codes) == concern_codes()
    for c in concerns:
        assert c["code"] == c["code"].lower() and " " not in c["code"], c
        assert c["label"] and "_" not in c["label"], c
        assert c["domain"] in DOMAINS and c["group"] == c["domain"], c
        assert isinstance(c["ace"], bool), c
        guidance = c["guidance"]
        assert isinstance(guidance, str) and guidance.strip() and "\n" not in guidance, c
        assert len(guidance) <= 200, c  # one line a referrer reads
        synonyms = c["synonyms"]
        assert synonyms and all(s and s == s.lower() for s in synonyms), c
        assert len(synonyms) == len(set(synonyms)), c
        assert isinstance(c["source"], str) and c["source"].strip(), c


def test_every_v1_code_stays_in_v2_with_its_v1_fields() -> None:
    v1 = json.loads(V1_FILE.read_text())
    v2 = {c["code"]: c for c in vocabulary()["concerns"]}  # type: ignore[attr-defined]
    assert v1["version"] == "2026-11-v1"  # published: never edited
    for concern in v1["concerns"]:
        assert concern["code"] in concern_codes()
        assert {k: v2[concern["code"]][k] for k in concern} == concern
        Concern.model_validate({"code": concern["code"]})


def test_a_deprecated_code_stays_valid_and_names_an_existing_replacement() -> None:
    concerns = {c["code"]: c for c in vocabulary()["concerns"]}  # type: ignore[attr-defined]
    for code, concern in concerns.items():
        if concern.get("deprecated"):
            assert concern["deprecated"] is True
            replacement = concerns[concern["replaced_by"]]
            assert not replacement.get("deprecated"), code
            Concern.model_validate({"code": code})
        else:
            assert "replaced_by" not in concern, code


def set_at(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    node: Any = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return body


def value_at(report: ConcernReport, path: tuple[str | int, ...]) -> Any:
    node: Any = report
    for part in path:
        node = node[part] if isinstance(part, int) else getattr(node, part)
    return node


# (example body, path): names, references, roles and codes hold one line of text.
SINGLE_LINE = [
    (police, ("child", "given_name")),
    (police, ("child", "family_name")),
    (police, ("source", "reference")),
    (police, ("police", "incident_reference")),
    (police, ("police", "officer", "name")),
    (police, ("police", "officer", "role")),
    (police, ("police", "children_present", 0, "given_name")),
    (police, ("household", 0, "family_name")),
    (police, ("consent", "sharing_authorised_by", "name")),
    (police, ("consent", "sharing_authorised_by", "role")),
    (school, ("school", "dsl", "name")),
    (school, ("school", "dsl", "role")),
]
# Free text: what people write in paragraphs.
MULTI_LINE = [
    (police, ("narrative",)),
    (police, ("concerns", 0, "detail")),
    (police, ("police", "location", "description")),
    (police, ("police", "children_present", 0, "detail")),
    (police, ("police", "circumstances")),
    (police, ("consent", "sharing_authorised_by", "reason")),
]
BIDI_AND_CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202a", "\u202e", "\u2066", "\u2069"]


def dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


@pytest.mark.parametrize("character", [*BIDI_AND_CONTROLS, "\t", "\n", "\r", "\u2028"])
@pytest.mark.parametrize(("make", "path"), SINGLE_LINE, ids=[dotted(p) for _, p in SINGLE_LINE])
def test_single_line_text_refuses_control_characters_line_breaks_and_bidi_overrides(
    make: Any, path: tuple[str | int, ...], character: str
) -> None:
    body = set_at(make(), path, f"Ordinary {character} text here")
    assert errors_of(body) == {dotted(path): "forbidden_character"}


@pytest.mark.parametrize("character", BIDI_AND_CONTROLS)
@pytest.mark.parametrize(("make", "path"), MULTI_LINE, ids=[dotted(p) for _, p in MULTI_LINE])
def test_free_text_refuses_control_characters_and_bidi_overrides(
    make: Any, path: tuple[str | int, ...], character: str
) -> None:
    body = set_at(make(), path, f"Ordinary {character} text here")
    assert errors_of(body) == {dotted(path): "forbidden_character"}


@pytest.mark.parametrize(("make", "path"), MULTI_LINE, ids=[dotted(p) for _, p in MULTI_LINE])
def test_free_text_keeps_tabs_and_line_breaks_exactly(
    make: Any, path: tuple[str | int, ...]
) -> None:
    text = "First line of what happened.\r\n\tSecond, indented.\nThird."
    report = ConcernReport.model_validate(set_at(make(), path, text))
    assert value_at(report, path) == text


def test_a_forbidden_character_is_named_by_its_code_point_never_by_the_value() -> None:
    body = set_at(police(), ("child", "given_name"), "Ma\x00ya")
    with pytest.raises(ValidationError) as refused:
        ConcernReport.model_validate(body)
    [error] = refused.value.errors(include_input=False)
    assert error["msg"] == "must not contain a control character (U+0000)"
    assert "Maya" not in str(error)


def test_formula_like_text_is_text() -> None:
    body = set_at(police(), ("narrative",), '=HYPERLINK("http://example.com","x")')
    set_at(body, ("source", "reference"), "-DP-2026-1")
    set_at(body, ("child", "given_name"), "@Maya")
    report = ConcernReport.model_validate(body)
    assert report.narrative == '=HYPERLINK("http://example.com","x")'
    assert (report.source.reference, report.child.given_name) == ("-DP-2026-1", "@Maya")


BOOLEANS = [
    (police, ("immediate_risk",)),
    (police, ("child", "home_educated")),
    (police, ("police", "domestic_abuse")),
    (police, ("police", "children_present", 0, "home_educated")),
    (police, ("household", 0, "offending")),
    (police, ("household", 0, "mental_health")),
    (police, ("household", 0, "substance_misuse")),
    (police, ("household", 0, "domestic_abuse_perpetrator")),
    (police, ("household", 0, "domestic_abuse_victim")),
    (school, ("school", "exclusions", "permanent")),
]


@pytest.mark.parametrize("value", ["yes", "true", "false", 1, 0, None])
@pytest.mark.parametrize(("make", "path"), BOOLEANS, ids=[dotted(p) for _, p in BOOLEANS])
def test_every_boolean_is_a_json_true_or_false_only(
    make: Any, path: tuple[str | int, ...], value: Any
) -> None:
    assert errors_of(set_at(make(), path, value)) == {dotted(path): "bool_type"}


@pytest.mark.parametrize(("make", "path"), BOOLEANS, ids=[dotted(p) for _, p in BOOLEANS])
def test_a_json_boolean_is_taken_as_given(make: Any, path: tuple[str | int, ...]) -> None:
    body = set_at(make(), path, True)
    if path == ("child", "home_educated"):
        del body["child"]["school_urn"]
    if path == ("police", "children_present", 0, "home_educated"):
        del body["police"]["children_present"][0]["school_urn"]
    report = ConcernReport.model_validate_json(json.dumps(body))
    assert value_at(report, path) is True


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_are_finite(value: float) -> None:
    body = set_at(school(), ("school", "attendance_percent"), value)
    assert errors_of(body) == {"school.attendance_percent": "finite_number"}
