"""End to end in embedded mode: a report with a statutory indicator reaches the MASH as
red within seconds, explained; a practitioner's override is routed again."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from services.apps import embedded_app
from shared.auth import ClientKind
from shared.people import Person
from shared.settings import embedded_settings
from tests.e2e.harness import ROOT, WebhookSink

ROUTED = "org.signpost.referral.routed.v1"
# Generous for a loaded CI machine; the pipeline takes well under a second here.
SECONDS = 10


def statutory_report() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / "statutory-report.json").read_text())
    return body


async def test_a_statutory_report_is_routed_red_to_the_mash_within_seconds(
    tmp_path: Path,
) -> None:
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
        _, police = await registry.create(
            name="e2e police",
            kind=ClientKind.POLICE,
            organisation="demo-police",
            scopes=["reports:write", "reports:read"],
        )
        _, hub = await registry.create(
            name="e2e hub",
            kind=ClientKind.HUB,
            organisation="demoshire-hub",
            scopes=["subscriptions:write", "referrals:read", "triage:override"],
        )
        created = await client.post(
            "/v1/subscriptions",
            headers={"Authorization": f"Bearer {hub}"},
            json={"url": sink.url, "event_types": [ROUTED]},
        )
        assert created.status_code == 201, created.text
        verifier = Webhook(created.json()["secret"])

        posted_at = time.monotonic()
        answer = await client.post(
            "/v1/reports",
            headers={"Authorization": f"Bearer {police}"},
            json=statutory_report(),
        )
        assert answer.status_code == 202, answer.text
        referral_id = answer.json()["referral_id"]
        await sink.wait_for(1, within=SECONDS)
        assert time.monotonic() - posted_at < SECONDS

        headers, body = sink.requests[0]
        routed = verifier.verify(body, headers)["data"]
        assert routed["referral_id"] == referral_id
        assert routed["destination"]["kind"] == "mash"
        assert (routed["level"], routed["priority"]) == (4, "red")

        triage = (
            await client.get(
                f"/v1/referrals/{referral_id}/triage",
                headers={"Authorization": f"Bearer {hub}"},
            )
        ).json()
        assert triage["level"] == 4 and triage["priority"] == "red"
        assert "A statutory indicator is present" in triage["explanation"]
        assert "child criminal exploitation" in triage["explanation"]
        assert "(4 hours, round the clock)" in triage["explanation"]

        # The hub lowers it: the MASH has already seen the boy and he is known to the
        # youth justice team, who are better placed. Stepping a statutory referral
        # down waits for a second person's approval; then routing decides again.
        asked = await client.post(
            f"/v1/referrals/{referral_id}/triage/override",
            headers={"Authorization": f"Bearer {hub}"},
            json={
                "level": 3,
                "rationale": "Strategy discussion held today: no s47; youth justice lead.",
            },
        )
        assert asked.status_code == 202, asked.text
        second = app.state.person_token_signer.mint(
            Person(
                id="per_e2e",
                name="E2E Practitioner",
                organisation="demoshire-hub",
                roles=("hub_practitioner",),
            )
        )
        approved = await client.post(
            f"{asked.headers['location']}/approve",
            headers={"Authorization": f"Bearer {second}"},
            json={"note": "Agreed at the strategy discussion."},
        )
        assert approved.status_code == 200, approved.text
        await sink.wait_for(2, within=SECONDS)
        headers, body = sink.requests[1]
        rerouted = verifier.verify(body, headers)["data"]
        assert rerouted["referral_id"] == referral_id
        assert rerouted["destination"]["kind"] == "hub"
        assert (rerouted["level"], rerouted["priority"]) == (3, "amber")

        async with asyncio.timeout(SECONDS):
            while True:
                journey = (
                    await client.get(
                        f"/v1/reports/{referral_id}",
                        headers={"Authorization": f"Bearer {police}"},
                    )
                ).json()
                if journey.get("level") == 3 and journey["destination"]["kind"] == "hub":
                    break
                await asyncio.sleep(0.05)
