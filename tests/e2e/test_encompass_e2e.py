"""Operation Encompass across processes: intake and notify as separate services on
Kafka and PostgreSQL. A police domestic abuse report reaches the school's DSL as a
signed notice; the other child's school, with no webhook, raises an alert to the hub."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import create_database
from tests.e2e.harness import ROOT, Process, WebhookSink, create_key, free_port, migrate, wait_ready

NOTICE = "org.signpost.encompass.notice.v1"
ALERT = "org.signpost.encompass.alert.v1"


@pytest.mark.kafka
async def test_a_police_report_reaches_the_school_and_a_missing_webhook_alerts_the_hub(
    tmp_path: Path, empty_kafka: str, postgres_admin_url: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    urls = {
        name: await create_database(postgres_admin_url, f"enc_{name}_{suffix}")
        for name in ("intake", "notify", "keys")
    }
    common = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": empty_kafka,
        "KEYS_DATABASE_URL": urls["keys"],
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
        # Saturday morning after Friday night's incident in the example report, in both
        # processes: the school's deadline is Monday's bell, still to come.
        "CLOCK_START": "2026-11-28T10:00:00Z",
    }
    police = create_key(common, kind="police", organisation="demo-police", scopes="reports:write")
    school = create_key(common, kind="school", organisation="100001", scopes="subscriptions:write")
    hub = create_key(common, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write")
    ports = {name: free_port() for name in ("intake", "notify")}
    for name in ports:
        migrate({**common, "DATABASE_URL": urls[name]}, name)
    procs = [
        Process(
            ["serve", name, "--host", "127.0.0.1", "--port", str(port)],
            {**common, "DATABASE_URL": urls[name], "INSTANCE": f"enc-{name}"},
            tmp_path / f"{name}.log",
        )
        for name, port in ports.items()
    ]
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    body = json.loads((ROOT / "examples" / "police-domestic-abuse-report.json").read_text())
    body["source"]["reference"] = "ENC-" + suffix
    try:
        for name in ports:
            await wait_ready(base[name], procs)
        async with WebhookSink() as dsl, WebhookSink() as hub_sink, httpx.AsyncClient() as c:
            secrets_by_sink = {}
            for key, sink, event_type in ((school, dsl, NOTICE), (hub, hub_sink, ALERT)):
                created = await c.post(
                    f"{base['notify']}/v1/subscriptions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"url": sink.url, "event_types": [event_type]},
                )
                assert created.status_code == 201, created.text
                secrets_by_sink[event_type] = created.json()["secret"]
            posted = await c.post(
                f"{base['intake']}/v1/reports",
                headers={"Authorization": f"Bearer {police}"},
                json=body,
            )
            assert posted.status_code == 202, posted.text
            referral_id = posted.json()["referral_id"]
            try:
                await dsl.wait_for(1, within=60)
                await hub_sink.wait_for(1, within=60)
            except TimeoutError:
                raise AssertionError("\n".join(p.tail(20) for p in procs)) from None
        [(headers, raw)] = dsl.requests
        notice = Webhook(secrets_by_sink[NOTICE]).verify(raw, headers)["data"]
        assert notice["referral_id"] == referral_id
        assert notice["child"]["given_name"] == "Maya"
        assert notice["notify_by"] == "2026-11-30T08:45:00Z"  # Monday, Demo Primary's bell
        assert "narrative" not in raw.decode() and "Noah" not in raw.decode()
        [(headers, raw)] = hub_sink.requests
        alert = Webhook(secrets_by_sink[ALERT]).verify(raw, headers)["data"]
        assert (alert["recipient_organisation"], alert["reason"]) == ("100002", "no_subscription")
        assert "Noah" not in raw.decode()
    finally:
        for proc in procs:
            proc.stop()
