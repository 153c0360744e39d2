"""Working a referral in the console, as named people: the MASH practitioner takes the
example statutory report from the queue to closed; the hub redirects, sends on and
changes a level, each with a rationale (a change of level with a reason too, chosen on
a labelled list of triage's codes); every step is the person's in the services'
records and shows in the police referrer's own view."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
from sqlmodel import col, select

from services.console.api.referral import LEVEL_REASONS
from services.routing.models import RoutingStep
from services.triage.models import TriageOverride, TriageOverrideRequest
from shared.override_reasons import OverrideReason
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import csrf_of, person, signed_in_client
from tests.services.console.test_pages import statutory_report
from tests.services.routing.conftest import eventually


async def act(client: httpx.AsyncClient, referral_id: str, **fields: str) -> httpx.Response:
    page = await client.get(f"/console/referrals/{referral_id}")
    assert page.status_code == 200, page.text
    return await client.post(
        f"/console/referrals/{referral_id}/act", data={"csrf": csrf_of(page.text), **fields}
    )


async def steps(sp: Signpost, referral_id: str) -> list[tuple[str, str]]:
    async with sp.app.state.runtimes["routing"].ctx.db.session() as session:
        rows = (
            await session.exec(
                select(RoutingStep)
                .where(RoutingStep.referral_id == referral_id)
                .order_by(col(RoutingStep.id))
            )
        ).all()
    return [(s.status, s.by) for s in rows]


async def test_the_mash_works_the_statutory_report_to_closed_and_the_referrer_sees_it(
    sp: Signpost,
) -> None:
    mash_id = await person(sp, "mash@demo.example", "demoshire-mash", "mash_practitioner")
    await person(sp, "pc@demo.example", "demo-police", "referrer", name="PC Lee Morgan")
    referral_id = await statutory_report(sp)
    mash = await signed_in_client(sp, "mash@demo.example")
    police = await signed_in_client(sp, "pc@demo.example")
    try:
        assert referral_id in (await mash.get("/console/queue")).text
        page = await mash.get(f"/console/referrals/{referral_id}")
        assert ">Accept<" in page.text and "Change the level" not in page.text
        for action in ("accept", "start"):
            done = await act(mash, referral_id, action=action)
            assert done.status_code == 303, done.text
        closed = await act(
            mash,
            referral_id,
            action="close",
            outcome_code="completed:no_further_action",
            rationale="Strategy discussion held; the family is safe with support in place.",
        )
        assert closed.status_code == 303, closed.text

        listed = await police.get("/console/reports")
        assert listed.status_code == 200 and referral_id in listed.text

        async def closed_in_the_referrers_view() -> httpx.Response | None:
            # The referrer's view is intake's, fed by routing's events: the close reaches
            # it through the bus, a moment after the MASH's 303.
            page = await police.get(f"/console/reports/{referral_id}")
            assert page.status_code == 200
            return page if "Closed by Demoshire MASH" in page.text else None

        journey = await eventually(closed_in_the_referrers_view)
        assert "Accepted by Demoshire MASH" in journey.text
        # The referrer's view never shows the child or the narrative.
        assert "Why it went there" not in journey.text
    finally:
        await mash.aclose()
        await police.aclose()
    by = f"demoshire-mash/{mash_id}"
    assert [s for s in await steps(sp, referral_id) if s[1] == by] == [
        ("accepted", by),
        ("in-progress", by),
        ("completed", by),
    ]


async def test_an_action_that_changes_a_referral_needs_a_rationale(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    referral_id = await statutory_report(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        refused = await act(hub, referral_id, action="override", destination="universal")
        assert refused.status_code == 422
        assert "Say why: a rationale is required" in refused.text
        forged = await hub.post(
            f"/console/referrals/{referral_id}/act",
            data={"csrf": "forged", "action": "override", "destination": "hub", "rationale": "x"},
        )
        assert forged.status_code == 403
    finally:
        await hub.aclose()
    assert [s[0] for s in await steps(sp, referral_id)] == ["requested"]


async def test_the_hub_changes_a_level_and_redirects_each_in_its_practitioners_name(
    sp: Signpost,
) -> None:
    hub_id = await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    referral_id = await statutory_report(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        redirected = await act(
            hub,
            referral_id,
            action="override",
            destination="universal",
            rationale="Checked with the school and the family: no further action needed.",
        )
        assert redirected.status_code == 303, redirected.text
        lowered = await act(
            hub,
            referral_id,
            action="level",
            level="2",
            reason_code="risk_reduced",
            rationale="No harm found: the concern is an early-help one.",
        )
        assert lowered.status_code == 303, lowered.text
        page = await hub.get(f"/console/referrals/{referral_id}")
        assert "Sam Hale" in page.text
        # Lowering the statutory level waits for a second person (test_approval.py).
        assert "Waiting for a second person's approval" in page.text
    finally:
        await hub.aclose()
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        [asked] = (await session.exec(select(TriageOverrideRequest))).all()
        assert (await session.exec(select(TriageOverride))).all() == []
    assert (asked.requested_by, asked.requested_by_name, asked.to_level) == (
        f"demoshire-hub/{hub_id}",
        "Sam Hale",
        2,
    )
    assert asked.reason_code == "risk_reduced"  # the form's reason, sent to triage
    # The redirect is a routing step in the practitioner's name.
    assert f"demoshire-hub/{hub_id}" in {by for _, by in await steps(sp, referral_id)}


async def test_a_refused_action_says_why_on_the_page(sp: Signpost) -> None:
    await person(sp, "mash@demo.example", "demoshire-mash", "mash_practitioner")
    referral_id = await statutory_report(sp)
    mash = await signed_in_client(sp, "mash@demo.example")
    try:
        # Starting before accepting is not a step the lifecycle allows.
        refused = await act(mash, referral_id, action="start")
    finally:
        await mash.aclose()
    assert refused.status_code == 409
    assert "The action was not done" in refused.text


class LevelForm(HTMLParser):
    """The change-of-level form on a referral's page: its controls (name -> id, and
    whether required), the options of each select (value -> words), and the labels'
    `for` ids."""

    def __init__(self) -> None:
        super().__init__()
        self.in_form = self.is_level = False
        self.controls: dict[str, tuple[str, bool]] = {}
        self.options: dict[str, dict[str, str]] = {}
        self.labels: set[str] = set()
        self._select: str | None = None
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.in_form, self.is_level = True, False
            self._pending: dict[str, tuple[str, bool]] = {}
            self._options: dict[str, dict[str, str]] = {}
            self._labels: set[str] = set()
        elif not self.in_form:
            return
        if tag == "input" and a.get("name") == "action" and a.get("value") == "level":
            self.is_level = True
        if tag in ("select", "textarea") and a.get("name"):
            self._pending[str(a["name"])] = (str(a.get("id") or ""), "required" in a)
            self._select = str(a["name"]) if tag == "select" else None
        if tag == "option" and self._select:
            self._option = str(a.get("value") or "")
            self._options.setdefault(self._select, {})[self._option] = ""
        if tag == "label" and a.get("for"):
            self._labels.add(str(a["for"]))

    def handle_data(self, data: str) -> None:
        if self._select and self._option is not None:
            self._options[self._select][self._option] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._option = None
        if tag == "form" and self.in_form:
            self.in_form = False
            if self.is_level:
                self.controls, self.options, self.labels = (
                    self._pending,
                    self._options,
                    self._labels,
                )


async def test_the_level_form_asks_for_a_labelled_reason_of_triages_codes(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    referral_id = await statutory_report(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        page = await hub.get(f"/console/referrals/{referral_id}")
        assert page.status_code == 200, page.text
        form = LevelForm()
        form.feed(page.text)
        unexplained = await act(
            hub,
            referral_id,
            action="level",
            level="2",
            rationale="No harm found: the concern is an early-help one.",
        )
    finally:
        await hub.aclose()

    assert set(form.controls) == {"level", "reason_code", "rationale"}
    # Every control has its label (screen readers name it; a click focuses it).
    assert all(id_ and id_ in form.labels for id_, _ in form.controls.values())
    assert form.controls["reason_code"] == ("level-reason", True)
    # A blank first choice, so the browser's `required` makes a person choose; then
    # every code of triage's, in plain words.
    assert form.options["reason_code"] == {"": "Choose a reason", **LEVEL_REASONS}
    assert list(form.options["reason_code"])[1:] == [code.value for code in OverrideReason]
    # The console checks it too: without a reason nothing is asked of triage.
    assert unexplained.status_code == 422
    assert "Choose a reason for the change of level." in unexplained.text
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        assert (await session.exec(select(TriageOverrideRequest))).all() == []


def test_the_console_offers_exactly_triages_reason_codes_in_plain_words() -> None:
    # Every code triage takes has words on the form, in the vocabulary's order.
    assert list(LEVEL_REASONS) == [code.value for code in OverrideReason]
    assert all(words and "_" not in words for words in LEVEL_REASONS.values())


async def test_an_override_made_without_a_reason_shows_it_was_not_given(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    referral_id = await statutory_report(sp)
    why = "Strategy discussion held today: no s47; the youth justice team leads."
    # An integrator's body from before reason codes, asked and approved over the API.
    ann = sp.person("demoshire-hub", "hub_practitioner", person_id="per_ann", name="Ann Shaw")
    bo = sp.person("demoshire-hub", "hub_practitioner", person_id="per_bo", name="Bo Reid")
    asked = await sp.client.post(
        f"/v1/referrals/{referral_id}/triage/override",
        json={"level": 3, "rationale": why},
        headers=bearer(ann),
    )
    assert asked.status_code == 202, asked.text
    approved = await sp.client.post(
        f"/v1/referrals/{referral_id}/triage/override-requests/{asked.json()['id']}/approve",
        json={"note": ""},
        headers=bearer(bo),
    )
    assert approved.status_code == 200, approved.text
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        page = await hub.get(f"/console/referrals/{referral_id}")
    finally:
        await hub.aclose()

    assert page.status_code == 200, page.text
    assert f"approving Ann Shaw's request: {why}<br>Reason: not given</li>" in page.text
