"""`GET /v1/referrals`: the referrals addressed to the caller's organisation (the hub:
every referral), newest first by `routed_at` then `referral_id`, a page at a time by
following the `Link` header with the same filters; `limit` keeps the 1 to 500 (default
100) it had before cursors, and a `cursor` or `limit` that is not one it could be is a
422 naming it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import service_app
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, bearer
from tests.services.conftest import every_page as pages
from tests.services.routing.conftest import START, agency_key, hub_key, triage

# Level 2 domestic abuse goes to Safe Homes; bullying to Supporting Families; a
# narrative that needs review to the hub.
SAFE_HOMES, FAMILIES = "safe-homes", "demoshire-families"
_NEXT = re.compile(r'<(/v1/referrals\?[^>]+)>; rel="next"')


async def every_page(
    sp: Signpost, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every row of `/v1/referrals`, page by page (tests.services.conftest.every_page)."""
    return await pages(sp, "/v1/referrals", headers, **params)


def ids(listed: list[dict[str, Any]]) -> list[str]:
    return [referral["referral_id"] for referral in listed]


def named(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


def worker(sp: Signpost, person_id: str, organisation: str = SAFE_HOMES) -> dict[str, str]:
    """A person of an agency (or the hub), as the console calls routing for them."""
    role = "hub_practitioner" if organisation == "demoshire-hub" else "agency_worker"
    return bearer(sp.person(organisation, role, person_id=person_id, name=person_id.title()))


async def act(sp: Signpost, referral_id: str, action: str, who: dict[str, str]) -> None:
    answer = await sp.client.post(f"/v1/referrals/{referral_id}/{action}", headers=who)
    assert answer.status_code == 200, answer.text


async def test_the_pages_list_every_referral_once_newest_first_when_many_share_an_instant(
    sp: Signpost,
) -> None:
    sp.clock.set(START)  # stopped: these five are routed in one instant
    together = [await triage(sp) for _ in range(5)]
    sp.clock.advance(seconds=1)
    newer = [await triage(sp) for _ in range(2)]
    newest_first = sorted(newer, reverse=True) + sorted(together, reverse=True)

    listed, links = await every_page(sp, await hub_key(sp), limit=2)

    assert ids(listed) == newest_first
    assert len(links) == 3  # four pages of 2, 2, 2 and 1
    assert all("limit=2" in link and "cursor=" in link for link in links)
    assert [r["routed_at"] for r in listed] == ["2026-11-30T09:00:01Z"] * 2 + [
        "2026-11-30T09:00:00Z"
    ] * 5
    # One page of the default size holds them all, in the same order.
    whole = await sp.client.get("/v1/referrals", headers=await hub_key(sp))
    assert ids(whole.json()) == newest_first and "link" not in whole.headers


async def test_the_link_is_there_only_when_more_follow(sp: Signpost) -> None:
    for _ in range(2):
        await triage(sp)
    key = await agency_key(sp)

    for limit, more in ((1, True), (2, False), (3, False), (500, False), (None, False)):
        params = {} if limit is None else {"limit": limit}
        r = await sp.client.get("/v1/referrals", params=params, headers=key)
        assert r.status_code == 200, r.text
        assert ("link" in r.headers) is more, limit
        assert len(r.json()) == min(limit or 100, 2)


async def test_the_link_keeps_repeated_statuses_and_who_has_them_and_each_page_keeps_to_them(
    sp: Signpost,
) -> None:
    referrals = [await triage(sp) for _ in range(6)]
    first, second, third, fourth, fifth, sixth = referrals
    ana, ben = worker(sp, "per_ana"), worker(sp, "per_ben")
    for mine in (first, second, fourth, fifth):
        await act(sp, mine, "claim", ana)
    await act(sp, second, "accept", ana)
    await act(sp, fifth, "accept", ana)
    await act(sp, fifth, "start", ana)  # in progress: not among the statuses asked for
    await act(sp, third, "claim", ben)

    listed, links = await every_page(
        sp, ana, status=["requested", "accepted"], assigned_to="per_ana", limit=1
    )

    assert ids(listed) == sorted([first, second, fourth], reverse=True)
    assert len(links) == 2
    for link in links:
        params = httpx.URL(link).params
        assert params.get_list("status") == ["requested", "accepted"]
        assert params["assigned_to"] == "per_ana" and params["limit"] == "1"
    queue, _ = await every_page(sp, ana, assigned_to="none", limit=1)
    assert ids(queue) == [sixth]


async def test_the_link_keeps_the_reason_code_and_each_page_keeps_to_it(sp: Signpost) -> None:
    review = [await triage(sp, suspected=["serious_violence"]) for _ in range(4)]
    plain = await triage(sp)
    sam = worker(sp, "per_sam", "demoshire-hub")
    await act(sp, review[0], "claim", sam)

    listed, links = await every_page(
        sp,
        await hub_key(sp),
        reason_code="needs_review",
        assigned_to="none",
        status=["requested", "accepted"],
        limit=1,
    )

    assert ids(listed) == sorted(review[1:], reverse=True)
    assert plain not in ids(listed)
    assert len(links) == 2
    for link in links:
        params = httpx.URL(link).params
        assert params["reason_code"] == "needs_review" and params["assigned_to"] == "none"
        assert params.get_list("status") == ["requested", "accepted"]


async def test_an_agency_sees_only_its_own_referrals_on_every_page(sp: Signpost) -> None:
    ours, theirs = [], []
    for _ in range(3):
        ours.append(await triage(sp))
        theirs.append(await triage(sp, concerns=["bullying"]))
    safe_homes, families = await agency_key(sp), await agency_key(sp, FAMILIES)
    hub = await hub_key(sp)

    for key, own in ((safe_homes, ours), (families, theirs), (hub, ours + theirs)):
        listed, _ = await every_page(sp, key, limit=1)
        assert ids(listed) == sorted(own, reverse=True)
    # A cursor from the hub's list (after the newest referral of all), used by an
    # agency, shows only the agency's own referrals after it.
    everything = await sp.client.get("/v1/referrals", params={"limit": 1}, headers=hub)
    [newest] = ids(everything.json())
    found = _NEXT.fullmatch(everything.headers["link"])
    assert found is not None
    cursor = httpx.URL(found[1]).params["cursor"]
    for key, own in ((safe_homes, ours), (families, theirs)):
        after, _ = await every_page(sp, key, cursor=cursor, limit=1)
        assert ids(after) == [r for r in sorted(own, reverse=True) if r < newest]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
async def test_a_limit_outside_1_to_500_is_a_422_naming_limit(sp: Signpost, limit: str) -> None:
    r = await sp.client.get("/v1/referrals", params={"limit": limit}, headers=await hub_key(sp))

    assert named(r) == ["limit"]


async def test_a_limit_of_500_is_still_accepted(sp: Signpost) -> None:
    referral_id = await triage(sp)

    r = await sp.client.get("/v1/referrals", params={"limit": 500}, headers=await agency_key(sp))

    assert r.status_code == 200, r.text
    assert ids(r.json()) == [referral_id] and "link" not in r.headers


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
async def test_a_cursor_no_list_gave_is_a_422_naming_cursor(sp: Signpost, cursor: str) -> None:
    r = await sp.client.get("/v1/referrals", params={"cursor": cursor}, headers=await hub_key(sp))

    assert named(r) == ["cursor"]


async def test_a_tampered_cursor_is_a_422_naming_cursor(sp: Signpost) -> None:
    for _ in range(2):
        await triage(sp)
    key = await agency_key(sp)
    first = await sp.client.get("/v1/referrals", params={"limit": 1}, headers=key)
    found = _NEXT.fullmatch(first.headers["link"])
    assert found is not None
    cursor = httpx.URL(found[1]).params["cursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]

    r = await sp.client.get("/v1/referrals", params={"cursor": tampered}, headers=key)

    assert named(r) == ["cursor"]


def test_the_openapi_documents_the_page_the_link_and_the_422(tmp_path: Path) -> None:
    app = service_app("routing", embedded_settings(tmp_path / "var"))
    operation = app.openapi()["paths"]["/v1/referrals"]["get"]

    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"status", "assigned_to", "reason_code", "cursor", "limit"} <= set(parameters)
    limit = parameters["limit"]["schema"]
    assert (limit["default"], limit["minimum"], limit["maximum"]) == (100, 1, 500)
    assert "Link" in operation["responses"]["200"]["headers"]
    assert "application/problem+json" in operation["responses"]["422"]["content"]
    assert "newest first by `routed_at` then `referral_id`" in operation["description"]
