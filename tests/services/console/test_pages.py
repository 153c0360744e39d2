"""The console's pages in the embedded app: signing in (CSRF, rate limit, cookies),
sessions that end (sign out, everywhere, idle), safe headers, and a practitioner's
queue and referral read through the services as that person."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import select

from services.console.api.pages import CSP, SESSION_COOKIE
from services.intake.models import Report
from shared.privacy import ReadAudit
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import PASSWORD, csrf_of, person, signed_in_client
from tests.services.intake.conftest import example
from tests.services.routing.conftest import eventually


async def statutory_report(sp: Signpost, reference: str | None = None) -> str:
    """The example statutory report from the demo police force (under the force's
    `reference` when given: another report), routed to the MASH."""
    key = await sp.key("police", "demo-police", "reports:write", "reports:read")
    body = example("statutory-report.json")
    if reference is not None:
        body["source"]["reference"] = reference
    answer = await sp.client.post("/v1/reports", json=body, headers=bearer(key))
    assert answer.status_code == 202, answer.text
    referral_id: str = answer.json()["referral_id"]

    async def routed() -> bool:
        view = (await sp.client.get(f"/v1/reports/{referral_id}", headers=bearer(key))).json()
        return bool(view["status"] == "routed")

    await eventually(routed)
    return referral_id


async def test_a_person_signs_in_with_a_secure_session_cookie_and_safe_headers(
    sp: Signpost,
) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    form = await sp.client.get("/console/sign-in")
    assert form.status_code == 200
    assert form.headers["content-security-policy"] == CSP
    assert form.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    answer = await sp.client.post(
        "/console/sign-in",
        data={"email": "HUB@demo.example ", "password": PASSWORD, "csrf": csrf_of(form.text)},
    )
    assert answer.status_code == 303
    cookie = next(h for h in answer.headers.get_list("set-cookie") if SESSION_COOKIE in h)
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    assert "Path=/console" in cookie
    queue = await sp.client.get("/console/queue")
    assert queue.status_code == 200
    assert "Sam Hale" in queue.text and "Hub practitioner" in queue.text


async def test_a_wrong_password_or_unknown_email_is_refused_alike(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    for email, password in [("hub@demo.example", "not the password"), ("who@x.example", "x")]:
        form = await sp.client.get("/console/sign-in")
        answer = await sp.client.post(
            "/console/sign-in",
            data={"email": email, "password": password, "csrf": csrf_of(form.text)},
        )
        assert answer.status_code == 401
        assert "The email address or the password is not right." in answer.text
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


async def test_a_sign_in_without_its_csrf_token_is_refused(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    await sp.client.get("/console/sign-in")
    answer = await sp.client.post(
        "/console/sign-in",
        data={"email": "hub@demo.example", "password": PASSWORD, "csrf": "forged"},
    )
    assert answer.status_code == 403
    assert (await sp.client.get("/console/queue")).status_code == 303


async def test_guessing_passwords_is_slowed_per_email(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    statuses = []
    for _ in range(6):
        form = await sp.client.get("/console/sign-in")
        answer = await sp.client.post(
            "/console/sign-in",
            data={"email": "hub@demo.example", "password": "guess", "csrf": csrf_of(form.text)},
        )
        statuses.append(answer.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(answer.headers["retry-after"]) >= 1
    # Even the right password waits its turn.
    form = await sp.client.get("/console/sign-in")
    right = await sp.client.post(
        "/console/sign-in",
        data={"email": "hub@demo.example", "password": PASSWORD, "csrf": csrf_of(form.text)},
    )
    assert right.status_code == 429


async def test_a_session_ends_when_idle_and_when_signed_out_everywhere(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    laptop = await signed_in_client(sp, "hub@demo.example")
    phone = await signed_in_client(sp, "hub@demo.example")
    try:
        page = await laptop.get("/console/queue")
        assert page.status_code == 200
        signed_out = await laptop.post(
            "/console/sign-out-everywhere", data={"csrf": csrf_of(page.text)}
        )
        assert signed_out.status_code == 303
        assert (await phone.get("/console/queue")).headers["location"] == "/console/sign-in"
        assert (await laptop.get("/console/queue")).status_code == 303

        tablet = await signed_in_client(sp, "hub@demo.example")
        assert (await tablet.get("/console/queue")).status_code == 200
        sp.clock.advance(timedelta(minutes=31))
        assert (await tablet.get("/console/queue")).status_code == 303
        await tablet.aclose()
    finally:
        await laptop.aclose()
        await phone.aclose()


async def test_a_hub_practitioner_sees_the_queue_and_reads_a_referral_as_themselves(
    sp: Signpost,
) -> None:
    person_id = await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    referral_id = await statutory_report(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        queue = await hub.get("/console/queue")
        assert referral_id in queue.text
        page = await hub.get(f"/console/referrals/{referral_id}")
        assert page.status_code == 200
        assert "Why it went there" in page.text and "The threshold decision" in page.text
        assert "this read is recorded in your name" in page.text
    finally:
        await hub.aclose()
    intake = sp.app.state.runtimes["intake"].ctx
    async with intake.db.session() as session:
        reads = (await session.exec(select(ReadAudit))).all()
        assert await session.get(Report, referral_id) is not None
    assert [(r.resource_id, r.client_id, r.organisation) for r in reads] == [
        (referral_id, person_id, "demoshire-hub")
    ]


async def test_a_person_of_another_organisation_cannot_open_a_referral(sp: Signpost) -> None:
    await person(sp, "jo@families.example", "demoshire-families", "agency_worker", name="Jo")
    referral_id = await statutory_report(sp)  # addressed to the MASH
    worker = await signed_in_client(sp, "jo@families.example")
    try:
        page = await worker.get(f"/console/referrals/{referral_id}")
    finally:
        await worker.aclose()
    assert page.status_code == 403
    assert "You cannot open this referral" in page.text
    assert "Why it went there" not in page.text and "The report" not in page.text


async def test_signed_out_pages_send_the_browser_to_sign_in(sp: Signpost) -> None:
    for path in ("/console/", "/console/queue", "/console/referrals/ref_x"):
        answer = await sp.client.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")


async def test_the_console_serves_its_own_assets_and_nothing_else(sp: Signpost) -> None:
    css = await sp.client.get("/console/static/console.css")
    htmx = await sp.client.get("/console/static/vendor/htmx-2.0.11.min.js")
    assert css.status_code == htmx.status_code == 200
    assert htmx.headers["content-type"].startswith("text/javascript")
    assert (await sp.client.get("/console/static/../models.py")).status_code == 404
    assert isinstance(css, httpx.Response)
