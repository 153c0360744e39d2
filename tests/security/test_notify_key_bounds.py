"""A key may only speak for what it is (issue 12, items 1 and 2), at notify.

Who subscribes (organisation, kind of partner, client) is the key's: a subscription body
that names any of them is refused, not quietly ignored, and what is stored is the key's.
Every other notify endpoint takes the caller from the key alone: naming another
organisation in a query changes nothing, and another organisation's subscription,
delivery or notice is not found. Hostile text (control characters, bidirectional
overrides, NUL) in a body, a path or a query is a 4xx naming the field, or is stored
exactly: never a 500, never half a subscription; on PostgreSQL too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AnyHttpUrl
from sqlmodel import select

from services.apps import service_app
from services.notify.models import Delivery, WebhookSubscription
from services.notify.settings import header_seal_of
from shared.settings import embedded_settings
from tests.conftest import create_database
from tests.security.hostile import hostile_text
from tests.services.conftest import Signpost, bearer
from tests.services.conftest import signpost as signpost  # the embedded app, as a fixture

ROUTED = "org.signpost.referral.routed.v1"
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def stored(sp: Signpost) -> list[WebhookSubscription]:
    async with sp.app.state.runtimes["notify"].ctx.db.session() as session:
        return list((await session.exec(select(WebhookSubscription))).all())


def fields_of(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


# --- who subscribes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "claim",
    [
        {"organisation": "demoshire-hub"},
        {"client_kind": "hub"},
        {"kind": "hub"},
        {"client_id": "someone-else"},
        {"local_target": True},
        {"secret": "whsec_" + "A" * 32},
        {"id": "sub_demo_sink"},
        {"status": "active"},
    ],
)
async def test_a_subscription_body_that_says_who_subscribes_is_refused_naming_the_field(
    signpost: Signpost, claim: dict[str, Any]
) -> None:
    agency = bearer(await signpost.key("agency", "safe-homes", "subscriptions:write"))
    answer = await signpost.client.post(
        "/v1/subscriptions",
        headers=agency,
        json={"url": "https://127.0.0.1:9/hooks", "event_types": [ROUTED], **claim},
    )
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == list(claim)
    assert await stored(signpost) == []


async def test_a_subscription_is_the_keys_organisation_and_kind(signpost: Signpost) -> None:
    agency = bearer(await signpost.key("agency", "safe-homes", "subscriptions:write"))
    created = await signpost.client.post(
        "/v1/subscriptions",
        headers=agency,
        json={"url": "https://127.0.0.1:9/hooks", "event_types": [ROUTED]},
    )
    assert created.status_code == 201, created.text
    [row] = await stored(signpost)
    assert (row.organisation, row.client_kind) == ("safe-homes", "agency")
    hub = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    assert (await signpost.client.get("/v1/subscriptions", headers=hub)).json() == []


async def test_deliveries_are_the_keys_organisations_whatever_the_query_names(
    signpost: Signpost,
) -> None:
    hub = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    agency = bearer(await signpost.key("agency", "safe-homes", "subscriptions:write"))
    body = {"url": "https://127.0.0.1:9/hooks", "event_types": [ROUTED]}
    hub_sub = (await signpost.client.post("/v1/subscriptions", headers=hub, json=body)).json()
    ping = await signpost.client.post(f"/v1/subscriptions/{hub_sub['id']}/ping", headers=hub)
    theirs = ping.json()["id"]
    for query in (
        {"organisation": "demoshire-hub"},
        {"subscription_id": hub_sub["id"]},
        {"client_kind": "hub"},
    ):
        listed = await signpost.client.get("/v1/deliveries", headers=agency, params=query)
        assert listed.status_code == 200 and listed.json() == [], query
    for method, path in (
        ("GET", f"/v1/deliveries/{theirs}"),
        ("POST", f"/v1/deliveries/{theirs}/replay"),
    ):
        answer = await signpost.client.request(
            method, path, headers=agency, params={"organisation": "demoshire-hub"}
        )
        assert answer.status_code == 404, (method, path, answer.text)
    own = await signpost.client.get("/v1/deliveries", headers=hub)
    assert [d["id"] for d in own.json()] == [theirs]


# --- hostile text in a subscription --------------------------------------------------


def hostile_subscription() -> st.SearchStrategy[dict[str, Any]]:
    """A subscription body with hostile text in one or more of its strings."""
    text = hostile_text(max_size=40)
    return st.fixed_dictionaries(
        {
            "url": st.one_of(
                text.map(lambda t: "https://partner.example/" + t),
                text.map(lambda t: "https://" + t + ".example/hooks"),
                st.just("https://partner.example/hooks"),
            ),
            "event_types": st.one_of(st.just([ROUTED]), st.lists(text, min_size=1, max_size=2)),
        },
        optional={
            "headers": st.dictionaries(
                st.one_of(st.just("X-Api-Key"), st.just("Authorization"), text),
                text,
                max_size=2,
            ),
            "filter": st.one_of(
                st.fixed_dictionaries({"priorities": st.lists(text, min_size=1, max_size=2)}),
                st.fixed_dictionaries({"destination_kinds": st.lists(text, min_size=1)}),
                st.fixed_dictionaries({"min_level": st.one_of(st.booleans(), text)}),
            ),
        },
    )


@PROPERTY
@given(body=hostile_subscription())
async def test_a_subscription_with_hostile_text_is_refused_whole_or_stored_exactly(
    signpost: Signpost, body: dict[str, Any]
) -> None:
    key = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    before = await stored(signpost)
    answer = await signpost.client.post("/v1/subscriptions", headers=key, json=body)
    assert answer.status_code != 500, answer.text
    after = await stored(signpost)
    if answer.status_code == 201:
        [new] = [s for s in after if s.id == answer.json()["id"]]
        assert new.url == str(AnyHttpUrl(body["url"]))
        assert new.event_types == sorted(set(body["event_types"]))
        if body.get("headers"):
            seal = header_seal_of(signpost.app.state.runtimes["notify"].ctx)
            assert seal is not None and new.sealed_headers is not None
            assert seal.open(new.sealed_headers) == body["headers"]
        assert len(after) == len(before) + 1
    else:
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert {f.split(".")[0] for f in fields_of(answer)} <= set(body)
        assert len(after) == len(before)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "https://partner.example/ho\x00oks"),
        ("url", "https://partner.example/\u202ehooks"),
        ("url", "https://partner.example/hooks\n"),
        ("headers", {"X-Api-Key": "k\x00"}),
        ("headers", {"X-Api-Key": "\u202ek"}),
    ],
)
async def test_a_control_or_bidi_character_in_a_subscription_is_refused_naming_the_field(
    signpost: Signpost, field: str, value: Any
) -> None:
    key = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    body = {"url": "https://partner.example/hooks", "event_types": [ROUTED], field: value}
    answer = await signpost.client.post("/v1/subscriptions", headers=key, json=body)
    assert answer.status_code == 422, answer.text
    assert {f.split(".")[0] for f in fields_of(answer)} == {field}
    assert "\x00" not in answer.text and "\u202e" not in answer.text
    assert await stored(signpost) == []


async def test_a_filters_level_is_a_number_not_a_boolean_or_text(signpost: Signpost) -> None:
    key = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    for level in (True, "3", 3.0):
        answer = await signpost.client.post(
            "/v1/subscriptions",
            headers=key,
            json={
                "url": "https://partner.example/hooks",
                "event_types": [ROUTED],
                "filter": {"min_level": level},
            },
        )
        assert answer.status_code == 422, (level, answer.text)
        assert fields_of(answer) == ["filter.min_level"]
    assert await stored(signpost) == []


# --- hostile ids in paths and queries, on each backend ------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def notify_api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Signpost]:
    """Notify alone on SQLite or on a real PostgreSQL database, through its API."""
    given: dict[str, object] = {}
    if request.param == "postgres":
        admin: str = request.getfixturevalue("postgres_admin_url")
        given["database_url"] = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    app = service_app(
        "notify",
        embedded_settings(
            tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True, **given
        ),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
            yield Signpost(app, client, app.state.key_registry)


ID_ROUTES = [
    ("GET", "/v1/subscriptions/{}"),
    ("POST", "/v1/subscriptions/{}/pause"),
    ("POST", "/v1/subscriptions/{}/ping"),
    ("DELETE", "/v1/subscriptions/{}"),
    ("GET", "/v1/deliveries/{}"),
    ("POST", "/v1/deliveries/{}/replay"),
    ("GET", "/v1/encompass/notices/{}"),
    ("POST", "/v1/encompass/notices/{}/acknowledge"),
    ("GET", "/v1/encompass/notices/{}/reads"),
]
ID_QUERIES = [
    ("/v1/deliveries", "subscription_id"),
    ("/v1/encompass/notices", "referral_id"),
]


async def everything_key(sp: Signpost) -> dict[str, str]:
    return bearer(
        await sp.key(
            "school",
            "100001",
            "subscriptions:write",
            "encompass:read",
            "encompass:acknowledge",
        )
    )


@pytest.mark.parametrize("text", ["sub_\x00", "msg_a\x00b", "\u202esub", "ref\n"])
async def test_an_id_with_a_nul_or_control_character_is_refused_before_any_route(
    notify_api: Signpost, text: str
) -> None:
    key = await everything_key(notify_api)
    for method, path in ID_ROUTES:
        answer = await notify_api.client.request(
            method, path.format(quote(text, safe="")), headers=key
        )
        assert answer.status_code == 400, (method, path, answer.text)
        assert answer.json()["type"].endswith("/forbidden-character")
    for path, name in ID_QUERIES:
        answer = await notify_api.client.get(path, headers=key, params={name: text})
        assert answer.status_code == 422, (path, answer.text)
        assert fields_of(answer) == [name]


async def test_an_id_that_cannot_be_one_is_a_422_naming_it(notify_api: Signpost) -> None:
    key = await everything_key(notify_api)
    for method, path in ID_ROUTES:
        answer = await notify_api.client.request(method, path.format("x" * 65), headers=key)
        assert answer.status_code == 422, (method, path, answer.text)
        [name] = {f for f in fields_of(answer)}
        assert name.endswith("_id"), answer.text
    for path, name in ID_QUERIES:
        answer = await notify_api.client.get(path, headers=key, params={name: "x" * 65})
        assert answer.status_code == 422, (path, answer.text)
        assert fields_of(answer) == [name]


@PROPERTY
@given(text=hostile_text(max_size=70))
async def test_any_text_as_an_id_is_a_4xx_or_an_answer_never_a_500(
    notify_api: Signpost, text: str
) -> None:
    key = await everything_key(notify_api)
    for method, path in ID_ROUTES:
        answer = await notify_api.client.request(
            method, path.format(quote(text, safe="")), headers=key
        )
        # Not found, not valid, or (a "/" in it) no such route or a slash redirected. "."
        # and ".." are dot segments, removed by every client before a request is sent
        # (RFC 3986 5.2.4): "/v1/subscriptions/." asks for the list, and may be answered.
        lowest = 200 if text in {".", ".."} else 300
        assert lowest <= answer.status_code < 500, (method, path, answer.text)
    for path, name in ID_QUERIES:
        answer = await notify_api.client.get(path, headers=key, params={name: text})
        assert answer.status_code in (200, 422), (path, answer.text)
        if answer.status_code == 200:
            assert answer.json() == []
    async with notify_api.app.state.runtimes["notify"].ctx.db.session() as session:
        assert (await session.exec(select(Delivery))).all() == []
