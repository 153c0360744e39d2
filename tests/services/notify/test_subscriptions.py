"""The subscriptions API: each organisation manages only its own subscriptions
(another's are a 404), pause holds and resume releases, delete cancels, a rotated
secret overlaps with the old one, and a ping arrives signed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select, update
from standardwebhooks.webhooks import Webhook

from services.notify.models import Delivery, SubscriptionChange, WebhookSubscription
from services.notify.service import subscriptions
from services.notify.service.subscriptions import PING_TYPE
from services.notify.webhooks import new_secret
from shared.auth import ClientKind
from shared.problems import Problem
from tests.e2e.harness import WebhookSink
from tests.services.conftest import Signpost, bearer

ROUTED = "org.signpost.referral.routed.v1"
STATUS = "org.signpost.referral.status.v1"


async def hub(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("hub", "demoshire-hub", "subscriptions:write"))


async def create(
    sp: Signpost, headers: dict[str, str], url: str, **extra: object
) -> dict[str, Any]:
    r = await sp.client.post(
        "/v1/subscriptions", headers=headers, json={"url": url, "event_types": [ROUTED], **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def wait_delivered(sp: Signpost, delivery_id: str, headers: dict[str, str]) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            detail = (await sp.client.get(f"/v1/deliveries/{delivery_id}", headers=headers)).json()
            if detail["status"] == "delivered":
                return detail
            await asyncio.sleep(0.05)


async def test_another_organisations_subscription_is_not_found(signpost: Signpost) -> None:
    mine, theirs = (
        await hub(signpost),
        bearer(await signpost.key("agency", "safe-homes", "subscriptions:write")),
    )
    created = await create(signpost, mine, "http://127.0.0.1:9/hooks")
    sub = created["id"]

    listed = await signpost.client.get("/v1/subscriptions", headers=theirs)
    assert listed.status_code == 200 and listed.json() == []
    for method, path in [
        ("GET", f"/v1/subscriptions/{sub}"),
        ("POST", f"/v1/subscriptions/{sub}/pause"),
        ("POST", f"/v1/subscriptions/{sub}/resume"),
        ("POST", f"/v1/subscriptions/{sub}/rotate-secret"),
        ("POST", f"/v1/subscriptions/{sub}/ping"),
        ("DELETE", f"/v1/subscriptions/{sub}"),
    ]:
        r = await signpost.client.request(method, path, headers=theirs)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")

    [own] = (await signpost.client.get("/v1/subscriptions", headers=mine)).json()
    assert own["id"] == sub and own["status"] == "active" and "secret" not in own


async def test_a_key_with_only_the_read_scope_may_list_but_not_change(signpost: Signpost) -> None:
    await create(signpost, await hub(signpost), "http://127.0.0.1:9/hooks")
    reader = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:read"))
    assert len((await signpost.client.get("/v1/subscriptions", headers=reader)).json()) == 1
    r = await signpost.client.post(
        "/v1/subscriptions", headers=reader, json={"url": "http://x.test", "event_types": [ROUTED]}
    )
    assert r.status_code == 403


async def test_the_filter_is_validated_and_kept(signpost: Signpost) -> None:
    headers = await hub(signpost)
    created = await create(
        signpost,
        headers,
        "http://127.0.0.1:9/hooks",
        filter={"destination_kinds": ["mash"], "priorities": ["red"]},
    )
    assert created["filter"] == {
        "destination_kinds": ["mash"],
        "priorities": ["red"],
        "min_level": None,
    }
    bad = await signpost.client.post(
        "/v1/subscriptions",
        headers=headers,
        json={"url": "http://127.0.0.1:9/h", "event_types": [ROUTED], "filter": {"colour": 1}},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("filter")


async def test_delete_cancels_what_was_waiting_and_the_subscription_is_gone(
    signpost: Signpost,
) -> None:
    headers = await hub(signpost)
    sub = (await create(signpost, headers, "http://127.0.0.1:9/hooks"))["id"]
    await signpost.client.post(f"/v1/subscriptions/{sub}/pause", headers=headers)
    ping = (await signpost.client.post(f"/v1/subscriptions/{sub}/ping", headers=headers)).json()
    assert (
        await signpost.client.delete(f"/v1/subscriptions/{sub}", headers=headers)
    ).status_code == 204
    assert (
        await signpost.client.get(f"/v1/subscriptions/{sub}", headers=headers)
    ).status_code == 404
    ctx = signpost.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        row = (await session.exec(select(Delivery).where(Delivery.id == ping["id"]))).one()
    assert row.status == "cancelled"


async def test_pause_holds_deliveries_and_resume_sends_them_in_order(signpost: Signpost) -> None:
    headers = await hub(signpost)
    async with WebhookSink() as sink:
        sub = (await create(signpost, headers, sink.url))["id"]
        paused = await signpost.client.post(f"/v1/subscriptions/{sub}/pause", headers=headers)
        assert paused.json()["status"] == "paused"
        pings = [
            (await signpost.client.post(f"/v1/subscriptions/{sub}/ping", headers=headers)).json()
            for _ in range(3)
        ]
        await asyncio.sleep(1.5)  # the dispatcher runs at least once meanwhile
        assert sink.requests == []
        resumed = await signpost.client.post(f"/v1/subscriptions/{sub}/resume", headers=headers)
        assert resumed.json()["status"] == "active"
        await sink.wait_for(3, within=20)
    assert [h["webhook-id"] for h, _ in sink.requests] == [p["id"] for p in pings]


async def test_a_ping_arrives_signed_and_its_attempt_is_recorded(signpost: Signpost) -> None:
    headers = await hub(signpost)
    async with WebhookSink() as sink:
        created = await create(signpost, headers, sink.url)
        r = await signpost.client.post(f"/v1/subscriptions/{created['id']}/ping", headers=headers)
        assert r.status_code == 202
        detail = await wait_delivered(signpost, r.json()["id"], headers)
    [(got_headers, body)] = sink.requests
    payload = Webhook(created["secret"]).verify(body, got_headers)
    assert payload["type"] == PING_TYPE
    assert payload["data"] == {"subscription_id": created["id"]}
    assert got_headers["webhook-id"] == detail["id"]
    assert [a["response_status"] for a in detail["attempt_log"]] == [204]


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(signpost: Signpost) -> None:
    headers = await hub(signpost)
    async with WebhookSink() as sink:
        created = await create(signpost, headers, sink.url)
        sub, old = created["id"], created["secret"]
        rotated = await signpost.client.post(
            f"/v1/subscriptions/{sub}/rotate-secret", headers=headers
        )
        assert rotated.status_code == 200
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != old
        expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
        assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

        first = (
            await signpost.client.post(f"/v1/subscriptions/{sub}/ping", headers=headers)
        ).json()
        await wait_delivered(signpost, first["id"], headers)

        # The overlap ends: only the new secret signs.
        ctx = signpost.app.state.runtimes["notify"].ctx
        async with ctx.db.session() as session:
            await session.exec(
                update(WebhookSubscription)
                .where(WebhookSubscription.id == sub)
                .values(previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await session.commit()
        second = (
            await signpost.client.post(f"/v1/subscriptions/{sub}/ping", headers=headers)
        ).json()
        await wait_delivered(signpost, second["id"], headers)

    (during, body1), (after, body2) = sink.requests
    assert len(during["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in during["webhook-signature"].split(" "))
    Webhook(old).verify(body1, during)
    Webhook(new).verify(body1, during)
    assert len(after["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(body2, after)
    try:
        Webhook(old).verify(body2, after)
    except Exception:
        pass
    else:
        raise AssertionError("the old secret must not verify after the overlap")


async def subscribe_the_hub(
    sp: Signpost, url: str, *, allow_private: bool, **given: Any
) -> WebhookSubscription:
    """The hub's subscription made by the use case itself, as the demo makes its sink's."""
    async with sp.app.state.runtimes["notify"].ctx.units.begin() as uow:
        return await subscriptions.create(
            uow=uow,
            organisation="demoshire-hub",
            client_kind="hub",
            client_id="demo",
            url=url,
            event_types=given.pop("event_types", [ROUTED]),
            allow_private=allow_private,
            allow_http=given.pop("allow_http", True),
            **given,
        )


async def test_a_subscription_created_without_a_request_is_managed_like_any_other(
    signpost: Signpost,
) -> None:
    """The use case with the id and secret its caller chose (as the demo does); the
    organisation then sees and manages the subscription through the API."""
    secret = new_secret()
    async with WebhookSink() as sink:
        await subscribe_the_hub(
            signpost,
            sink.url,
            allow_private=True,
            event_types=[STATUS, ROUTED, STATUS],
            subscription_id="sub_demo_sink",
            secret=secret,
        )
        headers = await hub(signpost)
        [listed] = (await signpost.client.get("/v1/subscriptions", headers=headers)).json()
        assert listed["id"] == "sub_demo_sink" and listed["event_types"] == [ROUTED, STATUS]
        r = await signpost.client.post("/v1/subscriptions/sub_demo_sink/ping", headers=headers)
        await wait_delivered(signpost, r.json()["id"], headers)
    [(got_headers, body)] = sink.requests
    Webhook(secret).verify(body, got_headers)


async def test_the_use_case_refuses_a_private_address_unless_allowed(signpost: Signpost) -> None:
    with pytest.raises(Problem) as refused:
        await subscribe_the_hub(signpost, "http://127.0.0.1:9/hooks", allow_private=False)
    assert refused.value.status == 422 and refused.value.extra["errors"][0]["field"] == "url"
    async with signpost.app.state.runtimes["notify"].ctx.db.session() as session:
        assert (await session.exec(select(WebhookSubscription))).all() == []


# ---------------------------------------------------------------- who changed what


async def changes_of(sp: Signpost, subscription_id: str) -> list[tuple[str, str, str, str]]:
    """(action, organisation, client kind, client id) of each change, in order."""
    ctx = sp.app.state.runtimes["notify"].ctx
    query = (
        select(SubscriptionChange)
        .where(SubscriptionChange.subscription_id == subscription_id)
        .order_by(col(SubscriptionChange.id))
    )
    async with ctx.db.session() as session:
        rows = (await session.exec(query)).all()
    return [(r.action, r.organisation, r.client_kind, r.client_id) for r in rows]


async def test_every_change_to_a_subscription_records_the_person_or_the_key_that_made_it(
    signpost: Signpost,
) -> None:
    ravi = bearer(signpost.person("demoshire-partnership", "admin", person_id="per_ravi"))
    sub = (await create(signpost, ravi, "http://127.0.0.1:9/hooks"))["id"]
    await signpost.client.post(f"/v1/subscriptions/{sub}/pause", headers=ravi)
    ping = (await signpost.client.post(f"/v1/subscriptions/{sub}/ping", headers=ravi)).json()
    ctx = signpost.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:  # as if its retries were spent
        await session.exec(
            update(Delivery).where(Delivery.id == ping["id"]).values(status="parked")
        )
        await session.commit()
    await signpost.client.post(f"/v1/subscriptions/{sub}/resume", headers=ravi)
    replayed = await signpost.client.post(f"/v1/deliveries/{ping['id']}/replay", headers=ravi)
    assert replayed.status_code == 202, replayed.text
    rotated = await signpost.client.post(f"/v1/subscriptions/{sub}/rotate-secret", headers=ravi)
    assert rotated.status_code == 200
    key_row, key = await signpost.registry.create(
        name="partnership integration",
        kind=ClientKind.ADMIN,
        organisation="demoshire-partnership",
        scopes=["subscriptions:write"],
    )
    gone = await signpost.client.delete(f"/v1/subscriptions/{sub}", headers=bearer(key))
    assert gone.status_code == 204

    person = ("demoshire-partnership", "admin", "per_ravi")
    assert await changes_of(signpost, sub) == [
        ("created", *person),
        ("paused", *person),
        ("pinged", *person),
        ("resumed", *person),
        ("replayed", *person),
        ("secret_rotated", *person),
        ("deleted", "demoshire-partnership", "admin", key_row.id),  # kept after the delete
    ]
