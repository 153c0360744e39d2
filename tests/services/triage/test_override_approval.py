"""Stepping a statutory referral down takes two people: a hub practitioner's request to
lower the statutory level waits, unchanged and unannounced, until a second person
approves it (then the override is made as any override is, both people named) or
refuses it; a key may ask but never approve; raising a level, and moving between the
levels below the statutory one, apply at once as before. The request keeps the reason
code it was asked with, and the override an approval makes carries it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from services.apps import embedded_app
from services.triage.models import TriageOverride, TriageOverrideRequest
from shared.clock import Clock
from shared.outbox import OutboxMessage
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example
from tests.services.triage.test_api import police_report, post, routing_of, triage_of

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HUB = "demoshire-hub"
RATIONALE = "Strategy discussion held today: no s47; the youth justice team leads."


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0)
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


def practitioner(sp: Signpost, person_id: str, name: str) -> str:
    return sp.person(HUB, "hub_practitioner", person_id=person_id, name=name)


async def statutory(sp: Signpost) -> str:
    """The example statutory report, decided at the statutory level (4 in Demoshire)."""
    police = await sp.key("police", "demo-police", "reports:write", "reports:read")
    referral_id = await post(sp, police, example("statutory-report.json"))
    hub = await sp.key("hub", HUB, "referrals:read")
    assert (await triage_of(sp, hub, referral_id))["level"] == 4
    return referral_id


async def change(
    sp: Signpost, who: str, referral_id: str, level: int, reason_code: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"level": level, "rationale": RATIONALE}
    if reason_code is not None:
        body["reason_code"] = reason_code
    return await sp.client.post(
        f"/v1/referrals/{referral_id}/triage/override", json=body, headers=bearer(who)
    )


async def decide(
    sp: Signpost, who: str, referral_id: str, request_id: str, verb: str, note: str = ""
) -> httpx.Response:
    return await sp.client.post(
        f"/v1/referrals/{referral_id}/triage/override-requests/{request_id}/{verb}",
        json={"note": note},
        headers=bearer(who),
    )


async def triaged_events(sp: Signpost) -> list[dict[str, Any]]:
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        rows = (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.topic == "referral.triaged")
                .order_by(col(OutboxMessage.id))
            )
        ).all()
    return [json.loads(row.value) for row in rows]


async def test_a_person_lowering_the_statutory_level_asks_and_nothing_changes_yet(
    sp: Signpost,
) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")

    answer = await change(sp, ann, referral_id, 2)

    assert answer.status_code == 202, answer.text
    asked = answer.json()
    assert (asked["status"], asked["from_level"], asked["to_level"]) == ("pending", 4, 2)
    assert (asked["requested_by"], asked["requested_by_name"]) == (f"{HUB}/per_ann", "Ann Shaw")
    assert asked["rationale"] == RATIONALE and asked["requested_at"] == "2026-11-30T09:00:00Z"
    shown = await sp.client.get(answer.headers["location"], headers=bearer(ann))
    assert shown.status_code == 200 and shown.json() == asked
    listed = await sp.client.get(
        f"/v1/referrals/{referral_id}/triage/override-requests", headers=bearer(ann)
    )
    assert listed.json() == [asked]
    view = await triage_of(sp, ann, referral_id)
    assert (view["level"], view["overrides"]) == (4, [])
    assert [e["revision"] for e in await triaged_events(sp)] == [0]


async def test_a_second_person_approves_and_the_override_is_made_naming_both(
    sp: Signpost,
) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    bo = practitioner(sp, "per_bo", "Bo Reid")
    asked = (await change(sp, ann, referral_id, 2)).json()

    approved = await decide(sp, bo, referral_id, asked["id"], "approve", "Agreed at the meeting.")

    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert (done["status"], done["decided_by"], done["decided_by_name"]) == (
        "approved",
        f"{HUB}/per_bo",
        "Bo Reid",
    )
    assert done["requested_by_name"] == "Ann Shaw" and done["override_id"]
    assert done["decision_note"] == "Agreed at the meeting."
    view = await triage_of(sp, bo, referral_id)
    assert (view["level"], view["decision"]["level"]) == (2, 4)
    [override] = view["overrides"]
    assert (override["id"], override["by_name"], override["requested_by_name"]) == (
        done["override_id"],
        "Bo Reid",
        "Ann Shaw",
    )
    assert (
        "lowered the level from 4 to 2 (Early help, green), approving Ann Shaw's request: "
        f'"{RATIONALE}"'
    ) in view["explanation"]
    events = await triaged_events(sp)
    assert [(e["revision"], e["level"]) for e in events] == [(0, 4), (1, 2)]
    assert events[1]["override"]["from_level"] == 4
    assert events[1]["override"]["rationale"] == RATIONALE
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        [stored] = (await session.exec(select(TriageOverride))).all()
    assert (stored.by_client_id, stored.by_name) == ("per_bo", "Bo Reid")
    assert (await routing_of(sp, referral_id, revision=1)).level == 2


async def test_the_requester_cannot_approve_their_own_request(sp: Signpost) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    asked = (await change(sp, ann, referral_id, 2)).json()

    own = await decide(sp, ann, referral_id, asked["id"], "approve")

    assert own.status_code == 403
    assert own.json()["type"].endswith("/second-person-required")
    assert "a second person must approve" in own.json()["detail"]
    assert (await triage_of(sp, ann, referral_id))["level"] == 4


async def test_a_key_may_ask_but_never_approve(sp: Signpost) -> None:
    referral_id = await statutory(sp)
    key = await sp.key("hub", HUB, "referrals:read", "triage:override")
    asked = await change(sp, key, referral_id, 3)
    assert asked.status_code == 202, asked.text
    assert asked.json()["requested_by"] == HUB

    other_key = await sp.key("hub", HUB, "referrals:read", "triage:override")
    by_key = await decide(sp, other_key, referral_id, asked.json()["id"], "approve")
    assert by_key.status_code == 403
    assert by_key.json()["type"].endswith("/second-person-required")

    bo = practitioner(sp, "per_bo", "Bo Reid")
    by_person = await decide(sp, bo, referral_id, asked.json()["id"], "approve")
    assert by_person.status_code == 200, by_person.text
    assert (await triage_of(sp, bo, referral_id))["level"] == 3


async def test_a_refusal_says_why_and_the_level_stays(sp: Signpost) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    bo = practitioner(sp, "per_bo", "Bo Reid")
    asked = (await change(sp, ann, referral_id, 2)).json()

    silent = await decide(sp, bo, referral_id, asked["id"], "refuse")
    assert silent.status_code == 422
    assert [e["field"] for e in silent.json()["errors"]] == ["note"]

    why = "The police report says the exploitation is ongoing; the MASH keeps it."
    refused = await decide(sp, bo, referral_id, asked["id"], "refuse", why)
    assert refused.status_code == 200, refused.text
    assert (refused.json()["status"], refused.json()["decision_note"]) == ("refused", why)

    late = await decide(
        sp, practitioner(sp, "per_cy", "Cy Ode"), referral_id, asked["id"], "approve"
    )
    assert late.status_code == 409 and late.json()["type"].endswith("/override-request-decided")
    assert (await triage_of(sp, bo, referral_id))["level"] == 4
    assert [e["revision"] for e in await triaged_events(sp)] == [0]


async def test_only_the_requester_withdraws_a_request(sp: Signpost) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    bo = practitioner(sp, "per_bo", "Bo Reid")
    asked = (await change(sp, ann, referral_id, 2)).json()

    assert (await decide(sp, bo, referral_id, asked["id"], "withdraw")).status_code == 403
    withdrawn = await decide(sp, ann, referral_id, asked["id"], "withdraw")

    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert (await decide(sp, bo, referral_id, asked["id"], "approve")).status_code == 409


async def test_a_request_the_decision_has_moved_on_from_is_stale(sp: Signpost) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    bo = practitioner(sp, "per_bo", "Bo Reid")
    cy = practitioner(sp, "per_cy", "Cy Ode")
    first = (await change(sp, ann, referral_id, 3)).json()
    second = (await change(sp, cy, referral_id, 2)).json()
    assert (await decide(sp, bo, referral_id, second["id"], "approve")).status_code == 200

    stale = await decide(sp, bo, referral_id, first["id"], "approve")

    assert stale.status_code == 409 and stale.json()["type"].endswith("/override-request-stale")
    listed = await sp.client.get(
        f"/v1/referrals/{referral_id}/triage/override-requests", headers=bearer(bo)
    )
    assert {r["id"]: (r["status"], r["stale"]) for r in listed.json()} == {
        first["id"]: ("pending", True),
        second["id"]: ("approved", False),
    }
    assert (await triage_of(sp, bo, referral_id))["level"] == 2


async def test_raising_a_level_or_moving_below_the_statutory_level_applies_at_once(
    sp: Signpost,
) -> None:
    police = await sp.key("police", "demo-police", "reports:write", "reports:read")
    referral_id = await post(sp, police, police_report("T-APPROVAL"))
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    assert (await triage_of(sp, ann, referral_id))["level"] == 2

    for level in (3, 1, 4):
        answer = await change(sp, ann, referral_id, level)
        assert answer.status_code == 201, answer.text
        assert answer.json()["level"] == level
    assert [e["level"] for e in await triaged_events(sp)] == [2, 3, 1, 4]


async def test_only_hub_practitioners_see_or_decide_requests(sp: Signpost) -> None:
    referral_id = await statutory(sp)
    asked = (await change(sp, practitioner(sp, "per_ann", "Ann Shaw"), referral_id, 2)).json()
    worker = sp.person("demoshire-mash", "mash_practitioner", person_id="per_mo", name="Mo")
    listed = await sp.client.get(
        f"/v1/referrals/{referral_id}/triage/override-requests", headers=bearer(worker)
    )
    approved = await decide(sp, worker, referral_id, asked["id"], "approve")
    assert (listed.status_code, approved.status_code) == (403, 403)
    unknown = await decide(
        sp, practitioner(sp, "per_bo", "Bo Reid"), referral_id, "ovq_nope", "approve"
    )
    assert unknown.status_code == 404


async def test_an_approved_step_down_carries_the_requesters_reason_onto_the_override(
    sp: Signpost,
) -> None:
    referral_id = await statutory(sp)
    ann = practitioner(sp, "per_ann", "Ann Shaw")
    bo = practitioner(sp, "per_bo", "Bo Reid")

    asked = await change(sp, ann, referral_id, 2, reason_code="needs_met_elsewhere")
    assert asked.status_code == 202, asked.text
    assert asked.json()["reason_code"] == "needs_met_elsewhere"
    shown = await sp.client.get(asked.headers["location"], headers=bearer(bo))
    assert shown.json()["reason_code"] == "needs_met_elsewhere"

    approved = await decide(sp, bo, referral_id, asked.json()["id"], "approve")

    assert approved.status_code == 200, approved.text
    assert approved.json()["reason_code"] == "needs_met_elsewhere"
    [override] = (await triage_of(sp, bo, referral_id))["overrides"]
    assert (override["reason_code"], override["by_name"], override["requested_by_name"]) == (
        "needs_met_elsewhere",
        "Bo Reid",
        "Ann Shaw",
    )
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        [stored] = (await session.exec(select(TriageOverride))).all()
        [request] = (await session.exec(select(TriageOverrideRequest))).all()
    assert (stored.reason_code, request.reason_code) == ("needs_met_elsewhere",) * 2
