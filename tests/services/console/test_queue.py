"""The queue page: every open referral, the soonest deadline first, with its RAG in
words, the working time left and a near or missed signal as the clock moves, and who
has it; filters; claim, assign and release through the page in the person's name; an
organisation's queue never lists another's referral."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, select

from services.routing.models import RoutingStep
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import START, csrf_of, person, signed_in_client
from tests.services.console.test_pages import statutory_report
from tests.services.routing.conftest import triage

HUB = "demoshire-hub"
SAFE_HOMES = "safe-homes"

# The module (the package exports its router under the same name).
queue_module = importlib.import_module("services.console.api.queue")


def order_of(page: str, *referral_ids: str) -> list[str]:
    """The given referrals in the order the page lists them."""
    return sorted(referral_ids, key=page.index)


def row_of(page: str, referral_id: str) -> str:
    """The referral's row, as its words read (its markup from `<tr ...>` only)."""
    found = re.search(rf'(<tr id="row-{referral_id}"[^>]*>)(.*?)</tr>', page, re.S)
    assert found, f"{referral_id} is listed"
    return found.group(1) + " ".join(re.sub(r"<[^>]+>", " ", found.group(2)).split())


async def review_referral(sp: Signpost) -> str:
    """An amber referral in the hub's review queue (24 hours to answer, no escalation)."""
    return await triage(sp, level=3, suspected=["neglect"])


async def test_the_queue_lists_what_is_open_soonest_deadline_first_with_who_has_it(
    sp: Signpost,
) -> None:
    await person(sp, "hub@demo.example", HUB, "hub_practitioner")
    ana_id = await person(sp, "ana@safe.example", SAFE_HOMES, "agency_worker", name="Ana Cole")
    mash = await statutory_report(sp)  # red, the MASH answers by 13:00
    green = await triage(sp)  # Safe Homes answers within 48 hours
    amber = await review_referral(sp)  # the hub answers within 24 hours
    accepted = await triage(sp)  # Safe Homes has accepted: no deadline runs
    ana_token = bearer(sp.person(SAFE_HOMES, "agency_worker", person_id=ana_id, name="Ana Cole"))
    for action in ("claim", "accept"):
        done = await sp.client.post(f"/v1/referrals/{accepted}/{action}", headers=ana_token)
        assert done.status_code == 200, done.text
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        page = (await hub.get("/console/queue")).text
    finally:
        await hub.aclose()
    assert order_of(page, accepted, green, amber, mash) == [mash, amber, green, accepted]
    assert "Red" in row_of(page, mash) and "4 h 00 min left (round the clock)" in row_of(page, mash)
    # Monday 09:00 to Tuesday 09:00 is one working day; to Wednesday 09:00, two.
    assert "Amber" in row_of(page, amber) and "8 h 00 min left" in row_of(page, amber)
    assert "Green" in row_of(page, green) and "16 h 00 min left" in row_of(page, green)
    assert "Unassigned" in row_of(page, green) and "Accepted" in row_of(page, accepted)
    assert "No deadline running" in row_of(page, accepted)
    assert "Ana Cole" in row_of(page, accepted)
    # The hub says who of its people has what is addressed to the hub, not the others'.
    assert "Claim" in row_of(page, amber) and "Claim" not in row_of(page, green)


async def test_another_organisations_queue_never_lists_the_referral(sp: Signpost) -> None:
    await person(sp, "hal@housing.example", "demoshire-housing", "agency_worker", name="Hal")
    await person(sp, "ana@safe.example", SAFE_HOMES, "agency_worker", name="Ana Cole")
    mash, green = await statutory_report(sp), await triage(sp)
    housing = await signed_in_client(sp, "hal@housing.example")
    ana = await signed_in_client(sp, "ana@safe.example")
    try:
        theirs = (await housing.get("/console/queue")).text
        ours = (await ana.get("/console/queue")).text
        claimed = await housing.post(
            f"/console/queue/{green}/claim", data={"csrf": csrf_of(theirs)}
        )
    finally:
        await housing.aclose()
        await ana.aclose()
    assert mash not in theirs and green not in theirs and "Nothing is waiting" in theirs
    assert green in ours and mash not in ours
    # Claiming it anyway: routing refuses, and the queue says so.
    assert claimed.status_code == 404
    assert "The queue could not do that" in claimed.text and green not in claimed.text


async def test_a_deadline_turns_near_then_missed_as_the_clock_moves(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", HUB, "hub_practitioner")
    amber = await review_referral(sp)  # due Tuesday 09:00: eight working hours away
    mash = await statutory_report(sp)  # red: due 13:00, round the clock

    async def queue() -> str:
        # A fresh sign-in each time: moving the clock ends an idle session.
        hub = await signed_in_client(sp, "hub@demo.example")
        try:
            return (await hub.get("/console/queue")).text
        finally:
            await hub.aclose()

    page = await queue()
    assert "Near" not in row_of(page, amber) and "Missed" not in row_of(page, amber)
    sp.clock.set(START + timedelta(hours=6, minutes=30))  # Monday 15:30
    page = await queue()
    assert "Near: 1 h 30 min left" in row_of(page, amber)
    assert 'class="row-near"' in row_of(page, amber)
    assert "Missed: overdue by 2 h 30 min (round the clock)" in row_of(page, mash)
    sp.clock.set(START + timedelta(days=1, hours=1, minutes=5))  # Tuesday 10:05
    missed = row_of(await queue(), amber)
    assert "Missed: overdue by 1 h 05 min" in missed and 'class="row-missed"' in missed


async def test_a_person_claims_assigns_and_releases_through_the_queue(sp: Signpost) -> None:
    ana_id = await person(sp, "ana@safe.example", SAFE_HOMES, "agency_worker", name="Ana Cole")
    ben_id = await person(sp, "ben@safe.example", SAFE_HOMES, "agency_worker", name="Ben Ray")
    green = await triage(sp)
    ana = await signed_in_client(sp, "ana@safe.example")
    ben = await signed_in_client(sp, "ben@safe.example")

    async def post(client: httpx.AsyncClient, action: str, **fields: str) -> httpx.Response:
        page = await client.get("/console/queue")
        return await client.post(
            f"/console/queue/{green}/{action}", data={"csrf": csrf_of(page.text), **fields}
        )

    try:
        claimed = await post(ana, "claim", who="mine", rag="green")
        assert claimed.status_code == 303, claimed.text
        assert claimed.headers["location"] == "/console/queue?rag=green&who=mine"
        mine = (await ana.get(claimed.headers["location"])).text
        assert "Ana Cole (you)" in row_of(mine, green) and "Release" in row_of(mine, green)

        unknown = await post(ana, "assign", person_id="per_nobody")
        assert unknown.status_code == 422
        assert "Choose a colleague of your organisation" in unknown.text

        given = await post(ana, "assign", person_id=ben_id)
        assert given.status_code == 303, given.text
        assert green not in (await ana.get("/console/queue?who=mine")).text
        bens = (await ben.get("/console/queue?who=mine")).text
        assert "Ben Ray (you)" in row_of(bens, green)

        released = await post(ben, "release", who="unassigned")
        assert released.status_code == 303
        waiting = (await ben.get(released.headers["location"])).text
        assert "Unassigned" in row_of(waiting, green)

        forged = await ana.post(f"/console/queue/{green}/claim", data={"csrf": "forged"})
        assert forged.status_code == 403
    finally:
        await ana.aclose()
        await ben.aclose()
    async with sp.app.state.runtimes["routing"].ctx.db.session() as session:
        steps = (
            await session.exec(
                select(RoutingStep)
                .where(RoutingStep.referral_id == green)
                .order_by(col(RoutingStep.id))
            )
        ).all()
    assert [(s.by, s.summary.split(" (")[0]) for s in steps[1:]] == [
        (f"{SAFE_HOMES}/{ana_id}", "Claimed by Ana Cole"),
        (f"{SAFE_HOMES}/{ana_id}", "Assigned to Ben Ray by Ana Cole"),
        (
            f"{SAFE_HOMES}/{ben_id}",
            "Released to the queue of Safe Homes Domestic Abuse Support by Ben Ray",
        ),
    ]


async def test_the_queue_filters_by_rag_and_refuses_a_filter_not_on_its_lists(
    sp: Signpost,
) -> None:
    await person(sp, "hub@demo.example", HUB, "hub_practitioner")
    mash, green = await statutory_report(sp), await triage(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        reds = (await hub.get("/console/queue?rag=red")).text
        odd = await hub.get("/console/queue?rag=purple")
    finally:
        await hub.aclose()
    assert mash in reds and green not in reds
    assert '<option value="red" selected>' in reds
    assert odd.status_code == 422 and "Choose the filters from the lists (rag)" in odd.text
    assert mash in odd.text and green in odd.text


async def test_the_queue_reads_every_page_of_what_is_open_not_only_the_first(
    sp: Signpost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Routing lists a page at a time; a queue cut at one page would hide referrals.
    monkeypatch.setattr(queue_module, "QUEUE_PAGE", 2)
    await person(sp, "hub@demo.example", HUB, "hub_practitioner")
    referrals = [await triage(sp) for _ in range(5)]
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        page = (await hub.get("/console/queue")).text
    finally:
        await hub.aclose()
    for referral_id in referrals:
        assert f'id="row-{referral_id}"' in page, referral_id
