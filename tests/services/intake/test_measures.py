"""Intake's share of the partnership measures (`GET /v1/measures/intake`): contacts by
source and by concern category for a period, each report once however many corrected
versions it has (counted under its newest version's codes), read only with
`measures:read`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import START, example, police_key, school_key

PERIOD = {"from": "2026-11-30", "to": "2026-12-01"}


async def submit(sp: Signpost, key: str, name: str, reference: str, **changes: Any) -> None:
    body = example(name)
    body["source"]["reference"] = reference
    body.update(changes)
    answer = await sp.client.post("/v1/reports", json=body, headers=bearer(key))
    assert answer.status_code == 202, answer.text


def figures(answer: dict[str, Any], measure: str) -> dict[tuple[tuple[str, str], ...], Any]:
    """A measure's rows as {(breakdown items, ..., statistic): value}."""
    return {
        (*sorted(row["breakdown"].items()), ("statistic", row["statistic"])): row["value"]
        for row in answer["rows"]
        if row["measure"] == measure
    }


async def test_contacts_are_counted_by_source_and_concern_each_report_once(
    signpost: Signpost,
) -> None:
    signpost.clock.set(START - timedelta(days=1))  # Sunday: before the period
    police, school = await police_key(signpost), await school_key(signpost)
    await submit(signpost, police, "police-report.json", "DP-OLD")
    signpost.clock.set(START)
    await submit(signpost, police, "police-report.json", "DP-1")
    # A correction of DP-1 (its newest version names another concern): still one contact.
    signpost.clock.advance(minutes=5)
    await submit(
        signpost,
        police,
        "police-report.json",
        "DP-1",
        concerns=[{"code": "physical_neglect", "detail": "Corrected: no food in the house."}],
    )
    await submit(signpost, police, "police-report.json", "DP-2")
    await submit(signpost, school, "school-report.json", "CPOMS-1")
    analyst = signpost.person("demoshire-partnership", "partnership_analyst")

    answer = await signpost.client.get(
        "/v1/measures/intake", params=PERIOD, headers=bearer(analyst)
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["service"], body["period_from"], body["period_to"]) == (
        "intake",
        "2026-11-30",
        "2026-12-01",
    )
    source = figures(body, "contacts_by_source")
    assert source[(("statistic", "count"),)] == 3  # DP-1, DP-2, CPOMS-1; not DP-OLD
    assert source[(("source", "police"), ("statistic", "count"))] == 2
    assert source[(("source", "school"), ("statistic", "count"))] == 1
    assert source[(("source", "other"), ("statistic", "count"))] == 0
    assert source[(("source", "police"), ("statistic", "share"))] == 66.7
    concern = figures(body, "contacts_by_concern")
    assert concern[(("concern", "physical_neglect"), ("statistic", "count"))] == 1  # DP-1's newest
    assert concern[(("concern", "domestic_abuse"), ("statistic", "count"))] == 1  # DP-2
    assert concern[(("concern", "absence_truancy"), ("statistic", "count"))] == 1
    assert concern[(("concern", "young_carer"), ("statistic", "count"))] == 1
    text = answer.text
    assert "DP-1" not in text and "Maya" not in text  # counts, never a report or a child


async def test_only_measures_read_may_read_them(signpost: Signpost) -> None:
    hub_key = await signpost.key("hub", "demoshire-hub", "measures:read")
    readers = [
        bearer(hub_key),
        bearer(signpost.person("demoshire-hub", "hub_manager")),
    ]
    refused = [
        bearer(await police_key(signpost)),
        bearer(signpost.person("demoshire-hub", "hub_practitioner")),
        bearer(signpost.person("safe-homes", "agency_worker")),
    ]
    for headers in readers:
        answer = await signpost.client.get("/v1/measures/intake", params=PERIOD, headers=headers)
        assert answer.status_code == 200, answer.text
    for headers in refused:
        answer = await signpost.client.get("/v1/measures/intake", params=PERIOD, headers=headers)
        assert answer.status_code == 403, answer.text
    assert (await signpost.client.get("/v1/measures/intake", params=PERIOD)).status_code == 401


async def test_a_period_that_is_not_one_is_a_422_naming_the_parameter(signpost: Signpost) -> None:
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))
    for params, field in (
        ({"from": "last month", "to": "2026-12-01"}, "from"),
        ({"from": "2026-12-01", "to": "2026-11-01"}, "to"),
        ({"to": "2026-12-01"}, "from"),
    ):
        answer = await signpost.client.get("/v1/measures/intake", params=params, headers=analyst)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_a_source_narrows_the_contacts_and_an_area_is_named_as_not_narrowed(
    signpost: Signpost,
) -> None:
    """Intake knows each report's source but not the child's local authority (routing
    places the child): `source` narrows its counts; `area` leaves them whole and says so."""
    signpost.clock.set(START)
    await submit(signpost, await police_key(signpost), "police-report.json", "DP-1")
    await submit(signpost, await school_key(signpost), "school-report.json", "CPOMS-1")
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))

    schools = await signpost.client.get(
        "/v1/measures/intake", params={**PERIOD, "source": "school"}, headers=analyst
    )
    area = await signpost.client.get(
        "/v1/measures/intake", params={**PERIOD, "area": "E06099001"}, headers=analyst
    )

    assert schools.status_code == 200, schools.text
    school = schools.json()
    assert (school["source"], school["unfiltered"]) == ("school", [])
    assert figures(school, "contacts_by_source")[(("statistic", "count"),)] == 1
    assert (
        figures(school, "contacts_by_source")[(("source", "police"), ("statistic", "count"))] == 0
    )
    assert (("concern", "domestic_abuse"), ("statistic", "count")) not in figures(
        school, "contacts_by_concern"
    )
    whole = area.json()
    assert whole["area"] == "E06099001"
    assert whole["unfiltered"] == ["contacts_by_source", "contacts_by_concern"]
    assert figures(whole, "contacts_by_source")[(("statistic", "count"),)] == 2
