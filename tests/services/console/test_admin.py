"""The administrator's pages: people added, disabled and given roles; API keys listed
without secrets and revoked everywhere; webhook subscriptions with their delivery
health and a failed delivery replayed in the administrator's name; the directory; and
nothing of it for anyone else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select, update

from services.apps import embedded_app
from services.console.models import Person
from services.console.repository import person_by_email
from services.notify.models import Delivery, SubscriptionChange
from shared.clock import Clock
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import (
    PASSWORD,
    START,
    csrf_of,
    person,
    signed_in_client,
)

ADMIN = "admin@demo.example"
PARTNERSHIP = "demoshire-partnership"


@pytest.fixture
async def admin(sp: Signpost) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as the partnership's administrator."""
    await person(sp, ADMIN, PARTNERSHIP, "admin", name="Ravi Shah")
    client = await signed_in_client(sp, ADMIN)
    yield client
    await client.aclose()


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, **fields: str | list[str]
) -> httpx.Response:
    """Submit a form of `page` to `action`, with the page's CSRF token."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    return await client.post(action, data={"csrf": csrf_of(shown.text), **fields})


async def row_of(sp: Signpost, person_id: str) -> Person:
    async with sp.app.state.runtimes["console"].ctx.db.session() as session:
        found = await session.get(Person, person_id)
    assert found is not None
    return found


async def sign_in(sp: Signpost, email: str, password: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=sp.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://signpost") as browser:
        form = await browser.get("/console/sign-in")
        return await browser.post(
            "/console/sign-in",
            data={"email": email, "password": password, "csrf": csrf_of(form.text)},
        )


async def test_an_admin_adds_a_person_who_signs_in_with_the_password_shown_once(
    sp: Signpost, admin: httpx.AsyncClient
) -> None:
    created = await post_form(
        admin,
        "/console/admin/people",
        "/console/admin/people",
        name="Alex Reed",
        email="alex.reed@school.example",
        organisation="100002",
        roles=["school_dsl"],
    )
    assert created.status_code == 201, created.text
    shown = re.search(r'<code class="secret">([^<]+)</code>', created.text)
    assert shown, "the password is on the page"
    assert (await sign_in(sp, "alex.reed@school.example", shown.group(1))).status_code == 303
    listed = await admin.get("/console/admin/people")
    assert "alex.reed@school.example" in listed.text
    assert "School designated safeguarding lead" in listed.text
    assert shown.group(1) not in listed.text  # shown once only


async def test_disabling_a_person_ends_their_session_at_once_and_enabling_lets_them_back(
    sp: Signpost, admin: httpx.AsyncClient
) -> None:
    dsl_id = await person(sp, "dsl@school.example", "100002", "school_dsl")
    dsl = await signed_in_client(sp, "dsl@school.example")
    try:
        assert (await dsl.get("/console/reports")).status_code == 200
        page = f"/console/admin/people/{dsl_id}"
        disabled = await post_form(admin, page, f"{page}/disable")
        assert disabled.status_code == 303
        ended = await dsl.get("/console/reports")
        assert ended.status_code == 303 and ended.headers["location"] == "/console/sign-in"
    finally:
        await dsl.aclose()
    assert (await sign_in(sp, "dsl@school.example", PASSWORD)).status_code == 401
    assert "Disabled" in (await admin.get(page)).text

    enabled = await post_form(admin, page, f"{page}/enable")
    assert enabled.status_code == 303
    assert (await sign_in(sp, "dsl@school.example", PASSWORD)).status_code == 303


async def test_an_admin_cannot_disable_their_own_account(
    sp: Signpost, admin: httpx.AsyncClient
) -> None:
    async with sp.app.state.runtimes["console"].ctx.db.session() as session:
        me = await person_by_email(session, ADMIN)
    assert me is not None
    page = f"/console/admin/people/{me.id}"
    refused = await post_form(admin, page, f"{page}/disable")
    assert refused.status_code == 409
    assert "ask another administrator" in refused.text
    assert (await admin.get("/console/admin")).status_code == 200


async def test_roles_that_do_not_combine_are_refused_with_the_reason(
    sp: Signpost, admin: httpx.AsyncClient
) -> None:
    worker_id = await person(sp, "worker@safe-homes.example", "safe-homes", "agency_worker")
    page = f"/console/admin/people/{worker_id}"
    mixed = await post_form(admin, page, f"{page}/roles", roles=["agency_worker", "school_dsl"])
    assert mixed.status_code == 422
    assert "These roles do not go together" in mixed.text
    assert (await row_of(sp, worker_id)).roles == ["agency_worker"]

    new = await post_form(
        admin,
        "/console/admin/people",
        "/console/admin/people",
        name="Jo Mixed",
        email="jo@demo.example",
        organisation="demo-police",
        roles=["referrer", "hub_practitioner"],
    )
    assert new.status_code == 422 and "These roles do not go together" in new.text
    assert 'value="jo@demo.example"' in new.text  # the form is shown again as filled

    changed = await post_form(admin, page, f"{page}/roles", roles=["mash_practitioner"])
    assert changed.status_code == 303
    assert (await row_of(sp, worker_id)).roles == ["mash_practitioner"]


async def test_keys_are_listed_without_secrets_and_a_revoked_key_stops_working(
    sp: Signpost, admin: httpx.AsyncClient
) -> None:
    key = await sp.key("school", "100002", "reports:write", "reports:read")
    _, key_id, secret = key.split("_", 2)
    assert (await sp.client.get("/v1/reports", headers=bearer(key))).status_code == 200
    [row] = [k for k in await sp.registry.list() if k.id == key_id]

    listed = await admin.get("/console/admin/keys")
    assert listed.status_code == 200
    assert key_id in listed.text and "reports:read, reports:write" in listed.text
    assert secret not in listed.text and row.secret_sha256 not in listed.text

    action = f"/console/admin/keys/{key_id}/revoke"
    assert (await sp.client.get("/v1/reports", headers=bearer(key))).status_code == 200

    revoked = await post_form(admin, "/console/admin/keys", action)
    assert revoked.status_code == 303
    assert (await sp.client.get("/v1/reports", headers=bearer(key))).status_code == 401
    assert f'action="{action}"' not in (await admin.get("/console/admin/keys")).text


@pytest.fixture
async def sp_private(tmp_path: Path) -> AsyncIterator[Signpost]:
    """The console's embedded Signpost, letting webhooks go to this machine."""
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True)
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


async def test_subscriptions_show_delivery_health_and_a_failed_delivery_is_replayed_by_name(
    sp_private: Signpost,
) -> None:
    sp = sp_private
    admin_id = await person(sp, ADMIN, PARTNERSHIP, "admin", name="Ravi Shah")
    ravi = bearer(sp.person(PARTNERSHIP, "admin", person_id=admin_id, name="Ravi Shah"))
    made = await sp.client.post(
        "/v1/subscriptions",
        headers=ravi,
        json={
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["org.signpost.referral.routed.v1"],
        },
    )
    assert made.status_code == 201, made.text
    sub = made.json()["id"]
    # A ping held by a paused subscription, then as if its retries had run out.
    await sp.client.post(f"/v1/subscriptions/{sub}/pause", headers=ravi)
    ping = (await sp.client.post(f"/v1/subscriptions/{sub}/ping", headers=ravi)).json()
    ctx = sp.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        await session.exec(
            update(Delivery).where(Delivery.id == ping["id"]).values(status="parked")
        )
        await session.commit()
    await sp.client.post(f"/v1/subscriptions/{sub}/resume", headers=ravi)

    admin = await signed_in_client(sp, ADMIN)
    try:
        listed = await admin.get("/console/admin/subscriptions")
        assert listed.status_code == 200
        assert f'href="/console/admin/subscriptions/{sub}"' in listed.text
        page = f"/console/admin/subscriptions/{sub}"
        shown = await admin.get(page)
        assert "0 waiting, 1 failed, 0 delivered" in shown.text
        assert ping["id"] in shown.text
        replayed = await post_form(admin, page, f"{page}/deliveries/{ping['id']}/replay")
        assert replayed.status_code == 303
        after = await admin.get(page)
        assert "No failed deliveries." in after.text
        again = await admin.post(
            f"{page}/deliveries/{ping['id']}/replay", data={"csrf": csrf_of(after.text)}
        )
        assert again.status_code == 409  # only a parked delivery is replayed
    finally:
        await admin.aclose()
    async with ctx.db.session() as session:
        replays = (
            await session.exec(
                select(SubscriptionChange).where(SubscriptionChange.action == "replayed")
            )
        ).all()
    assert [(r.organisation, r.client_kind, r.client_id) for r in replays] == [
        (PARTNERSHIP, "admin", admin_id)
    ]


async def test_the_directory_shows_the_demo_agencies_and_its_versions(
    admin: httpx.AsyncClient,
) -> None:
    page = await admin.get("/console/admin/directory")
    assert page.status_code == 200
    for shown in ("Safe Homes Domestic Abuse Support", "safe-homes", "48 hours", "80"):
        assert shown in page.text
    assert "demo-2026-12-1" in page.text
    assert "Every version of the directory" in page.text


ADMIN_PAGES = (
    "/console/admin",
    "/console/admin/people",
    "/console/admin/people/{person}",
    "/console/admin/keys",
    "/console/admin/subscriptions",
    "/console/admin/subscriptions/sub_x",
    "/console/admin/directory",
)
ADMIN_ACTIONS = (
    "/console/admin/people",
    "/console/admin/people/{person}/roles",
    "/console/admin/people/{person}/disable",
    "/console/admin/people/{person}/enable",
    "/console/admin/keys/{key}/revoke",
    "/console/admin/subscriptions/sub_x/deliveries/dlv_x/replay",
)


async def test_a_person_without_the_admin_role_is_refused_every_admin_page(
    sp: Signpost,
) -> None:
    hub_id = await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    key = await sp.key("school", "100002", "reports:read")
    key_id = key.split("_")[1]
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        csrf = csrf_of((await hub.get("/console/queue")).text)
        for path in ADMIN_PAGES:
            answer = await hub.get(path.format(person=hub_id))
            assert answer.status_code == 403, path
            assert "Only for administrators" in answer.text
        for path in ADMIN_ACTIONS:
            answer = await hub.post(
                path.format(person=hub_id, key=key_id),
                data={"csrf": csrf},
            )
            assert answer.status_code == 403, path
        assert 'href="/console/admin"' not in (await hub.get("/console/queue")).text
    finally:
        await hub.aclose()
    assert (await row_of(sp, hub_id)).roles == ["hub_practitioner"]
    assert (await sp.client.get("/v1/reports", headers=bearer(key))).status_code == 200
