"""Routing's share of the partnership measures (`GET /v1/measures/routing`): where each
referral was first sent, each agency's declines and the hub's redirects away from it,
and each agency's open referrals against its capacity."""

from __future__ import annotations

from typing import Any

from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import agency_key, hub_key, triage

PERIOD = {"from": "2026-11-30", "to": "2026-12-01"}


async def measures(sp: Signpost) -> dict[tuple[Any, ...], Any]:
    analyst = bearer(sp.person("demoshire-partnership", "partnership_analyst"))
    answer = await sp.client.get("/v1/measures/routing", params=PERIOD, headers=analyst)
    assert answer.status_code == 200, answer.text
    return {
        (r["measure"], *sorted(r["breakdown"].items()), r["statistic"]): r["value"]
        for r in answer.json()["rows"]
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
