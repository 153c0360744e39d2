"""The whole pipeline: N reports posted → N signed webhooks at a partner's endpoint,
in embedded mode (one process) and distributed (four processes, Kafka, PostgreSQL)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings import kafka as ce_kafka
from standardwebhooks.webhooks import Webhook

from tests.conftest import create_database
from tests.e2e.harness import (
    Process,
    WebhookSink,
    create_key,
    free_port,
    migrate,
    report,
    wait_ready,
)

N = 30
ROUTED = "org.signpost.referral.routed.v1"


async def post_reports_and_collect(
    *, intake: str, notify: str, police_key: str, hub_key: str, sink: WebhookSink
) -> tuple[set[str], str]:
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{notify}/v1/subscriptions",
            headers={"Authorization": f"Bearer {hub_key}"},
            json={"url": sink.url, "event_types": [ROUTED]},
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert secret.startswith("whsec_")

        async def post(i: int) -> str:
            answer = await client.post(
                f"{intake}/v1/reports",
                headers={"Authorization": f"Bearer {police_key}"},
                json=report(i),
            )
            assert answer.status_code == 202, answer.text
            referral_id: str = answer.json()["referral_id"]
            return referral_id

        ids = set(await asyncio.gather(*(post(i) for i in range(N))))
    assert len(ids) == N
    return ids, secret


def assert_signed_and_complete(sink: WebhookSink, secret: str, ids: set[str]) -> None:
    verifier = Webhook(secret)
    delivered = set()
    for headers, body in sink.requests:
        payload = verifier.verify(body, headers)  # raises unless the signature is right
        assert payload["type"] == ROUTED
        assert set(payload) == {"type", "timestamp", "data"}
        delivered.add(payload["data"]["referral_id"])
    assert delivered == ids
    assert len(sink.requests) == N, "each referral must be notified exactly once"
    # Every third report carried a statutory indicator: it must go to the MASH as red.
    mash = [b["data"] for b in sink.bodies() if b["data"]["destination"]["kind"] == "mash"]
    assert len(mash) == len(range(0, N, 3))
    assert all(d["priority"] == "red" and d["level"] == 4 for d in mash)


async def test_embedded_mode_delivers_every_report_as_a_signed_webhook(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    police = create_key(
        {},
        kind="police",
        organisation="e2e-police",
        scopes="reports:write,reports:read",
        data_dir=data_dir,
    )
    hub = create_key(
        {},
        kind="hub",
        organisation="demoshire-hub",
        scopes="subscriptions:write",
        data_dir=data_dir,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Process(
        ["run", "--port", str(port), "--data-dir", str(data_dir), "--no-demo"],
        {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_ALLOW_HTTP": "true"},
        tmp_path / "signpost.log",
    )
    try:
        await wait_ready(base, [proc])
        async with WebhookSink() as sink:
            ids, secret = await post_reports_and_collect(
                intake=base, notify=base, police_key=police, hub_key=hub, sink=sink
            )
            await sink.wait_for(N, within=60)
            await asyncio.sleep(0.5)  # a duplicate would arrive now
        assert_signed_and_complete(sink, secret, ids)

        async with httpx.AsyncClient() as client:
            status = (
                await client.get(
                    f"{base}/v1/reports/{sorted(ids)[0]}",
                    headers={"Authorization": f"Bearer {police}"},
                )
            ).json()
        assert status["status"] == "routed"
        assert [s["status"] for s in status["journey"]] == ["received", "triaged", "routed"]
    finally:
        proc.stop()


@pytest.mark.kafka
@pytest.mark.postgres
async def test_distributed_mode_on_kafka_and_postgres_delivers_every_report(
    tmp_path: Path, empty_kafka: str, postgres_admin_url: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    urls = {
        name: await create_database(postgres_admin_url, f"e2e_{name}_{suffix}")
        for name in ("intake", "triage", "routing", "notify", "keys")
    }
    common = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": empty_kafka,
        "KEYS_DATABASE_URL": urls["keys"],
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
        "TOPIC_PARTITIONS": "3",
    }
    police = create_key(
        common, kind="police", organisation="e2e-police", scopes="reports:write,reports:read"
    )
    hub = create_key(common, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write")
    ports = {name: free_port() for name in ("intake", "triage", "routing", "notify")}
    for name in ports:
        migrate({**common, "DATABASE_URL": urls[name]}, name)
    procs = [
        Process(
            ["serve", name, "--host", "127.0.0.1", "--port", str(port)],
            {**common, "DATABASE_URL": urls[name], "INSTANCE": f"e2e-{name}"},
            tmp_path / f"{name}.log",
        )
        for name, port in ports.items()
    ]
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        for name in ports:
            await wait_ready(base[name], procs)
        async with WebhookSink() as sink:
            ids, secret = await post_reports_and_collect(
                intake=base["intake"],
                notify=base["notify"],
                police_key=police,
                hub_key=hub,
                sink=sink,
            )
            try:
                await sink.wait_for(N, within=120)
            except TimeoutError:
                raise AssertionError(
                    f"{len(sink.requests)}/{N} webhooks arrived\n"
                    + "\n".join(p.tail(15) for p in procs)
                ) from None
            await asyncio.sleep(1.0)
        assert_signed_and_complete(sink, secret, ids)

        # What partners reading the topic see: CloudEvents in Kafka binary mode,
        # keyed by the pseudonymous subject, decoded by the SDK.
        consumer = AIOKafkaConsumer(
            "referral.routed",
            bootstrap_servers=empty_kafka,
            group_id="e2e-reader-" + suffix,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        # The broker is shared with other tests: keep this run's referrals only.
        events: list[tuple[Any, Any]] = []
        try:
            async with asyncio.timeout(60):
                while {e.get_subject() for _, e in events} != ids:
                    batch = await consumer.getmany(timeout_ms=1000)
                    for messages in batch.values():
                        for m in messages:
                            message = ce_kafka.KafkaMessage(
                                headers=dict(m.headers), key=m.key, value=m.value
                            )
                            event = ce_kafka.from_binary_event(message)
                            if event.get_subject() in ids:
                                events.append((m, event))
        finally:
            await consumer.stop()
        assert len(events) == N, "each referral is routed exactly once"
        for message, event in events:
            assert event.get_type() == ROUTED
            assert dict(message.headers)["content-type"] == b"application/json"
            assert message.key.decode() == event.get_extension("partitionkey")
            assert message.key.decode().startswith("sub_")
            data = event.get_data()
            assert isinstance(data, dict)
            assert "child" not in data and "narrative" not in data  # no personal data
    finally:
        for p in procs:
            p.stop()
