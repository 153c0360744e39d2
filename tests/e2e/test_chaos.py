"""Chaos (issue 12, item 7): the four services as processes on a broker and a
PostgreSQL of the test's own, reports flowing throughout; each service is SIGKILLed
once and started again, and the broker is restarted once. Afterwards:

- nothing is lost: every report intake accepted reaches the partner's webhook;
- no decision is made twice: one `referral.triaged` and one `referral.routed` per
  referral on the topics, however often a record was redelivered. A relay killed
  between the broker's acknowledgement and marking its row sent publishes that same
  event again (the outbox's documented re-publication: never loss): a copy with the
  same CloudEvent id, which every consumer's inbox drops. So decisions are counted by
  event id, and copies of one id must carry the same decision;
- no webhook is delivered again after its 2xx was recorded (the only repeat allowed is
  of a webhook whose answer was in flight in the instant notify was killed);
- nothing is parked and nothing is stranded: the dead-letter topics and every
  service's outbox are empty.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings import kafka as ce_kafka

from shared.events import Topic, dlq_topic
from tests.conftest import create_database
from tests.e2e.harness import (
    Kafka,
    Poster,
    Process,
    WebhookSink,
    create_key,
    free_port,
    migrate,
    time_to_answer,
    wait_ready,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SERVICES = ("intake", "triage", "routing", "notify")
ROUTED = "org.signpost.referral.routed.v1"
# A webhook whose 2xx arrived this close before notify's SIGKILL may not be recorded
# yet (its answer was in flight): the one repeat the guarantee allows.
IN_FLIGHT = 1.0


def referrals(sink: WebhookSink) -> set[str]:
    return {body["data"]["referral_id"] for body in sink.bodies()}


async def events_on(bootstrap: str, topics: list[str], *, settle: float = 3.0) -> list[Any]:
    """(topic, CloudEvent id, data) of every record on `topics`, read from the start
    until nothing new arrives for `settle` seconds."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id="chaos-check-" + uuid.uuid4().hex[:8],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for m in messages:
                    quiet_since = time.monotonic()
                    event = ce_kafka.from_binary_event(
                        ce_kafka.KafkaMessage(headers=dict(m.headers), key=m.key, value=m.value)
                    )
                    found.append((m.topic, event.get_id(), event.get_data()))
    finally:
        await consumer.stop()
    return found


async def unsent(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count
    finally:
        await conn.close()


async def test_killing_every_service_and_restarting_the_broker_loses_nothing_and_repeats_nothing(
    tmp_path: Path, postgres_admin_url: str
) -> None:
    broker = Kafka()
    suffix = uuid.uuid4().hex[:6]
    urls = {
        name: await create_database(postgres_admin_url, f"chaos_{name}_{suffix}")
        for name in (*SERVICES, "keys")
    }
    common = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": broker.address,
        "KEYS_DATABASE_URL": urls["keys"],
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
        "TOPIC_PARTITIONS": "3",
        # Reports come faster than a police system sends them; limits are not under test.
        "INTAKE_RATE_PER_MINUTE": "0",
        "RATE_LIMIT_PER_MINUTE": "0",
    }
    procs: dict[str, Process] = {}
    try:
        police = create_key(
            common, kind="police", organisation="e2e-police", scopes="reports:write,reports:read"
        )
        hub = create_key(
            common, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write"
        )
        ports = {name: free_port() for name in SERVICES}
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name in SERVICES:
            migrate({**common, "DATABASE_URL": urls[name]}, name)
            procs[name] = Process(
                ["serve", name, "--host", "127.0.0.1", "--port", str(ports[name])],
                {**common, "DATABASE_URL": urls[name], "INSTANCE": f"chaos-{name}-{suffix}"},
                tmp_path / f"{name}.log",
            )
        for name in SERVICES:
            await wait_ready(base[name], list(procs.values()))

        notify_killed_at = 0.0
        async with WebhookSink() as sink, httpx.AsyncClient(timeout=30) as client:
            created = await client.post(
                f"{base['notify']}/v1/subscriptions",
                headers={"Authorization": f"Bearer {hub}"},
                json={"url": sink.url, "event_types": [ROUTED]},
            )
            assert created.status_code == 201, created.text
            with Poster(base["intake"], police, interval=0.1, first=0) as reports:
                for name in ("notify", "triage", "intake", "routing"):
                    await asyncio.sleep(2.5)  # reports flow through every service meanwhile
                    if name == "notify":
                        notify_killed_at = time.monotonic()
                    procs[name].kill()
                    procs[name] = procs[name].again(tmp_path / f"{name}-after-kill.log")
                    await time_to_answer(f"{base[name]}/healthz", procs[name])
                await asyncio.sleep(2.5)
                broker.stop()
                await asyncio.sleep(3.0)  # reports are still accepted into the outbox
                broker.start()
                await asyncio.sleep(3.0)
                await reports.stop()

            # An outage may be a 503 (or no answer while intake is down), never a 500.
            assert [r for r in reports.refused if r[0] != 503] == [], reports.refused[:5]
            accepted = reports.accepted
            assert len(accepted) > 50, "reports must have flowed throughout"
            try:
                async with asyncio.timeout(180):
                    while not accepted <= referrals(sink):
                        await asyncio.sleep(0.5)
            except TimeoutError:
                missing = sorted(accepted - referrals(sink))
                raise AssertionError(
                    f"{len(missing)} accepted report(s) never reached the partner: "
                    f"{missing[:5]}\n" + "\n".join(p.tail(15) for p in procs.values())
                ) from None
            await asyncio.sleep(2.0)  # anything sent twice would arrive by now

        # No webhook re-sent after its 2xx was recorded.
        first_seen: dict[str, float] = {}
        repeats = []
        for (headers, _), at in zip(sink.requests, sink.arrivals, strict=True):
            webhook_id = headers["webhook-id"]
            if webhook_id in first_seen:
                first = first_seen[webhook_id]
                if not notify_killed_at - IN_FLIGHT <= first <= notify_killed_at:
                    repeats.append(webhook_id)
            else:
                first_seen[webhook_id] = at
        assert repeats == [], f"{len(repeats)} webhook(s) delivered again after a 2xx"
        # Besides the accepted reports, the partner may hear only of reports whose 202
        # was lost with a killed intake (stored, but the answer never left).
        assert len(referrals(sink) - accepted) <= reports.unreachable

        # No decision made twice.
        events = await events_on(
            broker.address, [Topic.REFERRAL_TRIAGED.value, Topic.REFERRAL_ROUTED.value]
        )
        # A re-published copy repeats its event's id and data exactly; decisions are
        # the distinct events.
        decisions: dict[str, tuple[str, Any]] = {}
        for topic, event_id, data in events:
            assert decisions.setdefault(event_id, (topic, data)) == (topic, data), event_id
        triaged = Counter(
            (d["referral_id"], d.get("revision", 0))
            for topic, d in decisions.values()
            if topic == Topic.REFERRAL_TRIAGED.value
        )
        routed = Counter(
            d["referral_id"] for topic, d in decisions.values() if topic == Topic.REFERRAL_ROUTED
        )
        assert {r for r, _ in triaged} >= accepted
        assert [k for k, n in triaged.items() if n > 1] == []
        assert set(routed) >= accepted
        assert [k for k, n in routed.items() if n > 1] == []

        # Nothing parked, nothing stranded.
        parked = await events_on(broker.address, [dlq_topic(t.value) for t in Topic], settle=2.0)
        assert parked == []
        async with asyncio.timeout(30):
            while any([await unsent(urls[name]) for name in SERVICES]):
                await asyncio.sleep(0.5)
    finally:
        for p in procs.values():
            p.stop()
        broker.remove()
