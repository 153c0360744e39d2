"""`GET /v1/reports`: the calling organisation's own reports, newest first, a page at a
time by following the `Link` header; filters, and every value that is not one they could
be is a 422 naming its parameter, never an empty list."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import START, example, police_key, school_key

SUMMARY_FIELDS = {
    "referral_id",
    "status",
    "outcome",
    "source_reference",
    "received_at",
    "level",
    "priority",
    "destination",
    "status_url",
}
_NEXT = re.compile(r'<(/v1/reports\?[^>]+)>; rel="next"')


async def submit(sp: Signpost, key: str, reference: str, **changes: Any) -> str:
    """The example police report under `reference` (for the key's organisation)."""
    body = example("police-report.json")
    body["source"]["reference"] = reference
    body["source"].update(changes.pop("source", {}))
    body.update(changes)
    r = await sp.client.post("/v1/reports", json=body, headers=bearer(key))
    assert r.status_code == 202, r.text
    referral_id: str = r.json()["referral_id"]
    return referral_id


async def every_page(
    sp: Signpost, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every report listed from the first page to the last by following `Link`, and
    each link followed."""
    r = await sp.client.get("/v1/reports", params=params, headers=headers)
    listed: list[dict[str, Any]] = []
    links: list[str] = []
    while True:
        assert r.status_code == 200, r.text
        listed += r.json()
        link = r.headers.get("link")
        if link is None:
            return listed, links
        found = _NEXT.fullmatch(link)
        assert found is not None, link
        links.append(found[1])
        r = await sp.client.get(found[1], headers=headers)


def ids(listed: list[dict[str, Any]]) -> list[str]:
    return [report["referral_id"] for report in listed]


def named(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


async def test_the_pages_list_every_report_once_newest_first_when_many_share_a_time(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    signpost.clock.set(START)  # stopped: these five are received in one instant
    together = [await submit(signpost, key, f"DP-{n}") for n in range(5)]
    signpost.clock.advance(seconds=1)
    newer = [await submit(signpost, key, f"DP-new-{n}") for n in range(2)]
    newest_first = sorted(newer, reverse=True) + sorted(together, reverse=True)

    listed, links = await every_page(signpost, bearer(key), limit=2, received_from="2026-11-30")

    assert ids(listed) == newest_first
    assert len(links) == 3  # four pages of 2, 2, 2 and 1
    for link in links:
        assert "limit=2" in link and "received_from=2026-11-30" in link
    assert all(set(report) == SUMMARY_FIELDS for report in listed)
    assert listed[0]["status_url"] == f"/v1/reports/{newest_first[0]}"
    assert listed[-1]["received_at"] == "2026-11-30T09:00:00Z"


async def test_the_link_is_there_only_when_more_follow(signpost: Signpost) -> None:
    key = await police_key(signpost)
    for n in range(2):
        await submit(signpost, key, f"DP-{n}")

    for limit, more in ((1, True), (2, False), (3, False), (None, False)):
        params = {} if limit is None else {"limit": limit}
        r = await signpost.client.get("/v1/reports", params=params, headers=bearer(key))
        assert r.status_code == 200, r.text
        assert ("link" in r.headers) is more, limit
        assert len(r.json()) == min(limit or 50, 2)


async def test_the_link_keeps_the_filters_and_each_page_keeps_to_them(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    first = await submit(signpost, key, "DP-1")
    second = await submit(signpost, key, "DP-1", narrative="Update: the father was charged.")
    third = await submit(signpost, key, "DP-1", narrative="Update: bail conditions set.")
    await submit(signpost, key, "DP-2")

    listed, links = await every_page(signpost, bearer(key), reference="DP-1", limit=1)

    assert ids(listed) == [third, second, first]
    assert all("reference=DP-1" in link and "limit=1" in link for link in links)


async def test_a_person_of_the_force_lists_and_follows_the_reports_its_system_submitted(
    signpost: Signpost,
) -> None:
    system = await police_key(signpost)
    referral_id = await submit(signpost, system, "DP-1")
    officer = bearer(signpost.person("demo-police", "referrer", person_id="per_lee"))

    listed = await signpost.client.get("/v1/reports", headers=officer)
    followed = await signpost.client.get(f"/v1/reports/{referral_id}", headers=officer)

    assert listed.status_code == 200, listed.text
    assert ids(listed.json()) == [referral_id]
    assert followed.status_code == 200 and followed.json()["referral_id"] == referral_id


async def test_another_organisations_reports_are_never_listed_nor_followed(
    signpost: Signpost,
) -> None:
    ours_key = await police_key(signpost)
    theirs_key = await police_key(signpost, "other-force")
    ours = await submit(signpost, ours_key, "DP-1")
    theirs = await submit(signpost, theirs_key, "DP-1", source={"organisation": "other-force"})
    school = await school_key(signpost)
    officer_elsewhere = signpost.person("other-force", "referrer", person_id="per_kim")
    dsl = signpost.person("100001", "school_dsl", person_id="per_dsl")

    for key, own in ((ours_key, [ours]), (theirs_key, [theirs]), (officer_elsewhere, [theirs])):
        listed, _ = await every_page(signpost, bearer(key))
        assert ids(listed) == own
    for stranger in (theirs_key, officer_elsewhere, school, dsl):
        listed, _ = await every_page(signpost, bearer(stranger), reference="DP-1")
        assert ours not in ids(listed)
        seen = await signpost.client.get(f"/v1/reports/{ours}", headers=bearer(stranger))
        assert seen.status_code == 404, seen.text


async def test_a_school_key_lists_none_of_a_forces_reports(signpost: Signpost) -> None:
    police = await police_key(signpost)
    await submit(signpost, police, "DP-1")
    school = await school_key(signpost)

    r = await signpost.client.get("/v1/reports", headers=bearer(school))

    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize("status", ["declined", "closed", "Routed", "in_progress", "received "])
async def test_an_unknown_status_is_a_422_naming_status(signpost: Signpost, status: str) -> None:
    key = await police_key(signpost)
    await submit(signpost, key, "DP-1")

    r = await signpost.client.get("/v1/reports", params={"status": status}, headers=bearer(key))

    assert named(r) == ["status"]


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "",
        "W10",  # `[]`
        "eyJhdCI6ICIyMDI2LTExLTMwIn0",  # {"at": "2026-11-30"}
        "a" * 500,
    ],
)
async def test_a_cursor_no_list_gave_is_a_422_naming_cursor(
    signpost: Signpost, cursor: str
) -> None:
    key = await police_key(signpost)

    r = await signpost.client.get("/v1/reports", params={"cursor": cursor}, headers=bearer(key))

    assert named(r) == ["cursor"]


async def test_a_tampered_cursor_is_a_422_naming_cursor(signpost: Signpost) -> None:
    key = await police_key(signpost)
    for n in range(2):
        await submit(signpost, key, f"DP-{n}")
    first = await signpost.client.get("/v1/reports", params={"limit": 1}, headers=bearer(key))
    found = _NEXT.fullmatch(first.headers["link"])
    assert found is not None
    cursor = dict(httpx.URL(found[1]).params)["cursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]

    r = await signpost.client.get("/v1/reports", params={"cursor": tampered}, headers=bearer(key))

    assert named(r) == ["cursor"]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5"])
async def test_a_limit_outside_1_to_200_is_a_422_naming_limit(
    signpost: Signpost, limit: str
) -> None:
    key = await police_key(signpost)

    r = await signpost.client.get("/v1/reports", params={"limit": limit}, headers=bearer(key))

    assert named(r) == ["limit"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"received_from": "yesterday"}, "received_from"),
        ({"received_to": "2026-11-31"}, "received_to"),
        ({"received_from": "2026-11-30T09:00:00"}, "received_from"),  # which zone?
        ({"received_from": "2026-12-01", "received_to": "2026-11-30"}, "received_to"),
        ({"reference": "x" * 65}, "reference"),
    ],
)
async def test_a_filter_value_that_is_not_one_is_a_422_naming_it(
    signpost: Signpost, params: dict[str, str], field: str
) -> None:
    key = await police_key(signpost)

    r = await signpost.client.get("/v1/reports", params=params, headers=bearer(key))

    assert named(r) == [field]


async def test_the_list_filters_by_time_received(signpost: Signpost) -> None:
    key = await police_key(signpost)
    signpost.clock.set(START)
    at_nine = await submit(signpost, key, "DP-1")
    signpost.clock.set(START.replace(hour=10))
    at_ten = await submit(signpost, key, "DP-2")

    async def between(**params: str) -> list[str]:
        listed, _ = await every_page(signpost, bearer(key), **params)
        return ids(listed)

    assert await between(received_from="2026-11-30T10:00:00Z") == [at_ten]
    assert await between(received_to="2026-11-30T10:00:00Z") == [at_nine]
    assert await between(received_from="2026-11-30T10:00:00+01:00") == [at_ten, at_nine]
    assert await between(received_from="2026-11-30", received_to="2026-12-01") == [
        at_ten,
        at_nine,
    ]
    assert await between(received_from="2026-12-01") == []
