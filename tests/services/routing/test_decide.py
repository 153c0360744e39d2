"""Routing decisions: every branch, with a reason for every candidate considered."""

from __future__ import annotations

import pytest

from services.routing.decide import route
from services.routing.directory import Directory, load_directory


@pytest.fixture
def directory() -> Directory:
    return load_directory(None)


def test_top_level_goes_to_the_mash(directory: Directory) -> None:
    r = route(
        level=4,
        concern_codes=["bullying"],
        age=9,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
    )
    assert r.destination_kind == "mash" and r.destination is not None
    assert r.destination.kind == "mash"


def test_level_three_goes_to_the_hub(directory: Directory) -> None:
    r = route(
        level=3,
        concern_codes=["bullying"],
        age=9,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
    )
    assert r.destination_kind == "hub"


def test_level_one_is_universal_services_with_no_referral(directory: Directory) -> None:
    r = route(
        level=1,
        concern_codes=[],
        age=9,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
    )
    assert r.destination is None and r.destination_kind == "universal"
    assert r.reason_codes == ["universal_services_advised"]


def test_level_two_goes_to_the_single_agency_that_meets_every_need(
    directory: Directory,
) -> None:
    r = route(
        level=2,
        concern_codes=["domestic_abuse"],
        age=8,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
    )
    assert r.destination is not None and r.destination.id == "da-support"
    assert r.reason_codes == ["single_agency_best_placed"]
    assert {c.agency_id for c in r.considered} >= {"da-support", "housing"}


def test_level_two_prefers_the_least_loaded_of_equally_good_agencies(
    directory: Directory,
) -> None:
    needs = ["low_level_mental_health"]  # school nursing and CAMHS early support both meet it
    busy_nursing = route(
        level=2,
        concern_codes=needs,
        age=12,
        postcode_district="EX1",
        open_referrals={"school-nursing": 150},
        directory=directory,
    )
    assert busy_nursing.destination is not None
    assert busy_nursing.destination.id == "camhs-early"
    busy_camhs = route(
        level=2,
        concern_codes=needs,
        age=12,
        postcode_district="EX1",
        open_referrals={"camhs-early": 80},
        directory=directory,
    )
    assert busy_camhs.destination is not None
    assert busy_camhs.destination.id == "school-nursing"


def test_level_two_skips_agencies_out_of_age_range_or_at_capacity(
    directory: Directory,
) -> None:
    r = route(
        level=2,
        concern_codes=["domestic_abuse"],
        age=8,
        postcode_district="EX1",
        open_referrals={"da-support": 80},
        directory=directory,
    )
    assert r.destination_kind == "hub"
    assert r.reason_codes == ["no_single_agency_suitable"]
    reasons = {c.agency_id: c.reason for c in r.considered}
    assert reasons["da-support"].startswith("at capacity")
    young = route(
        level=2,
        concern_codes=["anti_social_behaviour"],
        age=6,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
    )
    assert young.destination_kind == "hub"
    assert "outside" in {c.agency_id: c.reason for c in young.considered}["asb-unit"]


def test_level_two_needs_no_single_agency_covers_go_to_the_hub(directory: Directory) -> None:
    r = route(
        level=2,
        concern_codes=["domestic_abuse", "poor_housing"],
        age=8,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
    )
    assert r.destination_kind == "hub"
    assert r.reason_codes == ["needs_span_agencies"]


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


def test_with_five_levels_only_the_top_goes_to_the_mash(directory: Directory) -> None:
    complex_ = route(
        level=4,
        concern_codes=["bullying"],
        age=9,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
        top_level=5,
    )
    assert complex_.destination_kind == "hub"
    top = route(
        level=5,
        concern_codes=["bullying"],
        age=9,
        postcode_district="EX1",
        open_referrals={},
        directory=directory,
        top_level=5,
    )
    assert top.destination_kind == "mash"
