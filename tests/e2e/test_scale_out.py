"""Scaling out (issue 18, item 3): two replicas of each of the four services, as separate
processes on one real Kafka broker (topics of 4 partitions) and one PostgreSQL database
per service, share the work and decide each report once.

Reports are posted to both intake replicas at once. Every one reaches the partner's
webhook exactly once; triage and routing each hold one decision per report; and each
replica of each consumer handled part of the traffic (its own `/metrics`), so the
partitions were shared between the replicas rather than one of them idling.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import create_database
from tests.e2e.harness import (
    Kafka,
    Process,
    WebhookSink,
    create_key,
    free_port,
    migrate,
    report,
    wait_ready,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROUTED = "org.signpost.referral.routed.v1"
SERVICES = ("intake", "triage", "routing", "notify")
REPLICAS = 2
REPORTS = 120
# The consumers whose work must be shared, and the topic each one's work is counted on.
CONSUMES = {
    "triage": "referral.received",
    "routing": "referral.triaged",
    "notify": "referral.routed",
}


@pytest.fixture(scope="module")
def broker() -> Iterator[Kafka]:
    """A broker of this test's own: the consumer groups of other tests' processes, on
    the shared broker, must not hand it their records (or take its)."""
    kafka = Kafka()
    try:
        yield kafka
    finally:
        kafka.remove()


def handled(metrics: str, topic: str) -> float:
    """Records a replica's consumer handled from `topic`, from its /metrics text."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("signpost_events_consumed_total{") and (
            f'topic="{topic}"' in line and 'outcome="handled"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def rows(url: str, table: str) -> tuple[int, int]:
    """(rows, distinct referrals) of a table in a service's database."""
    conn = await asyncpg.connect(re.sub(r"^postgresql\+asyncpg", "postgresql", url))
    try:
        found = await conn.fetchrow(
            f"SELECT count(*) AS n, count(DISTINCT referral_id) AS d FROM {table}"
        )
    finally:
        await conn.close()
    assert found is not None
    return int(found["n"]), int(found["d"])


async def test_two_replicas_of_each_service_share_the_work_and_decide_each_report_once(
    tmp_path: Path, broker: Kafka, postgres_admin_url: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    urls = {
        name: await create_database(postgres_admin_url, f"scale_{name}_{suffix}")
        for name in (*SERVICES, "keys")
    }
    common = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": broker.address,
        "KEYS_DATABASE_URL": urls["keys"],
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",  # the local sink
        "TOPIC_PARTITIONS": "4",
        "INTAKE_RATE_PER_MINUTE": "0",  # the test posts faster than a police force
        "RATE_LIMIT_PER_MINUTE": "0",
    }
    police = create_key(common, kind="police", organisation="e2e-police", scopes="reports:write")
    hub = create_key(common, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write")
    for name in SERVICES:
        migrate({**common, "DATABASE_URL": urls[name]}, name)
    replicas: dict[str, list[tuple[str, Process]]] = {}
    try:
        for name in SERVICES:
            for n in range(REPLICAS):
                port = free_port()
                replicas.setdefault(name, []).append(
                    (
                        f"http://127.0.0.1:{port}",
                        Process(
                            ["serve", name, "--host", "127.0.0.1", "--port", str(port)],
                            {
                                **common,
                                "DATABASE_URL": urls[name],
                                "INSTANCE": f"scale-{name}-{n}-{suffix}",
                            },
                            tmp_path / f"{name}-{n}.log",
                        ),
                    )
                )
        everyone = [proc for group in replicas.values() for _, proc in group]
        for group in replicas.values():
            for base, _ in group:
                await wait_ready(base, everyone, within=120)

        async with WebhookSink() as sink, httpx.AsyncClient(timeout=30) as client:
            created = await client.post(
                f"{replicas['notify'][0][0]}/v1/subscriptions",
                headers={"Authorization": f"Bearer {hub}"},
                json={"url": sink.url, "event_types": [ROUTED]},
            )
            assert created.status_code == 201, created.text
            intakes = [base for base, _ in replicas["intake"]]
            posting = asyncio.Semaphore(8)

            async def post(i: int) -> str:
                async with posting:
                    answer = await client.post(
                        f"{intakes[i % REPLICAS]}/v1/reports",
                        headers={"Authorization": f"Bearer {police}"},
                        json=report(i),
                    )
                assert answer.status_code == 202, answer.text
                referral_id: str = answer.json()["referral_id"]
                return referral_id

            accepted = set(await asyncio.gather(*(post(i) for i in range(REPORTS))))
            assert len(accepted) == REPORTS

            def delivered() -> list[str]:
                return [body["data"]["referral_id"] for body in sink.bodies()]

            try:
                async with asyncio.timeout(180):
                    while not accepted <= set(delivered()):
                        await asyncio.sleep(0.5)
                await asyncio.sleep(2.0)  # a second delivery of any of them would show now
            except TimeoutError:
                missing = sorted(accepted - set(delivered()))
                raise AssertionError(
                    f"{len(missing)} report(s) never reached the partner: {missing[:5]}\n"
                    + "\n".join(p.tail(15) for p in everyone)
                ) from None
            assert sorted(delivered()) == sorted(accepted)  # each once, none twice

            shares: dict[str, list[float]] = {}
            for name, topic in CONSUMES.items():
                for base, _ in replicas[name]:
                    scraped = await client.get(f"{base}/metrics")
                    assert scraped.status_code == 200
                    shares.setdefault(name, []).append(handled(scraped.text, topic))
        print(f"\nrecords handled per replica: {shares}")
        for name, counts in shares.items():
            assert sum(counts) >= REPORTS, (name, counts)
            assert all(count > 0 for count in counts), f"a {name} replica did nothing: {counts}"
        assert await rows(urls["triage"], "triage_decision") == (REPORTS, REPORTS)
        assert await rows(urls["routing"], "routing_decision") == (REPORTS, REPORTS)
    finally:
        for group in replicas.values():
            for _, proc in group:
                proc.stop()
