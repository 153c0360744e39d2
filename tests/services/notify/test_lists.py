"""Notify's three lists, a page at a time by following the `Link` header: deliveries and
subscriptions oldest first, Operation Encompass notices newest first (or, polled with
`after`, oldest first in the order notify recorded them). Every row is listed once, in
a stable order even when many share an instant; the Link is there only when more follow
and keeps the filters; a `limit` or `cursor` that is not one is a 422 naming it; and no
page shows another organisation's rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.envelope import new_event
from shared.events import EncompassNotice, EventType
from shared.runtime import ServiceContext
from tests.services.conftest import Signpost, bearer, every_page
from tests.services.notify.conftest import consume

ROUTED = "org.signpost.referral.routed.v1"
SUBSCRIPTIONS, DELIVERIES, NOTICES = "/v1/subscriptions", "/v1/deliveries", "/v1/encompass/notices"
LISTS = (SUBSCRIPTIONS, DELIVERIES, NOTICES)
# Saturday morning: every notice below is still pending (its deadline is Monday's bell).
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def params_of(link: str) -> dict[str, list[str]]:
    query = httpx.URL(link).params
    return {name: query.get_list(name) for name in query}


def named(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


def ids(listed: list[dict[str, Any]], field: str = "id") -> list[str]:
    return [row[field] for row in listed]


# ----------------------------------------------------------------- making rows


async def manager(sp: Signpost, kind: str = "hub", organisation: str = "demoshire-hub") -> str:
    return await sp.key(kind, organisation, "subscriptions:write")


async def subscribe(sp: Signpost, key: str, *, paused: bool = False) -> str:
    r = await sp.client.post(
        SUBSCRIPTIONS,
        headers=bearer(key),
        json={"url": "http://127.0.0.1:9/hooks", "event_types": [ROUTED]},
    )
    assert r.status_code == 201, r.text
    subscription_id: str = r.json()["id"]
    if paused:  # its deliveries wait, pending, and are never sent
        r = await sp.client.post(f"{SUBSCRIPTIONS}/{subscription_id}/pause", headers=bearer(key))
        assert r.status_code == 200, r.text
    return subscription_id


async def ping(sp: Signpost, key: str, subscription_id: str) -> str:
    """A delivery (the test notification) to the subscription."""
    r = await sp.client.post(f"{SUBSCRIPTIONS}/{subscription_id}/ping", headers=bearer(key))
    assert r.status_code == 202, r.text
    delivery_id: str = r.json()["id"]
    return delivery_id


def notify_ctx(sp: Signpost) -> ServiceContext:
    ctx: ServiceContext = sp.app.state.runtimes["notify"].ctx
    return ctx


async def record_notice(
    sp: Signpost, notice_id: str, *, received_at: datetime, school_urn: str = "100001"
) -> None:
    """Notify records a notice to the school, received by intake at `received_at`."""
    notice = EncompassNotice.model_validate(
        {
            "notice_id": notice_id,
            "referral_id": notice_id.replace("enc_", "ref_"),
            "referrer_organisation": "demo-police",
            "referrer_reference": f"DP-{notice_id}",
            "school_urn": school_urn,
            "child": {
                "given_name": f"Child {notice_id}",
                "family_name": "Example",
                "present": True,
                "whereabouts": "same_room",
            },
            "incident": {
                "police_reference": "INC-1",
                "occurred_at": "2026-11-27T23:05:00Z",
                "location": "Family home",
                "circumstances": "A parent was arrested.",
            },
            "received_at": received_at.isoformat(),
        }
    )
    event = new_event(
        time=received_at,
        type=EventType.ENCOMPASS_NOTICE,
        source="/tests/intake",
        subject=notice.referral_id,
        partitionkey=notice_id,
        data=notice,
    )
    await consume(notify_ctx(sp), event)


async def reader(sp: Signpost, urn: str = "100001") -> dict[str, str]:
    return bearer(await sp.key("school", urn, "encompass:read"))


async def two_rows(sp: Signpost, path: str) -> dict[str, str]:
    """Two rows in the list at `path`, and the headers of a caller who sees them."""
    sp.clock.set(START)
    if path == NOTICES:
        for n in range(2):
            await record_notice(sp, f"enc_{n}", received_at=START - timedelta(minutes=n))
        return await reader(sp)
    key = await manager(sp)
    if path == SUBSCRIPTIONS:
        for _ in range(2):
            await subscribe(sp, key)
    else:
        sub = await subscribe(sp, key, paused=True)
        for _ in range(2):
            await ping(sp, key, sub)
    return bearer(key)


# ------------------------------------------------------------------ subscriptions


async def test_the_subscriptions_pages_list_each_once_oldest_first_when_many_share_an_instant(
    signpost: Signpost,
) -> None:
    key = await manager(signpost)
    signpost.clock.set(START)  # stopped: these five are created in one instant
    together = [await subscribe(signpost, key) for _ in range(5)]
    signpost.clock.advance(seconds=1)
    later = [await subscribe(signpost, key) for _ in range(2)]

    listed, links = await every_page(signpost, SUBSCRIPTIONS, bearer(key), limit=2)

    assert ids(listed) == sorted(together) + sorted(later)
    assert len(links) == 3  # four pages: 2, 2, 2 and 1
    assert all(params_of(link)["limit"] == ["2"] for link in links)
    assert all("secret" not in sub for sub in listed)


async def test_another_organisations_subscriptions_are_on_no_page(signpost: Signpost) -> None:
    ours_key, theirs_key = await manager(signpost), await manager(signpost, "agency", "safe-homes")
    signpost.clock.set(START)
    ours, theirs = [], []
    for _ in range(3):  # interleaved, in one instant
        ours.append(await subscribe(signpost, ours_key))
        theirs.append(await subscribe(signpost, theirs_key))

    listed_ours, _ = await every_page(signpost, SUBSCRIPTIONS, bearer(ours_key), limit=1)
    listed_theirs, links = await every_page(signpost, SUBSCRIPTIONS, bearer(theirs_key), limit=1)
    # Their page's cursor shows us only our own after it.
    following_theirs, _ = await every_page(
        signpost, SUBSCRIPTIONS, bearer(ours_key), **params_of(links[0])
    )

    assert ids(listed_ours) == sorted(ours)
    assert ids(listed_theirs) == sorted(theirs)
    assert set(ids(following_theirs)) <= set(ours)


# ------------------------------------------------------------------ deliveries


async def test_the_deliveries_pages_list_each_once_oldest_first_when_many_share_an_instant(
    signpost: Signpost,
) -> None:
    key = await manager(signpost)
    signpost.clock.set(START)
    first, second = [await subscribe(signpost, key, paused=True) for _ in range(2)]
    # Stopped: these five are queued in one instant, to both subscriptions.
    together = [await ping(signpost, key, sub) for sub in (first, second, first, second, first)]
    signpost.clock.advance(seconds=1)
    later = [await ping(signpost, key, sub) for sub in (second, first)]

    listed, links = await every_page(signpost, DELIVERIES, bearer(key), limit=2)

    assert ids(listed) == sorted(together) + sorted(later)
    assert len(links) == 3
    assert all(params_of(link)["limit"] == ["2"] for link in links)
    assert all(delivery["status"] == "pending" for delivery in listed)


async def test_the_deliveries_link_keeps_the_filters_and_each_page_keeps_to_them(
    signpost: Signpost,
) -> None:
    key = await manager(signpost)
    signpost.clock.set(START)
    first, second = [await subscribe(signpost, key, paused=True) for _ in range(2)]
    mine = [await ping(signpost, key, first) for _ in range(3)]
    others = [await ping(signpost, key, second) for _ in range(2)]
    signpost.clock.advance(minutes=1)
    mine.append(await ping(signpost, key, first))

    listed, links = await every_page(
        signpost, DELIVERIES, bearer(key), subscription_id=first, status="pending", limit=1
    )
    none_parked, _ = await every_page(
        signpost, DELIVERIES, bearer(key), subscription_id=first, status="parked", limit=1
    )

    assert ids(listed) == sorted(mine[:3]) + mine[3:]
    assert not set(ids(listed)) & set(others)
    assert len(links) == 3
    for link in links:
        given = params_of(link)
        assert given["subscription_id"] == [first] and given["status"] == ["pending"]
        assert given["limit"] == ["1"] and len(given["cursor"]) == 1
    assert none_parked == []


async def test_another_organisations_deliveries_are_on_no_page(signpost: Signpost) -> None:
    ours_key, theirs_key = await manager(signpost), await manager(signpost, "agency", "safe-homes")
    signpost.clock.set(START)
    ours_sub = await subscribe(signpost, ours_key, paused=True)
    theirs_sub = await subscribe(signpost, theirs_key, paused=True)
    ours, theirs = [], []
    for _ in range(3):  # interleaved, in one instant
        ours.append(await ping(signpost, ours_key, ours_sub))
        theirs.append(await ping(signpost, theirs_key, theirs_sub))

    listed_ours, _ = await every_page(signpost, DELIVERIES, bearer(ours_key), limit=1)
    listed_theirs, links = await every_page(signpost, DELIVERIES, bearer(theirs_key), limit=1)
    asking_for_theirs, _ = await every_page(
        signpost, DELIVERIES, bearer(ours_key), subscription_id=theirs_sub, limit=1
    )
    following_theirs, _ = await every_page(
        signpost, DELIVERIES, bearer(ours_key), **params_of(links[0])
    )

    assert ids(listed_ours) == sorted(ours)
    assert ids(listed_theirs) == sorted(theirs)
    assert asking_for_theirs == []
    assert set(ids(following_theirs)) <= set(ours)


# ------------------------------------------------------------------ Encompass notices

# (notice, received at, school) in the order notify records them: not the order intake
# received them, and three received in one instant.
AT = START - timedelta(hours=1)
RECORDED = [
    ("enc_c", AT, "100001"),
    ("enc_early", AT - timedelta(minutes=5), "100001"),
    ("enc_a", AT, "100001"),
    ("enc_other1", AT, "100002"),
    ("enc_late", AT + timedelta(minutes=5), "100001"),
    ("enc_b", AT, "100001"),
    ("enc_other2", AT + timedelta(minutes=1), "100002"),
    ("enc_last", AT - timedelta(minutes=1), "100001"),
]
OURS = [notice for notice, _, school in RECORDED if school == "100001"]
THEIRS = [notice for notice, _, school in RECORDED if school == "100002"]
# Newest first by when intake received each, then the greatest id.
NEWEST_FIRST = ["enc_late", "enc_c", "enc_b", "enc_a", "enc_last", "enc_early"]


async def record_them(sp: Signpost) -> None:
    sp.clock.set(START)
    for notice_id, received_at, school in RECORDED:
        await record_notice(sp, notice_id, received_at=received_at, school_urn=school)


async def test_the_notices_pages_list_each_once_newest_first_when_many_share_an_instant(
    signpost: Signpost,
) -> None:
    await record_them(signpost)
    school = await reader(signpost)

    listed, links = await every_page(signpost, NOTICES, school, limit=2, status="pending")

    assert ids(listed, "notice_id") == NEWEST_FIRST
    assert len(links) == 2
    for link in links:
        given = params_of(link)
        assert given["limit"] == ["2"] and given["status"] == ["pending"]
        assert len(given["cursor"]) == 1 and "after" not in given
    assert all(notice["status"] == "pending" for notice in listed)


async def test_a_school_polls_oldest_first_following_after_in_the_link(
    signpost: Signpost,
) -> None:
    await record_them(signpost)
    school = await reader(signpost)

    listed, links = await every_page(signpost, NOTICES, school, after=0, limit=2, status="pending")
    rest, rest_links = await every_page(signpost, NOTICES, school, after=listed[2]["cursor"])

    assert ids(listed, "notice_id") == OURS  # in the order notify recorded them
    cursors = [notice["cursor"] for notice in listed]
    assert cursors == sorted(cursors)
    assert len(links) == 2  # 2, 2 and 2: the last page ends where the notices do
    for n, link in enumerate(links):
        given = params_of(link)
        assert given["after"] == [str(cursors[2 * n + 1])]
        assert given["limit"] == ["2"] and given["status"] == ["pending"]
        assert "cursor" not in given
    assert ids(rest, "notice_id") == OURS[3:] and rest_links == []


async def test_the_poll_has_a_link_only_when_more_follow(signpost: Signpost) -> None:
    await record_them(signpost)
    school = await reader(signpost)

    for limit, more in ((5, True), (6, False), (7, False)):
        r = await signpost.client.get(NOTICES, params={"after": 0, "limit": limit}, headers=school)
        assert r.status_code == 200, r.text
        assert ("link" in r.headers) is more, limit
        assert len(r.json()) == min(limit, len(OURS))


async def test_another_schools_notices_are_on_no_page_and_in_no_poll(signpost: Signpost) -> None:
    await record_them(signpost)
    ours, theirs = await reader(signpost), await reader(signpost, "100002")
    other_force = bearer(await signpost.key("police", "other-force", "encompass:read"))
    force = bearer(await signpost.key("police", "demo-police", "encompass:read"))

    for headers, own in ((ours, OURS), (theirs, THEIRS)):
        listed, _ = await every_page(signpost, NOTICES, headers, limit=1)
        polled, _ = await every_page(signpost, NOTICES, headers, after=0, limit=1)
        assert sorted(ids(listed, "notice_id")) == sorted(own)
        assert ids(polled, "notice_id") == own
    _, links = await every_page(signpost, NOTICES, ours, limit=1)
    following_ours, _ = await every_page(signpost, NOTICES, theirs, **params_of(links[0]))
    assert set(ids(following_ours, "notice_id")) <= set(THEIRS)
    assert (await every_page(signpost, NOTICES, other_force, limit=1))[0] == []
    by_force, _ = await every_page(signpost, NOTICES, force, limit=3)
    assert sorted(ids(by_force, "notice_id")) == sorted(OURS + THEIRS)


async def test_after_and_cursor_together_are_a_422_naming_cursor(signpost: Signpost) -> None:
    headers = await two_rows(signpost, NOTICES)
    first = await signpost.client.get(NOTICES, params={"limit": 1}, headers=headers)
    [cursor] = params_of(first.headers["link"])["cursor"]

    r = await signpost.client.get(NOTICES, params={"after": 0, "cursor": cursor}, headers=headers)

    assert named(r) == ["cursor"]
    assert "one or the other" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("after", ["-1", "yesterday", str(2**63)])
async def test_an_after_that_is_no_notices_cursor_is_a_422_naming_after(
    signpost: Signpost, after: str
) -> None:
    headers = await reader(signpost)

    r = await signpost.client.get(NOTICES, params={"after": after}, headers=headers)

    assert named(r) == ["after"]


# ------------------------------------------------------------------ every list


@pytest.mark.parametrize("path", LISTS)
async def test_the_link_is_there_only_when_more_follow(signpost: Signpost, path: str) -> None:
    headers = await two_rows(signpost, path)

    for limit, more in ((1, True), (2, False), (3, False), (500, False), (None, False)):
        params = {} if limit is None else {"limit": limit}
        r = await signpost.client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert ("link" in r.headers) is more, (path, limit)
        assert len(r.json()) == min(limit or 100, 2)


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
@pytest.mark.parametrize("path", LISTS)
async def test_a_limit_outside_1_to_500_is_a_422_naming_limit(
    signpost: Signpost, path: str, limit: str
) -> None:
    headers = await reader(signpost) if path == NOTICES else bearer(await manager(signpost))

    r = await signpost.client.get(path, params={"limit": limit}, headers=headers)

    assert named(r) == ["limit"]


@pytest.mark.parametrize("path", LISTS)
async def test_a_tampered_cursor_is_a_422_naming_cursor(signpost: Signpost, path: str) -> None:
    headers = await two_rows(signpost, path)
    first = await signpost.client.get(path, params={"limit": 1}, headers=headers)
    [cursor] = params_of(first.headers["link"])["cursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]

    for bad in (tampered, "nonsense", "", "a" * 500):
        r = await signpost.client.get(path, params={"cursor": bad}, headers=headers)
        assert named(r) == ["cursor"], bad
    followed = await signpost.client.get(path, params={"cursor": cursor}, headers=headers)
    assert followed.status_code == 200 and len(followed.json()) == 1


@pytest.mark.parametrize("path", LISTS)
async def test_each_list_documents_its_link_and_its_422(signpost: Signpost, path: str) -> None:
    spec = (await signpost.client.get("/openapi.json")).json()
    operation = spec["paths"][path]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert "Link" in operation["responses"]["200"]["headers"]
    assert "application/problem+json" in operation["responses"]["422"]["content"]
    assert parameters["limit"]["schema"]["maximum"] == 500
    assert parameters["limit"]["schema"]["default"] == 100
    assert "cursor" in parameters
