"""Routing's share of the partnership measures (`GET /v1/measures/routing`): where each
referral was first sent, each agency's declines and the hub's redirects away from it,
and each agency's open referrals against its capacity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import (
    START,
    agency_key,
    decision,
    eventually,
    hub_key,
    triage,
)

PERIOD = {"from": "2026-11-30", "to": "2026-12-01"}


async def measures_view(sp: Signpost, period: dict[str, str] | None = None) -> dict[str, Any]:
    analyst = bearer(sp.person("demoshire-partnership", "partnership_analyst"))
    answer = await sp.client.get("/v1/measures/routing", params=period or PERIOD, headers=analyst)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def measures(
    sp: Signpost, period: dict[str, str] | None = None
) -> dict[tuple[Any, ...], Any]:
    return {
        (r["measure"], *sorted(r["breakdown"].items()), r["statistic"]): r["value"]
        for r in (await measures_view(sp, period))["rows"]
    }


async def agency_names(sp: Signpost) -> dict[str, dict[str, Any]]:
    directory = await sp.client.get("/v1/directory", headers=await hub_key(sp))
    return {a["id"]: a for a in directory.json()["agencies"]}


async def test_outcomes_declines_redirects_and_load_are_counted_per_agency(sp: Signpost) -> None:
    declined = await triage(sp)  # Safe Homes
    redirected = await triage(sp)  # Safe Homes, then the hub sends it elsewhere
    await triage(sp)  # Safe Homes, still waiting
    await triage(sp, level=4, concerns=["physical_abuse"])  # the MASH
    await triage(sp, level=1)  # universal services
    safe_homes = await agency_key(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{declined}/decline", headers=safe_homes, json={"reason_code": "no_capacity"}
    )
    assert answer.status_code == 200, answer.text
    answer = await sp.client.post(
        f"/v1/referrals/{redirected}/reassign",
        headers=await hub_key(sp),
        json={
            "agency_id": "family-support",
            "rationale": "Family known to the Supporting Families team.",
        },
    )
    assert answer.status_code == 200, answer.text
    agencies = await agency_names(sp)
    safe = agencies["da-support"]["name"]  # Safe Homes Domestic Abuse Support

    found = await measures(sp)

    assert found[("outcome_of_contact", "count")] == 5
    assert found[("outcome_of_contact", ("outcome", "single agency (early help)"), "count")] == 3
    assert found[("outcome_of_contact", ("outcome", "MASH"), "count")] == 1
    assert found[("outcome_of_contact", ("outcome", "universal services"), "count")] == 1
    assert found[("outcome_of_contact", ("outcome", "MASH"), "share")] == 20.0
    assert found[("declines_and_redirects", ("agency", safe), ("step", "received"), "count")] == 3
    assert found[("declines_and_redirects", ("agency", safe), ("step", "declined"), "count")] == 1
    assert (
        found[
            (
                "declines_and_redirects",
                ("agency", safe),
                ("reason", "no_capacity"),
                ("step", "declined"),
                "count",
            )
        ]
        == 1
    )
    assert found[("declines_and_redirects", ("agency", safe), ("step", "redirected"), "count")] == 1
    assert found[("declines_and_redirects", ("agency", safe), ("step", "escalated"), "count")] == 0
    # One referral still waits at Safe Homes.
    assert found[("agency_load", ("agency", safe), ("figure", "open"), "count")] == 1
    assert agencies["da-support"]["capacity"] == 80
    assert found[("agency_load", ("agency", safe), ("figure", "capacity"), "count")] == 80
    assert found[("agency_load", ("agency", safe), "share")] == round(100 * 1 / 80, 1)


async def test_time_to_acceptance_counts_hours_from_receipt_to_the_first_accept_per_rag(
    sp: Signpost,
) -> None:
    """Safe Homes answers within 48 hours (the demo directory): one referral it accepted
    6 hours after receipt; one it let pass its deadline, escalated to the hub, which
    accepted it 50 hours after receipt (late); one still waiting, its deadline passed
    (escalated to the hub, which has not answered); and one waiting within it."""
    safe_homes = await agency_key(sp)
    on_time = await triage(sp, received_at=START - timedelta(hours=1))
    late = await triage(sp, received_at=START - timedelta(hours=1))
    waiting_late = await triage(sp, received_at=START)
    sp.clock.advance(hours=5)
    answer = await sp.client.post(f"/v1/referrals/{on_time}/accept", headers=safe_homes)
    assert answer.status_code == 200, answer.text
    sp.clock.advance(hours=44)  # 49 hours after START: past every 48-hour clock above
    await eventually(lambda: escalated(sp, late, waiting_late))
    waiting = await triage(sp, received_at=sp.clock.now())
    answer = await sp.client.post(f"/v1/referrals/{late}/accept", headers=await hub_key(sp))
    assert answer.status_code == 200, answer.text

    found = await measures(sp, {"from": "2026-11-30", "to": "2026-12-03"})

    green = ("rag", "green")
    assert found[("time_to_acceptance", green, "count")] == 4
    assert found[("time_to_acceptance", green, ("step", "accepted"), "count")] == 2
    assert found[("time_to_acceptance", green, "median")] == 6.0
    assert found[("time_to_acceptance", green, "p90")] == 50.0
    share = ("time_to_acceptance", green, ("within", "deadline"), "share")
    assert found[share] == 50.0
    assert found[("time_to_acceptance", green, ("step", "waiting"), "count")] == 2
    assert found[("time_to_acceptance", green, ("step", "waiting past deadline"), "count")] == 1
    assert {waiting, waiting_late}.isdisjoint({on_time, late})


async def test_a_referral_straight_to_the_mash_is_judged_against_its_respond_by(
    sp: Signpost,
) -> None:
    """The MASH answers within 4 hours (the demo directory): one accepted after 3 hours
    is in time, one accepted after 5 is late."""
    mash = await agency_key(sp, "demoshire-mash")
    quick = await triage(sp, level=4, concerns=["physical_abuse"], received_at=START)
    slow = await triage(sp, level=4, concerns=["physical_abuse"], received_at=START)
    sp.clock.advance(hours=3)
    answer = await sp.client.post(f"/v1/referrals/{quick}/accept", headers=mash)
    assert answer.status_code == 200, answer.text
    sp.clock.advance(hours=2)
    answer = await sp.client.post(f"/v1/referrals/{slow}/accept", headers=mash)
    assert answer.status_code == 200, answer.text

    found = await measures(sp)

    red = ("rag", "red")
    assert found[("time_to_acceptance", red, ("step", "accepted"), "count")] == 2
    assert found[("time_to_acceptance", red, ("within", "deadline"), "share")] == 50.0


async def escalated(sp: Signpost, *referral_ids: str) -> bool:
    rows = [await decision(sp, referral_id) for referral_id in referral_ids]
    return all(row is not None and row.destination_kind == "hub" for row in rows)


async def test_measures_narrow_to_an_area_and_a_source_and_say_which_they_cannot(
    sp: Signpost,
) -> None:
    """EX1 is in E06099001, EX3 in E06099002 (the demo directory): each referral is
    counted only under its own local authority and source; Housing Options serves only
    E06099001, so its load is not part of E06099002's."""
    await triage(sp, district="EX1", source="police")
    await triage(sp, district="EX3", source="school")
    await triage(sp, district="EX3", source="police")
    housing = "Demoshire Housing Options"

    second = await measures(sp, {**PERIOD, "area": "e06099002"})
    first_school = await measures(sp, {**PERIOD, "area": "E06099001", "source": "school"})
    schools = await measures(sp, {**PERIOD, "source": "school"})
    everywhere = await measures(sp, PERIOD)

    assert second[("outcome_of_contact", "count")] == 2
    assert first_school[("outcome_of_contact", "count")] == 0
    assert schools[("outcome_of_contact", "count")] == 1
    assert everywhere[("outcome_of_contact", "count")] == 3
    assert ("agency_load", ("agency", housing), ("figure", "open"), "count") in everywhere
    assert ("agency_load", ("agency", housing), ("figure", "open"), "count") not in second
    view = await measures_view(sp, {**PERIOD, "area": "E06099002", "source": "school"})
    assert (view["area"], view["source"]) == ("E06099002", "school")
    # Agency load is a count now of every open referral: an area narrows it, a source
    # cannot.
    assert view["unfiltered"] == ["agency_load"]


async def test_an_area_or_source_that_is_not_one_is_a_422_naming_it(sp: Signpost) -> None:
    analyst = bearer(sp.person("demoshire-partnership", "partnership_analyst"))
    for name, value in (("area", "Demoshire"), ("source", "neighbour")):
        answer = await sp.client.get(
            "/v1/measures/routing", params={**PERIOD, name: value}, headers=analyst
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert name in answer.text
