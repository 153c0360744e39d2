"""A real browser on the console: Debian's Chromium driven by Playwright, against an
embedded Signpost served over real HTTP on loopback with its one clock stopped (so every
date on every screen is the same on every run), and axe-core (vendored) to check each
screen against WCAG 2.2 AA.

Playwright's own browser download cannot run here (or in CI): it launches the Chromium
that scripts/browser.sh installs from Debian. The flags turn off Chromium's calls home
(updates, sync, field trials), which a closed network refuses and which a test has no
use for.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, Playwright, ViewportSize

from services.apps import embedded_app
from services.console.gateway import Services, as_person
from services.console.models import Person as PersonRow
from services.console.service.people import create_person
from services.console.service.simulation import simulate
from services.console.settings import settings_of
from services.demo.setup import DEMO_PEOPLE
from services.triage.policy import load_policy
from shared.auth import ClientKind
from shared.clock import Clock
from shared.people import Person
from shared.settings import embedded_settings
from tests.e2e.harness import ROOT, free_port
from tests.services.console.conftest import PASSWORD, START
from tests.services.routing.conftest import eventually

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA: what the console promises.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
VIEWPORT = ViewportSize(width=1280, height=800)
# Names the folder each screen's screenshot is written to (docs/console to refresh them).
SCREENSHOTS = "SIGNPOST_SCREENSHOTS"
STATUTORY_EXAMPLE = ROOT / "examples" / "statutory-report.json"
# Maya at Demo Primary (100001, the demo DSL's school) and Noah at school 100002.
ENCOMPASS_EXAMPLE = ROOT / "examples" / "police-domestic-abuse-report.json"
DEMO_SCHOOL = "100001"


async def launch(playwright: Playwright) -> Browser:
    """Debian's headless Chromium; a missing browser fails the run with how to install it
    (the tests that need it are left out only of `make check`'s fast run)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (Debian's chromium, "
            "which the console's browser tests drive); `make test` runs it first",
            pytrace=False,
        )
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass(frozen=True)
class Member:
    """A demo person of one role (`services.demo.setup.DEMO_PEOPLE`), password PASSWORD."""

    role: str
    email: str
    name: str
    organisation: str


MEMBERS = {role: Member(role, email, name, org) for role, email, name, org in DEMO_PEOPLE}


@dataclass
class Site:
    """The embedded Signpost the browser reaches at `base_url`."""

    app: FastAPI
    base_url: str
    # The demo people as the services know them, by role.
    people: dict[str, Person]
    # The same people as the console holds them, by role.
    rows: dict[str, PersonRow] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    async def police_key(self) -> str:
        """A new key of the demo force's records system (it posts and follows reports)."""
        _, key = await self.app.state.key_registry.create(
            name="browser police",
            kind=ClientKind.POLICE,
            organisation="demo-police",
            scopes=["reports:write", "reports:read"],
        )
        return str(key)

    async def police_report(self, body: dict[str, Any]) -> str:
        """A report as the demo force's records system posts it, once routed: its id."""
        auth = {"Authorization": f"Bearer {await self.police_key()}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=auth, timeout=10) as api:
            answer = await api.post("/v1/reports", json=body)
            assert answer.status_code == 202, answer.text
            referral_id: str = answer.json()["referral_id"]

            async def routed() -> bool:
                view = (await api.get(f"/v1/reports/{referral_id}")).json()
                return bool(view["status"] == "routed")

            await eventually(routed)
        return referral_id

    async def statutory_report(self, reference: str) -> str:
        """The example statutory report as the demo force's records system posts it
        (under its own `reference`), once routing has sent it to the MASH."""
        body = json.loads(STATUTORY_EXAMPLE.read_text())
        body["source"]["reference"] = reference
        return await self.police_report(body)

    async def encompass_notice(self) -> str:
        """The example police domestic abuse report, posted by the demo force: the id of
        the Operation Encompass notice notify addresses to the demo DSL's school."""
        referral_id = await self.police_report(json.loads(ENCOMPASS_EXAMPLE.read_text()))
        async with self.api("school_dsl") as dsl:

            async def notice() -> str | None:
                listed = await dsl.get("/v1/encompass/notices", params={"referral_id": referral_id})
                assert listed.is_success, listed.text
                ours = [n for n in listed.json() if n["recipient_organisation"] == DEMO_SCHOOL]
                return str(ours[0]["notice_id"]) if ours else None

            found: str = await eventually(notice)
        return found

    async def subscription(self) -> str:
        """A webhook subscription of the partnership, made through notify's API by its
        demo administrator (to a closed loopback port: its deliveries fail): its id."""
        async with self.api("admin") as admin:
            made = await admin.post(
                "/v1/subscriptions",
                json={
                    "url": "http://127.0.0.1:9/hooks",
                    "event_types": ["org.signpost.referral.routed.v1"],
                },
            )
            assert made.status_code == 201, made.text
        return str(made.json()["id"])

    async def child(self, referral_id: str) -> str:
        """The subject id of the referral's child, as triage tells the hub."""
        async with self.api("hub_practitioner") as hub:
            answer = await hub.get(f"/v1/referrals/{referral_id}/child")
            assert answer.is_success, answer.text
        return str(answer.json()["subject_id"])

    async def policy_simulation(self) -> dict[str, str]:
        """A draft threshold policy (the demo policy with domestic abuse weighing 6) the
        demo hub manager drafted through triage's API and simulated over November as
        the console does: the version's and the simulation's ids."""
        document = load_policy().model_dump(mode="json")
        document["weights"]["family_and_environment"]["domestic_abuse"] = 6
        document["version"] = "2027.04-1"
        async with self.api("hub_manager") as manager:
            made = await manager.post("/v1/policy-versions", json=document)
            assert made.status_code == 201, made.text
        version_id = str(made.json()["id"])
        console = settings_of(self.app.state.runtimes["console"].ctx)
        recorded = await simulate(
            Services.for_app(self.app, console, self.rows["hub_manager"]),
            version_id=version_id,
            first="2026-11-01",
            end="2026-12-01",
            directory=None,
        )
        return {"policy": version_id, "simulation": recorded.id}

    def api(self, role: str) -> httpx.AsyncClient:
        """The services' API as the demo person of `role`, with the token the console
        would mint for them, to read what a page should show or to put a referral in the
        state a test needs."""
        token = self.app.state.person_token_signer.mint(self.people[role])
        auth = {"Authorization": f"Bearer {token}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=auth, timeout=10)


@asynccontextmanager
async def serve_console(data_dir: Path) -> AsyncIterator[Site]:
    """An embedded Signpost (clock stopped at START) served by uvicorn on a free loopback
    port in this event loop, with one demo person per role."""
    settings = embedded_settings(
        data_dir,
        auth_cache_seconds=0,
        # Every browser of the run signs in from 127.0.0.1: more than the default burst.
        console_signin_burst=100,
        # The administrator's subscription goes to this machine (see Site.subscription).
        webhook_allow_private=True,
    )
    app = embedded_app(settings, clock=Clock(START))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise AssertionError("the console's server stopped before it started")
            await asyncio.sleep(0.05)
        people: dict[str, Person] = {}
        rows: dict[str, PersonRow] = {}
        async with app.state.runtimes["console"].ctx.units.begin() as uow:
            for member in MEMBERS.values():
                row = await create_person(
                    uow=uow,
                    email=member.email,
                    name=member.name,
                    organisation=member.organisation,
                    roles=[member.role],
                    password=PASSWORD,
                )
                people[member.role] = as_person(row)
                rows[member.role] = row
        yield Site(app, f"http://127.0.0.1:{server.config.port}", people, rows)
    finally:
        server.should_exit = True
        await serving


async def new_context(browser: Browser, *, javascript: bool = True) -> BrowserContext:
    """A browser profile of its own (its own cookies) at the screenshots' viewport; with
    JavaScript on, axe-core is added to every page it opens. An init script runs through
    DevTools, so the console's strict CSP (no inline script) does not block it."""
    context = await browser.new_context(viewport=VIEWPORT, java_script_enabled=javascript)
    if javascript:
        await context.add_init_script(path=str(AXE))
    return context


async def sign_in(context: BrowserContext, site: Site, role: str) -> Page:
    """Sign in through the console's own form as the demo person of `role`: the page
    where the console lands them."""
    page = await context.new_page()
    await page.goto(site.url("/console/sign-in"))
    await page.get_by_label("Email address").fill(MEMBERS[role].email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/console/sign-in" not in url)
    return page


class People:
    """One signed-in browser profile per role, shared by a module's tests: signing in
    checks an argon2id hash (deliberately slow), so each person signs in once."""

    def __init__(self, browser: Browser, site: Site) -> None:
        self.browser, self.site = browser, site
        self._contexts: dict[str | None, BrowserContext] = {}

    async def page(self, role: str | None) -> Page:
        """A new tab of the demo person of `role` (None: nobody signed in), blank."""
        context = self._contexts.get(role)
        if context is None:
            context = self._contexts[role] = await new_context(self.browser)
            if role is not None:
                await (await sign_in(context, self.site, role)).close()
        return await context.new_page()

    async def close(self) -> None:
        for context in self._contexts.values():
            await context.close()


async def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A/AA violations on the page as it stands."""
    violations: list[dict[str, Any]] = await page.evaluate(
        "tags => axe.run(document, {runOnly: tags}).then(result => result.violations)",
        AXE_TAGS,
    )
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    """Each violation's rule, impact, what it means and the elements that break it."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"    {node['target']}: {node['failureSummary']}".replace("\n", " "))
    return "\n".join(lines)


async def keep_screenshot(page: Page, name: str) -> None:
    """The whole page as `<name>.png` in the folder SIGNPOST_SCREENSHOTS names, if any."""
    folder = os.environ.get(SCREENSHOTS)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
