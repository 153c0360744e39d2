"""Routing decisions: every branch of the decision table, with a reason in words for
every candidate considered."""

from __future__ import annotations

from typing import Any

import pytest

from services.routing.decide import Routing, pathway_words, pathways, route
from services.routing.directory import Directory, DirectoryContent, load_directory
from shared.events import ReasonCode


@pytest.fixture
def directory() -> Directory:
    return load_directory(None)


def decide(directory: Directory, **facts: Any) -> Routing:
    given: dict[str, Any] = {
        "level": 2,
        "concern_codes": ["domestic_abuse"],
        "age": 8,
        "postcode_district": "EX1",
        "open_referrals": {},
    }
    given.update(facts)
    return route(directory=directory, **given)


@pytest.mark.parametrize(
    ("level", "top_level", "kind", "reason"),
    [
        (4, 4, "mash", "statutory_level"),
        (5, 5, "mash", "statutory_level"),
        (4, 5, "hub", "multi_agency_level"),
        (3, 4, "hub", "multi_agency_level"),
        (3, 5, "hub", "multi_agency_level"),
        (1, 4, "universal", "universal_services_advised"),
    ],
)
def test_levels_other_than_early_help_go_by_level_alone(
    directory: Directory, level: int, top_level: int, kind: str, reason: str
) -> None:
    # Needs one agency could meet do not matter outside level 2.
    r = decide(directory, level=level, top_level=top_level)
    assert r.destination_kind == kind
    assert r.reason_codes == [reason]
    assert r.considered == []
    if kind == "universal":
        assert r.destination is None
    else:
        assert r.destination is not None and r.destination.kind == kind
    assert f"Level {level}" in r.explanation


def test_level_one_records_universal_advice_for_the_referrer(directory: Directory) -> None:
    r = decide(directory, level=1)
    assert "no referral is made" in r.explanation
    assert "universal services" in r.explanation


def test_level_two_goes_to_the_single_agency_that_meets_every_need(directory: Directory) -> None:
    r = decide(directory, open_referrals={"da-support": 3})
    assert r.destination is not None and r.destination.id == "da-support"
    assert r.reason_codes == ["single_agency_best_placed"]
    assert r.explanation.startswith(
        "Level 2 (early help): Safe Homes Domestic Abuse Support is best placed. It meets "
        "every need (domestic abuse in the household); 3 of 80 referrals open"
    )
    assert "no other agency meets every need" in r.explanation


def test_every_agency_considered_has_a_reason(directory: Directory) -> None:
    r = decide(directory)
    agencies = {a.id for a in directory.agencies if a.kind == "agency"}
    assert {c.agency_id for c in r.considered} == agencies
    reasons = {c.agency_id: c for c in r.considered}
    assert reasons["housing"].reason == (
        "does not meet any of the needs (domestic abuse in the household)"
    )
    assert reasons["housing"].suitable is False
    assert reasons["da-support"].suitable and reasons["da-support"].meets_every_need


def test_level_two_prefers_the_least_loaded_of_equally_good_agencies(directory: Directory) -> None:
    needs = ["low_level_mental_health"]  # school nursing and CAMHS early support both meet it
    busy_nursing = decide(
        directory, concern_codes=needs, age=12, open_referrals={"school-nursing": 150}
    )
    assert busy_nursing.destination is not None
    assert busy_nursing.destination.id == "camhs-early"
    assert "least loaded of 2 agencies that meet every need" in busy_nursing.explanation
    busy_camhs = decide(directory, concern_codes=needs, age=12, open_referrals={"camhs-early": 80})
    assert busy_camhs.destination is not None
    assert busy_camhs.destination.id == "school-nursing"


def test_least_loaded_is_the_share_of_capacity_not_the_count(directory: Directory) -> None:
    # School nursing: 60 of 200 (30%); CAMHS early support: 45 of 90 (50%).
    r = decide(
        directory,
        concern_codes=["low_level_mental_health"],
        age=12,
        open_referrals={"school-nursing": 60, "camhs-early": 45},
    )
    assert r.destination is not None and r.destination.id == "school-nursing"


def test_best_fit_beats_load(directory: Directory) -> None:
    # Self-harm and household mental illness: only CAMHS early support meets both.
    r = decide(
        directory,
        concern_codes=["self_harm", "household_mental_illness"],
        age=12,
        open_referrals={"camhs-early": 89},
    )
    assert r.destination is not None and r.destination.id == "camhs-early"


def test_an_agency_at_capacity_is_passed_over_and_the_hub_takes_it(directory: Directory) -> None:
    r = decide(directory, open_referrals={"da-support": 80})
    assert r.destination_kind == "hub"
    assert r.reason_codes == ["no_single_agency_suitable"]
    reasons = {c.agency_id: c for c in r.considered}
    assert reasons["da-support"].reason == "is full (80 of 80 referrals open)"
    assert not reasons["da-support"].suitable
    assert "no single agency could take it" in r.explanation


def test_a_child_outside_the_age_range_is_not_sent_there(directory: Directory) -> None:
    r = decide(directory, concern_codes=["anti_social_behaviour"], age=6)
    assert r.destination_kind == "hub"
    reasons = {c.agency_id: c.reason for c in r.considered}
    assert reasons["asb-unit"] == "takes children aged 8 to 17; this child is 6"
    assert reasons["yos-diversion"] == "takes children aged 10 to 17; this child is 6"


def test_catchment_by_local_authority_uses_the_directorys_districts(directory: Directory) -> None:
    # Housing Options covers the city authority (EX1, EX2, EX4) only.
    inside = decide(directory, concern_codes=["poor_housing"], postcode_district="EX4")
    assert inside.destination is not None and inside.destination.id == "housing"
    outside = decide(directory, concern_codes=["poor_housing"], postcode_district="EX6")
    assert outside.destination_kind == "hub"
    reasons = {c.agency_id: c.reason for c in outside.considered}
    assert reasons["housing"] == "covers E06099001 only; this child lives in EX6"


def test_an_authority_given_by_triage_places_the_child(directory: Directory) -> None:
    r = decide(
        directory,
        concern_codes=["poor_housing"],
        postcode_district=None,
        local_authority_code="E06099001",
    )
    assert r.destination is not None and r.destination.id == "housing"


def test_catchment_by_postcode_district(directory: Directory) -> None:
    data = directory.model_dump()
    for agency in data["agencies"]:
        if agency["id"] == "da-support":
            agency["postcode_districts"] = ["EX2", "EX3"]
    narrowed = Directory.model_validate(data)
    assert decide(narrowed, postcode_district="EX1").destination_kind == "hub"
    r = decide(narrowed, postcode_district="EX3")
    assert r.destination is not None and r.destination.id == "da-support"
    unknown = decide(narrowed, postcode_district=None)
    assert {c.agency_id: c.reason for c in unknown.considered}["da-support"] == (
        "covers EX2, EX3 only; this child lives in an unknown district"
    )


def test_needs_no_single_agency_covers_go_to_the_hub(directory: Directory) -> None:
    r = decide(directory, concern_codes=["domestic_abuse", "poor_housing"])
    assert r.destination_kind == "hub"
    assert r.reason_codes == ["needs_span_agencies"]
    assert "no single agency meets every need" in r.explanation
    assert {c.agency_id: c.reason for c in r.considered}["da-support"].startswith(
        "meets 1 of 2 needs"
    )


def test_needs_no_agency_meets_go_to_the_hub(directory: Directory) -> None:
    for needs in (["trafficking"], []):
        r = decide(directory, concern_codes=needs)
        assert r.destination_kind == "hub"
        assert r.reason_codes == ["no_single_agency_suitable"]
        assert not any(c.suitable for c in r.considered)


def test_the_choice_does_not_depend_on_the_order_of_the_directory(directory: Directory) -> None:
    data = directory.model_dump()
    data["agencies"].reverse()
    reversed_ = Directory.model_validate(data)
    needs = {"concern_codes": ["low_level_mental_health"], "age": 12}
    first, second = decide(directory, **needs), decide(reversed_, **needs)
    assert first.destination is not None and second.destination is not None
    assert first.destination.id == second.destination.id


def test_directory_without_a_hub_is_refused() -> None:
    with pytest.raises(ValueError, match="hub"):
        Directory.model_validate(
            {
                "version": "x",
                "area": "y",
                "agencies": [
                    {
                        "id": "mash",
                        "kind": "mash",
                        "name": "M",
                        "organisation": "m",
                        "response_sla_hours": 4,
                    }
                ],
            }
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"concern_codes": ["not_a_concern"]}, "unknown concern code"),
        ({"postcode_districts": ["nowhere"]}, "not a postcode district"),
        ({"local_authority_codes": ["Demoshire"]}, "not a GSS local authority code"),
        ({"min_age": 12, "max_age": 5}, "min_age 12 is above max_age 5"),
    ],
)
def test_an_agency_with_bad_data_is_refused(
    directory: Directory, change: dict[str, Any], message: str
) -> None:
    data = directory.model_dump()
    data["agencies"][2].update(change)
    with pytest.raises(ValueError, match=message):
        Directory.model_validate(data)


@pytest.mark.parametrize(
    "facts",
    [
        {"level": 4},
        {"level": 3},
        {"level": 1},
        {"level": 2},
        {"level": 2, "concern_codes": ["domestic_abuse", "young_carer"]},
        {"level": 2, "age": 30},
    ],
)
def test_every_decision_gives_typed_reason_codes(directory: Directory, facts: Any) -> None:
    r = decide(directory, **facts)
    assert r.reason_codes and all(isinstance(c, ReasonCode) for c in r.reason_codes)


# ---------------------------------------------------------------- statutory pathways


def told(directory: DirectoryContent, codes: list[str], district: str | None = "EX1") -> list[Any]:
    return pathways(concern_codes=codes, postcode_district=district, directory=directory)


def test_a_report_without_a_pathway_code_is_told_to_no_pathway(directory: Directory) -> None:
    assert told(directory, ["domestic_abuse", "bullying"]) == []


def test_each_pathway_is_told_to_its_destination_covering_the_child(
    directory: Directory,
) -> None:
    routes = told(directory, ["radicalisation", "private_fostering", "child_missing_education"])
    assert [(r.pathway, r.destination.id, r.reason_code) for r in routes] == [
        ("prevent", "prevent", ReasonCode.STATUTORY_PATHWAY),
        ("private_fostering", "private-fostering", ReasonCode.STATUTORY_PATHWAY),
        ("children_missing_education", "cme-e06099001", ReasonCode.STATUTORY_PATHWAY),
    ]
    prevent = routes[0]
    assert prevent.concern_codes == ["radicalisation"]
    assert "Demoshire Police Prevent team" in prevent.explanation
    assert "radicalisation or extremism (prevent)" in prevent.explanation
    assert "Counter-Terrorism and Security Act 2015" in prevent.explanation


def test_the_cme_officer_told_is_the_one_for_the_childs_local_authority(
    directory: Directory,
) -> None:
    # EX3 is in E06099002; a known authority wins over the district's.
    assert told(directory, ["child_missing_education"], "EX3")[0].destination.id == (
        "cme-e06099002"
    )
    by_authority = pathways(
        concern_codes=["child_missing_education"],
        postcode_district=None,
        local_authority_code="E06099002",
        directory=directory,
    )
    assert by_authority[0].destination.id == "cme-e06099002"


def test_a_pathway_with_no_destination_for_the_child_is_told_to_the_hub_never_lost(
    directory: Directory,
) -> None:
    # PL4 is in no authority the demo directory lists: no CME officer covers it.
    [route] = told(directory, ["child_missing_education"], "PL4")
    assert (route.destination.kind, route.reason_code) == (
        "hub",
        ReasonCode.PATHWAY_DESTINATION_MISSING,
    )
    assert "names no destination for it covering PL4" in route.explanation
    assert "children missing education officer" in route.explanation
    # Prevent covers the whole area: still told to its own destination.
    assert told(directory, ["radicalisation"], "PL4")[0].destination.id == "prevent"


def test_a_pathway_destination_naming_the_childs_area_wins_over_a_whole_area_one(
    directory: Directory,
) -> None:
    local = directory.agency("cme-e06099001")
    assert local is not None
    whole = local.model_copy(
        update={"id": "a-cme-everywhere", "local_authority_codes": [], "postcode_districts": []}
    )
    wider = directory.with_agencies([*directory.agencies, whole])
    assert told(wider, ["child_missing_education"])[0].destination.id == "cme-e06099001"
    assert told(wider, ["child_missing_education"], "PL4")[0].destination.id == ("a-cme-everywhere")


def test_a_pathway_destination_is_never_a_referrals_own_destination(
    directory: Directory,
) -> None:
    # Only the Prevent team "meets" radicalisation in the directory: at level 2 the
    # referral itself still goes to an agency or the hub, never to a pathway.
    r = decide(directory, concern_codes=["radicalisation"])
    assert r.destination is not None and r.destination.kind == "hub"
    assert all(c.agency_id not in {"prevent", "private-fostering"} for c in r.considered)


def test_the_explanation_ends_with_every_pathway_told(directory: Directory) -> None:
    routes = told(directory, ["radicalisation", "child_missing_education"])
    words = pathway_words(routes)
    assert words.startswith(" Statutory pathways, told as well: Prevent referral:")
    assert "Children missing education notification" in words
    assert pathway_words([]) == ""


# ---------------------------------------------------------------- narrative review


@pytest.mark.parametrize(("level", "otherwise"), [(1, "universal"), (2, "agency"), (3, "hub")])
def test_a_referral_whose_narrative_names_uncoded_concerns_goes_to_the_hub_to_review(
    directory: Directory, level: int, otherwise: str
) -> None:
    plain = decide(directory, level=level)
    r = decide(directory, level=level, suspected_codes=["serious_violence"])
    assert (r.destination_kind, r.reason_codes[0]) == ("hub", ReasonCode.NEEDS_REVIEW)
    # What it would otherwise have done is kept, in codes and words: never lost.
    assert plain.destination_kind == otherwise
    assert r.reason_codes[1:] == plain.reason_codes
    assert r.considered == plain.considered
    assert "(serious violence or knife crime)" in r.explanation
    assert f"its level ({level}) unchanged" in r.explanation
    assert r.explanation.endswith(plain.explanation)


def test_at_the_top_level_a_review_never_takes_the_referral_from_the_mash(
    directory: Directory,
) -> None:
    r = decide(directory, level=4, suspected_codes=["radicalisation"])
    assert (r.destination_kind, r.reason_codes) == ("mash", [ReasonCode.STATUTORY_LEVEL])
    assert "the MASH should consider them too" in r.explanation


def test_no_suspected_concern_routes_by_level_alone(directory: Directory) -> None:
    assert decide(directory, suspected_codes=[]) == decide(directory)


def test_a_vulnerability_modifier_is_not_a_need_an_agency_must_meet(
    directory: Directory,
) -> None:
    # KCSIE Part two: SEND adds to other concerns, it is not a concern by itself. A
    # bullied child with SEND still goes to the one agency that meets the bullying.
    alone = decide(directory, concern_codes=["bullying"])
    with_send = decide(directory, concern_codes=["bullying", "disability_or_send"])
    assert alone.destination is not None and alone.destination.id == "family-support"
    assert with_send.destination == alone.destination
    assert with_send.reason_codes == [ReasonCode.SINGLE_AGENCY_BEST_PLACED]
    # Alone it is the need: no agency meets it, so the hub finds the right support.
    assert decide(directory, concern_codes=["disability_or_send"]).destination_kind == "hub"
