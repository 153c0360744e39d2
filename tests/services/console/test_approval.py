"""Stepping a statutory referral down through the console takes two hub practitioners:
the one who asks sees the request waiting, with no way to approve it themselves; a
second approves it and the level changes. The reason the first gave shows, in words, on
the request and then on the override. The referral's page explains the decision in
full: each factor and its weight, the policy version, routing's candidates and the
timeline; what a person may not see (deliveries, notices) is left off."""

from __future__ import annotations

import re

import httpx
from sqlmodel import select

from services.triage.models import TriageOverride, TriageOverrideRequest
from tests.services.conftest import Signpost
from tests.services.console.conftest import person, signed_in_client
from tests.services.console.test_actions import act
from tests.services.console.test_pages import statutory_report

WHY = "Strategy discussion held today: no s47; the youth justice team leads."
WAITING = "Waiting for a second person's approval"
MET_ELSEWHERE = "Already open to a service that meets the need"


def request_id_of(page: str) -> str:
    found = re.search(r'name="request_id" value="([^"]+)"', page)
    assert found, "the page offers an answer to the request"
    return found.group(1)


async def page_of(client: httpx.AsyncClient, referral_id: str) -> str:
    page = await client.get(f"/console/referrals/{referral_id}")
    assert page.status_code == 200, page.text
    return page.text


async def test_a_second_hub_practitioner_approves_stepping_the_statutory_referral_down(
    sp: Signpost,
) -> None:
    ann_id = await person(
        sp, "ann@demo.example", "demoshire-hub", "hub_practitioner", name="Ann Shaw"
    )
    await person(sp, "bo@demo.example", "demoshire-hub", "hub_practitioner", name="Bo Reid")
    referral_id = await statutory_report(sp)
    ann = await signed_in_client(sp, "ann@demo.example")
    bo = await signed_in_client(sp, "bo@demo.example")
    try:
        asked = await act(
            ann,
            referral_id,
            action="level",
            level="2",
            reason_code="needs_met_elsewhere",
            rationale=WHY,
        )
        assert asked.status_code == 303, asked.text

        mine = await page_of(ann, referral_id)
        assert WAITING in mine and "Ann Shaw asked on" in mine and WHY in mine
        assert f"<p>Reason: {MET_ELSEWHERE}</p>" in mine
        assert "You asked for this change" in mine
        assert "Approve: lower to level 2" not in mine
        assert "As it stands</dt><dd>Level 4" in mine

        theirs = await page_of(bo, referral_id)
        assert WAITING in theirs and "Approve: lower to level 2" in theirs
        request_id = request_id_of(theirs)
        unexplained = await act(bo, referral_id, action="refuse_level", request_id=request_id)
        assert unexplained.status_code == 422
        assert "Say why: a rationale is required" in unexplained.text

        approved = await act(bo, referral_id, action="approve_level", request_id=request_id)
        assert approved.status_code == 303, approved.text

        after = await page_of(bo, referral_id)
        assert WAITING not in after
        assert "As it stands</dt><dd>Level 2" in after
        assert "by Bo Reid (demoshire-hub), approving Ann Shaw's request" in after
        assert f"{WHY}<br>Reason: {MET_ELSEWHERE}</li>" in after
        assert "approved by Bo Reid" in after
        # The decision explained: each factor with its weight, the rule, the policy.
        assert "Each factor and its weight" in after
        assert "child criminal exploitation" in after and "sets the level" in after
        assert "demoshire, version 2026.12-1" in after
        assert "Rules that fired" in after and "History that counted" in after
        assert "Timeline" in after and "Chosen:" in after
        assert "Deliveries to your organisation" in after
        assert "Operation Encompass notices" in after
    finally:
        await ann.aclose()
        await bo.aclose()
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        [stored] = (await session.exec(select(TriageOverrideRequest))).all()
        [made] = (await session.exec(select(TriageOverride))).all()
    assert (stored.status, stored.requested_by) == ("approved", f"demoshire-hub/{ann_id}")
    assert (stored.reason_code, made.reason_code) == ("needs_met_elsewhere",) * 2


async def test_the_mash_sees_the_decision_explained_without_the_hubs_deliveries_or_notices(
    sp: Signpost,
) -> None:
    await person(sp, "mash@demo.example", "demoshire-mash", "mash_practitioner")
    referral_id = await statutory_report(sp)
    mash = await signed_in_client(sp, "mash@demo.example")
    try:
        page = await page_of(mash, referral_id)
    finally:
        await mash.aclose()
    assert "Timeline" in page and "Why it went there" in page
    assert "Deliveries to your organisation" not in page
    assert "Operation Encompass notices" not in page
    assert WAITING not in page and "Change the level" not in page
