"""End to end in embedded mode: a police concern routed to the single best-placed
agency; the agency declines; the hub receives the referral (a signed webhook), and
the police officer's view shows each step."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from services.apps import embedded_app
from shared.auth import ClientKind
from shared.settings import embedded_settings
from tests.e2e.harness import ROOT, WebhookSink

ROUTED = "org.signpost.referral.routed.v1"
STATUS = "org.signpost.referral.status.v1"
SECONDS = 10


def police_report() -> dict[str, Any]:
    # An 8-year-old, domestic abuse, EX1: level 2, Safe Homes meets the need.
    body: dict[str, Any] = json.loads((ROOT / "examples" / "police-report.json").read_text())
    return body


async def test_an_agency_declines_and_the_hub_receives_the_referral(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True)
    app = embedded_app(settings)
    async with (
        app.router.lifespan_context(app),
        WebhookSink() as sink,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://signpost"
        ) as client,
    ):
        registry = app.state.key_registry

        async def key(kind: ClientKind, organisation: str, *scopes: str) -> dict[str, str]:
            _, plain = await registry.create(
                name=f"e2e {kind}", kind=kind, organisation=organisation, scopes=scopes
            )
            return {"Authorization": f"Bearer {plain}"}

        police = await key(ClientKind.POLICE, "demo-police", "reports:write", "reports:read")
        agency = await key(ClientKind.AGENCY, "safe-homes", "referrals:read", "referrals:write")
        hub = await key(
            ClientKind.HUB,
            "demoshire-hub",
            "subscriptions:write",
            "referrals:read",
            "referrals:write",
        )
        created = await client.post(
            "/v1/subscriptions", headers=hub, json={"url": sink.url, "event_types": [ROUTED]}
        )
        assert created.status_code == 201, created.text
        verifier = Webhook(created.json()["secret"])

        answer = await client.post("/v1/reports", headers=police, json=police_report())
        assert answer.status_code == 202, answer.text
        referral_id = answer.json()["referral_id"]

        await sink.wait_for(1, within=SECONDS)
        headers, body = sink.requests[0]
        first = verifier.verify(body, headers)["data"]
        assert first["referral_id"] == referral_id
        assert first["destination"]["id"] == "da-support"

        # The agency sees it, with why it was chosen, and declines it.
        held = (await client.get("/v1/referrals", headers=agency)).json()
        assert [r["referral_id"] for r in held] == [referral_id]
        record = (await client.get(f"/v1/referrals/{referral_id}/routing", headers=agency)).json()
        assert "Safe Homes Domestic Abuse Support is best placed" in record["explanation"]
        declined = await client.post(
            f"/v1/referrals/{referral_id}/decline",
            headers=agency,
            json={"reason_code": "no_capacity"},
        )
        assert declined.status_code == 200, declined.text

        # The hub receives it: a signed referral.routed addressed to the hub.
        await sink.wait_for(2, within=SECONDS)
        headers, body = sink.requests[1]
        second = verifier.verify(body, headers)["data"]
        assert second["referral_id"] == referral_id
        assert second["destination"]["kind"] == "hub"
        assert second["reason_codes"] == ["declined_by_agency"]
        held = (await client.get("/v1/referrals?status=requested", headers=hub)).json()
        assert referral_id in {r["referral_id"] for r in held}
        assert (await client.get("/v1/referrals", headers=agency)).json() == []

        # The officer who raised it sees the decline and the hub taking it on.
        async with asyncio.timeout(SECONDS):
            while True:
                view = (await client.get(f"/v1/reports/{referral_id}", headers=police)).json()
                steps = [s["status"] for s in view["journey"]]
                # routed (to the hub) and status travel on two topics: either order.
                if {"rejected", "requested"} <= set(steps) and steps.count("routed") == 2:
                    break
                await asyncio.sleep(0.05)
        summaries = " ".join(s["summary"] for s in view["journey"])
        assert "Declined by" in summaries and "because they have no capacity just now" in summaries
        assert view["destination"]["kind"] == "hub"
