"""The console in a real browser (issue 14): each role signs in through the form and
lands on its page; the MASH works the statutory report from the queue to closed and the
police see it closed; another organisation's person gets the 403 page with nothing of
the referral; every screen passes axe-core's WCAG 2.2 AA rules; reading works with
JavaScript off. With SIGNPOST_SCREENSHOTS=docs/console each screen is saved there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from services.console.api.web import SESSION_COOKIE
from tests.e2e.console_browser import (
    MEMBERS,
    People,
    Site,
    accessibility_violations,
    describe,
    keep_screenshot,
    launch,
    new_context,
    serve_console,
    sign_in,
)

pytestmark = [pytest.mark.app, pytest.mark.asyncio(loop_scope="module")]

# The referral the screens show: posted once for the module, left waiting in the queue.
REFERENCE = "DP-2026-004502"


@dataclass(frozen=True)
class Screen:
    """A console screen as one person sees it: `path` may name what the module made
    (`{requested}`: a referral waiting in the queue; `{in_progress}`: one the MASH is
    working; `{notice}`: the demo school's Encompass notice; `{person}`: Sam Hale;
    `{subscription}`: the partnership's webhook subscription; `{child}`: the waiting
    referral's child; `{policy}`, `{simulation}`: a draft threshold policy the hub
    manager drafted and simulated)."""

    name: str
    role: str | None  # None: nobody signed in
    path: str
    status: int = 200


# Every screen the accessibility test checks and screenshots: add a screen here.
SCREENS = [
    Screen("sign-in", None, "/console/sign-in"),
    Screen("queue", "hub_practitioner", "/console/queue"),
    Screen("referral-hub", "hub_practitioner", "/console/referrals/{requested}"),
    Screen("referral-mash-new", "mash_practitioner", "/console/referrals/{requested}"),
    Screen("referral-mash-working", "mash_practitioner", "/console/referrals/{in_progress}"),
    Screen("reports", "referrer", "/console/reports"),
    Screen("journey", "referrer", "/console/reports/{in_progress}"),
    Screen("not-yours", "agency_worker", "/console/referrals/{requested}", status=403),
    Screen("queue-filtered", "hub_practitioner", "/console/queue?status=requested&who=unassigned"),
    Screen("child", "hub_practitioner", "/console/children/{child}"),
    Screen("preferences", "hub_practitioner", "/console/preferences"),
    Screen("notices", "school_dsl", "/console/notices"),
    Screen("notice", "school_dsl", "/console/notices/{notice}"),
    Screen("admin", "admin", "/console/admin"),
    Screen("admin-people", "admin", "/console/admin/people"),
    Screen("admin-person", "admin", "/console/admin/people/{person}"),
    Screen("admin-keys", "admin", "/console/admin/keys"),
    Screen("admin-subscriptions", "admin", "/console/admin/subscriptions"),
    Screen("admin-subscription", "admin", "/console/admin/subscriptions/{subscription}"),
    Screen("admin-directory", "admin", "/console/admin/directory"),
    Screen("dashboard", "partnership_analyst", "/console/dashboard"),
    Screen("policies", "hub_manager", "/console/policies"),
    Screen("policy", "admin", "/console/policies/{policy}"),
    Screen("simulation", "hub_manager", "/console/policies/{policy}/simulations/{simulation}"),
]

# Where each role lands after signing in, and the heading it sees there.
LANDINGS = {
    "hub_practitioner": ("/console/queue", "Queue"),
    "mash_practitioner": ("/console/queue", "Queue"),
    "agency_worker": ("/console/queue", "Queue"),
    "referrer": ("/console/reports", "Reports demo-police raised"),
    "school_dsl": ("/console/reports", "Reports 100001 raised"),
    "partnership_analyst": ("/console/dashboard", "How the front door performs"),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with serve_console(tmp_path_factory.mktemp("console-browser") / "var") as served:
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def people(site: Site, browser: Browser) -> AsyncIterator[People]:
    signed_in = People(browser, site)
    try:
        yield signed_in
    finally:
        await signed_in.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def referrals(site: Site) -> dict[str, str]:
    """The module's referrals by state: the statutory report waiting for the MASH, and
    a second one the MASH has accepted and started."""
    requested = await site.statutory_report(REFERENCE)
    in_progress = await site.statutory_report("DP-2026-004510")
    async with site.api("mash_practitioner") as mash:
        for step in ("accept", "start"):
            done = await mash.post(f"/v1/referrals/{in_progress}/{step}", json={})
            assert done.is_success, done.text
    return {"requested": requested, "in_progress": in_progress}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def screen_ids(site: Site, referrals: dict[str, str]) -> dict[str, str]:
    """What the screens' paths name: the module's referrals, the demo school's Encompass
    notice (from the example police domestic abuse report), Sam Hale's id, a webhook
    subscription of the partnership's administrator, and the waiting referral's child."""
    return {
        **referrals,
        "notice": await site.encompass_notice(),
        "person": site.people["hub_practitioner"].id,
        "subscription": await site.subscription(),
        "child": await site.child(referrals["requested"]),
        **await site.policy_simulation(),
    }


@pytest.mark.parametrize("role", list(LANDINGS))
async def test_each_role_signs_in_through_the_form_and_lands_on_its_own_page(
    site: Site, browser: Browser, role: str
) -> None:
    context = await new_context(browser)
    try:
        page = await sign_in(context, site, role)
        path, heading = LANDINGS[role]
        await expect(page).to_have_url(site.url(path))
        await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        await expect(page.locator(".who .name")).to_have_text(MEMBERS[role].name)
        # The browser kept the session cookie on http://127.0.0.1 although it is Secure:
        # loopback is a secure context, so the console needs no insecure setting here.
        [session] = [c for c in await context.cookies() if c["name"] == SESSION_COOKIE]
        assert session["secure"] and session["httpOnly"]
    finally:
        await context.close()


async def test_the_mash_works_a_statutory_report_from_the_queue_to_closed_and_police_see_it(
    site: Site, people: People
) -> None:
    reference = "DP-2026-004520"
    referral_id = await site.statutory_report(reference)
    mash, police = await people.page("mash_practitioner"), await people.page("referrer")
    try:
        await mash.goto(site.url("/console/queue"))
        await mash.get_by_role("link", name=referral_id).click()
        await expect(mash).to_have_url(site.url(f"/console/referrals/{referral_id}"))
        status = mash.locator(".facts dd").nth(2)
        await mash.get_by_role("button", name="Accept", exact=True).click()
        await expect(status).to_have_text("accepted")
        await mash.get_by_role("button", name="Start working with the family").click()
        await expect(status).to_have_text("in-progress")
        await mash.get_by_label("completed: no further action was needed").check()
        await mash.get_by_label("Why (required; the referrer is told the outcome)").fill(
            "Strategy discussion held; the family is safe with support in place."
        )
        await mash.get_by_role("button", name="Close", exact=True).click()
        await expect(status).to_have_text("completed")
        await mash.get_by_role("link", name="Queue").click()
        await expect(mash.get_by_role("link", name=referral_id)).to_have_count(0)

        await police.goto(site.url("/console/reports"))
        await police.get_by_role("link", name=reference).click()
        await expect(police).to_have_url(site.url(f"/console/reports/{referral_id}"))
        journey = police.get_by_role("main")
        await expect(journey).to_contain_text("Accepted by Demoshire MASH")
        await expect(journey).to_contain_text("Closed by Demoshire MASH")
        # The referrer follows the journey; the child and the narrative stay with the MASH.
        await expect(journey).not_to_contain_text("Placeholder")
    finally:
        await mash.close()
        await police.close()


async def test_a_hub_practitioner_opens_a_referral_from_the_queue_and_reads_the_triage_reason(
    site: Site, people: People, referrals: dict[str, str]
) -> None:
    referral_id = referrals["requested"]
    hub = await people.page("hub_practitioner")
    try:
        await hub.goto(site.url("/console/queue"))
        await hub.get_by_role("link", name=referral_id).click()
        decision = hub.get_by_role("region", name="The threshold decision")
        await expect(decision).to_be_visible()
        async with site.api("hub_practitioner") as api:
            triage = await api.get(f"/v1/referrals/{referral_id}/triage")
        explanation = triage.json()["explanation"]
        assert explanation, "triage explains its decision"
        await expect(decision).to_contain_text(explanation)
        await expect(hub.get_by_role("region", name="Why it went there")).to_contain_text(
            "Demoshire MASH"
        )
    finally:
        await hub.close()


async def test_a_person_of_another_organisation_gets_the_403_page_with_nothing_of_the_referral(
    site: Site, people: People, referrals: dict[str, str]
) -> None:
    referral_id = referrals["requested"]
    page = await people.page("agency_worker")
    try:
        answer = await page.goto(site.url(f"/console/referrals/{referral_id}"))
        assert answer is not None and answer.status == 403
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "You cannot open this referral"
        )
        content = await page.content()
        for secret in (
            referral_id,
            REFERENCE,
            "Placeholder",  # the child's family name
            "2011-06-30",
            "EX2 4QT",
            "large quantity of cash",
            "railway station",
            "criminal exploitation",
            "Demoshire MASH",
        ):
            assert secret not in content, f"the 403 page shows {secret!r}"
    finally:
        await page.close()


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_every_screen_meets_wcag_2_2_aa_by_axe_core(
    site: Site, people: People, screen_ids: dict[str, str], screen: Screen
) -> None:
    page = await people.page(screen.role)
    try:
        answer = await page.goto(site.url(screen.path.format(**screen_ids)))
        assert answer is not None and answer.status == screen.status
        await keep_screenshot(page, screen.name)
        violations = await accessibility_violations(page)
        assert not violations, f"{screen.name} ({screen.path}):\n{describe(violations)}"
    finally:
        await page.close()


async def test_with_javascript_off_a_person_signs_in_and_reads_the_queue_and_a_referral(
    site: Site, browser: Browser, referrals: dict[str, str]
) -> None:
    referral_id = referrals["requested"]
    context = await new_context(browser, javascript=False)
    try:
        page = await sign_in(context, site, "hub_practitioner")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Queue")
        await page.get_by_role("link", name=referral_id).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"Referral {referral_id}")
        await expect(page.get_by_role("region", name="The report")).to_contain_text(
            "Sam Placeholder"
        )
        await expect(page.get_by_role("region", name="The threshold decision")).to_be_visible()
    finally:
        await context.close()
