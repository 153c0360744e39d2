"""The email alerts page: a person opts in to queue emails and out again with a form
that carries the session's CSRF token, and the page says when no mail server is set."""

from __future__ import annotations

from services.console.models import Person
from tests.services.conftest import Signpost
from tests.services.console.conftest import csrf_of, person, signed_in_client


async def wants_emails(sp: Signpost, person_id: str) -> bool:
    async with sp.app.state.runtimes["console"].ctx.db.session() as session:
        row = await session.get(Person, person_id)
    assert row is not None
    return row.email_alerts


async def test_a_person_opts_in_to_queue_emails_and_out_again(sp: Signpost) -> None:
    person_id = await person(sp, "duty@mash.example", "demoshire-mash", "mash_practitioner")
    browser = await signed_in_client(sp, "duty@mash.example")
    try:
        page = await browser.get("/console/preferences")
        assert page.status_code == 200
        assert "duty@mash.example" in page.text
        assert "Email me when a referral lands in my queue or nears its deadline" in page.text
        assert "hold no child's data" in page.text
        assert " checked" not in page.text

        opted_in = await browser.post(
            "/console/preferences", data={"csrf": csrf_of(page.text), "email_alerts": "yes"}
        )
        assert (opted_in.status_code, opted_in.headers["location"]) == (
            303,
            "/console/preferences?saved=1",
        )
        assert await wants_emails(sp, person_id)
        saved = await browser.get(opted_in.headers["location"])
        assert "Your choice is saved." in saved.text and " checked" in saved.text

        opted_out = await browser.post("/console/preferences", data={"csrf": csrf_of(saved.text)})
        assert opted_out.status_code == 303
        assert not await wants_emails(sp, person_id)
    finally:
        await browser.aclose()


async def test_a_choice_without_the_sessions_csrf_token_is_refused(sp: Signpost) -> None:
    person_id = await person(sp, "duty@mash.example", "demoshire-mash", "mash_practitioner")
    browser = await signed_in_client(sp, "duty@mash.example")
    try:
        for form in ({"email_alerts": "yes"}, {"email_alerts": "yes", "csrf": "forged"}):
            refused = await browser.post("/console/preferences", data=form)
            assert refused.status_code == 403
            assert "The form has expired" in refused.text
    finally:
        await browser.aclose()
    assert not await wants_emails(sp, person_id)


async def test_the_page_says_when_the_console_has_no_mail_server(sp: Signpost) -> None:
    await person(sp, "dsl@school.example", "demo-school", "school_dsl")
    browser = await signed_in_client(sp, "dsl@school.example")
    try:
        page = await browser.get("/console/preferences")
    finally:
        await browser.aclose()
    assert "This console has no mail server set up yet" in page.text
    assert "Your role has no queue" in page.text


async def test_signed_out_the_page_sends_the_browser_to_sign_in(sp: Signpost) -> None:
    for answer in (
        await sp.client.get("/console/preferences"),
        await sp.client.post("/console/preferences", data={"email_alerts": "yes"}),
    ):
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")
