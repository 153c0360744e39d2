"""A child's chronology in the console: the hub practitioner reads which referrals are
one child's (and which only perhaps), confirms or splits a match through triage in
their own name, and nobody else opens the page."""

from __future__ import annotations

import httpx
from sqlmodel import select

from services.triage.models import MatchVerdict
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import csrf_of, person, signed_in_client
from tests.services.triage.test_api import keys, police_report, post, school_report, triage_of

STONE = {"family_name": "Stone", "date_of_birth": "2017-03-09", "address": {"postcode": "EX4 6PX"}}
WHY = "The school confirms Louise and Louis are one child: Louis is her old name."


async def twins(sp: Signpost) -> tuple[str, str, str]:
    """Louis reported by the police, then Louise by the school (perhaps him): the
    referrals and Louis's subject id."""
    k = await keys(sp)
    louis = await post(sp, k["police"], police_report("C-1", given_name="Louis", **STONE))
    await triage_of(sp, k["hub"], louis)
    sp.clock.advance(hours=1)  # the school's concern arrives later
    louise = await post(sp, k["school"], school_report("C-2", given_name="Louise", **STONE))
    await triage_of(sp, k["hub"], louise)
    child = await sp.client.get(f"/v1/referrals/{louis}/child", headers=bearer(k["hub"]))
    return louis, louise, child.json()["subject_id"]


async def judge(
    client: httpx.AsyncClient, subject: str, referral: str, verdict: str, rationale: str
) -> httpx.Response:
    page = await client.get(f"/console/children/{subject}")
    assert page.status_code == 200, page.text
    return await client.post(
        f"/console/children/{subject}/matches",
        data={
            "csrf": csrf_of(page.text),
            "referral_id": referral,
            "verdict": verdict,
            "rationale": rationale,
        },
    )


async def test_the_hub_reads_the_chronology_with_each_match_in_words(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    louis, louise, subject = await twins(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        referral = await hub.get(f"/console/referrals/{louis}")
        page = await hub.get(f"/console/children/{subject}")
    finally:
        await hub.aclose()

    # The referral's page leads to its child's chronology.
    assert f'href="/console/children/{subject}"' in referral.text
    assert page.status_code == 200, page.text
    text = page.text
    assert "<caption>Referrals matched to this child, the newest first</caption>" in text
    assert text.index(louise) < text.index(louis)  # newest first
    assert f'href="/console/referrals/{louis}"' in text
    assert f'href="/console/referrals/{louise}"' in text
    assert "Perhaps the same child (not counted)" in text
    assert "given name only alike" in text and "The first record of this child" in text
    assert "Green" in text and "School" in text and "Police" in text
    assert "Stone" not in text and "Louis " not in text  # no names on this page


async def test_a_match_is_confirmed_then_split_through_the_page_in_the_person_s_name(
    sp: Signpost,
) -> None:
    sam = await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    _, louise, subject = await twins(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        unsaid = await judge(hub, subject, louise, "confirm", "   ")
        assert unsaid.status_code == 422 and "a rationale is required" in unsaid.text

        confirmed = await judge(hub, subject, louise, "confirm", WHY)
        assert confirmed.status_code == 303, confirmed.text
        page = (await hub.get(f"/console/children/{subject}")).text
        assert "Confirmed by Sam Hale" in page and "The same child (counted)" in page

        sp.clock.advance(minutes=10)  # the practitioner thinks again
        split = await judge(hub, subject, louise, "split", "On reflection: twins, not one child.")
        assert split.status_code == 303, split.text
        page = (await hub.get(f"/console/children/{subject}")).text
        assert "Split by Sam Hale" in page and "Not this child" in page
    finally:
        await hub.aclose()
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        verdicts = (await session.exec(select(MatchVerdict))).all()
    assert [(v.verdict, v.by_person_id) for v in verdicts] == [("confirm", sam), ("split", sam)]


async def test_a_refused_verdict_re_shows_the_page_with_the_reason(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    louis, _, subject = await twins(sp)
    hub = await signed_in_client(sp, "hub@demo.example")
    try:
        # Louise is not counted: Louis's report holds the only record the child is
        # known by, so there is no link of it to split.
        refused = await judge(hub, subject, louis, "split", "Not the same child at all, surely.")
    finally:
        await hub.aclose()
    assert refused.status_code == 409
    assert "The verdict was not recorded" in refused.text
    assert "only record the child is known by" in refused.text


async def test_another_organisation_s_person_gets_the_403_page_with_nothing_of_the_child(
    sp: Signpost,
) -> None:
    await person(sp, "worker@demo.example", "safe-homes", "agency_worker")
    louis, louise, subject = await twins(sp)
    worker = await signed_in_client(sp, "worker@demo.example")
    try:
        page = await worker.get(f"/console/children/{subject}")
    finally:
        await worker.aclose()
    assert page.status_code == 403
    assert "cannot open this child" in page.text
    assert louis not in page.text and louise not in page.text
