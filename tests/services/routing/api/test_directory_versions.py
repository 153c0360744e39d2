"""`GET /v1/directory/versions`: the directory's versions, newest first by their `seq`
(a version's name is free text, so a page ends at its number), a page at a time by
following the `Link` header; a cursor that does not end at a version's number, or a
`limit` outside 1 to 200, is a 422 naming it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import service_app
from shared.pagination import Position, encode_cursor
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, bearer
from tests.services.conftest import every_page as pages
from tests.services.routing.conftest import START

SEEDED = "demo-2026-12-1"


async def writer(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("admin", "demoshire-partnership", "directory:write"))


async def reader(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("agency", "safe-homes", "referrals:read"))


async def new_versions(sp: Signpost, count: int) -> None:
    """`count` more versions of the directory (each replacing it with itself), made in
    one instant (the routing tests' clock stands still)."""
    key = await writer(sp)
    current = (await sp.client.get("/v1/directory", headers=key)).json()
    body = {k: current[k] for k in ("area", "agencies", "authority_districts", "taxonomy_concerns")}
    for _ in range(count):
        answer = await sp.client.put("/v1/directory", headers=key, json=body)
        assert answer.status_code == 200, answer.text


_NEXT = re.compile(r'<(/v1/directory/versions\?[^>]+)>; rel="next"')


async def every_page(
    sp: Signpost, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every row of `/v1/directory/versions`, page by page (tests.services.conftest.every_page)."""
    return await pages(sp, "/v1/directory/versions", headers, **params)


def named(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


async def test_the_pages_list_every_version_once_newest_first(sp: Signpost) -> None:
    await new_versions(sp, 4)

    listed, links = await every_page(sp, await reader(sp), limit=2)

    assert [v["seq"] for v in listed] == [5, 4, 3, 2, 1]
    assert [v["version"] for v in listed] == [
        "demoshire-5",
        "demoshire-4",
        "demoshire-3",
        "demoshire-2",
        SEEDED,
    ]
    assert {v["created_at"] for v in listed} == {"2026-11-30T09:00:00Z"}  # one instant
    assert len(links) == 2  # pages of 2, 2 and 1
    assert all("limit=2" in link and "cursor=" in link for link in links)


async def test_the_link_is_there_only_when_more_follow(sp: Signpost) -> None:
    await new_versions(sp, 1)
    key = await reader(sp)

    for limit, more in ((1, True), (2, False), (200, False), (None, False)):
        params = {} if limit is None else {"limit": limit}
        r = await sp.client.get("/v1/directory/versions", params=params, headers=key)
        assert r.status_code == 200, r.text
        assert ("link" in r.headers) is more, limit
        assert [v["seq"] for v in r.json()] == [2, 1][: limit or 50]


async def test_a_version_made_between_pages_is_not_on_the_next_page(sp: Signpost) -> None:
    await new_versions(sp, 2)
    key = await reader(sp)
    first = await sp.client.get("/v1/directory/versions", params={"limit": 1}, headers=key)
    found = _NEXT.fullmatch(first.headers["link"])
    assert found is not None

    await new_versions(sp, 1)
    following, _ = await every_page(sp, key, **dict(httpx.URL(found[1]).params))

    assert [v["seq"] for v in first.json()] == [3]
    assert [v["seq"] for v in following] == [2, 1]


@pytest.mark.parametrize(
    "id_",
    [
        SEEDED,  # a version's name is never where a page ends
        "demoshire-2",
        "1.5",
        "01",  # not as a list writes a number
        "9" * 19,  # more than a version's number could be
    ],
)
async def test_a_cursor_not_ending_at_a_versions_number_is_a_422_naming_cursor(
    sp: Signpost, id_: str
) -> None:
    cursor = encode_cursor(Position(at=START, id=id_))

    r = await sp.client.get(
        "/v1/directory/versions", params={"cursor": cursor}, headers=await reader(sp)
    )

    assert named(r) == ["cursor"]


@pytest.mark.parametrize("cursor", ["nonsense", "", "W10", "a" * 500])
async def test_a_cursor_no_list_gave_is_a_422_naming_cursor(sp: Signpost, cursor: str) -> None:
    r = await sp.client.get(
        "/v1/directory/versions", params={"cursor": cursor}, headers=await reader(sp)
    )

    assert named(r) == ["cursor"]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
async def test_a_limit_outside_1_to_200_is_a_422_naming_limit(sp: Signpost, limit: str) -> None:
    r = await sp.client.get(
        "/v1/directory/versions", params={"limit": limit}, headers=await reader(sp)
    )

    assert named(r) == ["limit"]


def test_the_openapi_documents_the_page_the_link_and_the_422(tmp_path: Path) -> None:
    app = service_app("routing", embedded_settings(tmp_path / "var"))
    operation = app.openapi()["paths"]["/v1/directory/versions"]["get"]

    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"cursor", "limit"}
    limit = parameters["limit"]["schema"]
    assert (limit["default"], limit["minimum"], limit["maximum"]) == (50, 1, 200)
    assert "Link" in operation["responses"]["200"]["headers"]
    assert "application/problem+json" in operation["responses"]["422"]["content"]
