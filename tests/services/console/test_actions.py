"""Working a referral in the console, as named people: the MASH practitioner takes the
example statutory report from the queue to closed; the hub redirects, sends on and
changes a level, each with a rationale; every step is the person's in the services'
records and shows in the police referrer's own view."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from services.routing.models import RoutingStep
from services.triage.models import TriageOverride, TriageOverrideRequest
from tests.services.conftest import Signpost
from tests.services.console.conftest import csrf_of, person, signed_in_client
from tests.services.console.test_pages import statutory_report


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
        journey = await police.get(f"/console/reports/{referral_id}")
        assert journey.status_code == 200
        assert "Accepted by Demoshire MASH" in journey.text
        assert "Closed by Demoshire MASH" in journey.text
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
