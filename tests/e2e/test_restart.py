"""Recovering in seconds, quietly (issue 12, item 6), with the four services as separate
processes on a real Kafka broker and PostgreSQL.

- Each service is killed (SIGKILL) in turn while reports flow and started again: it
  answers HTTP within 5 s of its start (intake accepts a report within 5 s), its
  consumer groups are back soon after (static membership: no rebalance to wait for),
  and every report accepted before, during and after reaches the partner.
- A service started while the broker is down serves HTTP and accepts reports into its
  outbox at once, says on /readyz that the bus and its group are not ready, and joins
  when the broker comes; a broker outage while it runs keeps reports flowing into the
  outbox, and the service writes only a few log lines for the whole outage.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings import kafka as ce_kafka

from tests.conftest import create_database
from tests.e2e.harness import (
    Kafka,
    Poster,
    Process,
    WebhookSink,
    create_key,
    free_port,
    migrate,
    report,
    time_to_answer,
    wait_ready,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROUTED = "org.signpost.referral.routed.v1"
SERVICES = ("intake", "triage", "routing", "notify")
# The target: every service answers within this long of a restart.
SERVE_WITHIN = 5.0
# Its consumer groups joined again (readiness) within this long: a static member gets
# its partitions back at once, far sooner than the session timeout (15 s) would allow.
READY_WITHIN = 15.0
# What a broker outage may write to a service's log, start to end.
OUTAGE_LINES = 10


@pytest.fixture(scope="module")
def broker() -> Iterator[Kafka]:
    """A broker of these tests' own: one of them stops and starts it, and what their
    kills leave on the topics (re-published events) must not reach other tests."""
    kafka = Kafka()
    try:
        yield kafka
    finally:
        kafka.remove()


def _no_rate_limits() -> dict[str, str]:
    # The tests post faster than a police system would; the limits are not under test.
    return {"INTAKE_RATE_PER_MINUTE": "0", "RATE_LIMIT_PER_MINUTE": "0"}


async def _accept(client: httpx.AsyncClient, intake: str, key: str, n: int) -> str:
    answer = await client.post(
        f"{intake}/v1/reports", headers={"Authorization": f"Bearer {key}"}, json=report(n)
    )
    assert answer.status_code == 202, answer.text
    referral_id: str = answer.json()["referral_id"]
    return referral_id


async def _first_accepted(intake: str, key: str, proc: Process, within: float) -> tuple[float, str]:
    """Seconds from the process's start to its first 202, and that referral's id."""
    deadline = proc.started + within
    async with httpx.AsyncClient(timeout=5) as client:
        n = 50_000
        while True:
            n += 1
            try:
                answer = await client.post(
                    f"{intake}/v1/reports",
                    headers={"Authorization": f"Bearer {key}"},
                    json=report(n),
                )
                if answer.status_code == 202:
                    return time.monotonic() - proc.started, answer.json()["referral_id"]
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no report accepted within {within} s:\n{proc.tail()}")
            await asyncio.sleep(0.05)


async def test_every_service_answers_within_5s_of_a_sigkill_and_no_accepted_report_is_lost(
    tmp_path: Path, broker: Kafka, postgres_admin_url: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    urls = {
        name: await create_database(postgres_admin_url, f"restart_{name}_{suffix}")
        for name in (*SERVICES, "keys")
    }
    common = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": broker.address,
        "KEYS_DATABASE_URL": urls["keys"],
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",  # the local sink
        "TOPIC_PARTITIONS": "3",
        **_no_rate_limits(),
    }
    police = create_key(
        common, kind="police", organisation="e2e-police", scopes="reports:write,reports:read"
    )
    hub = create_key(common, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write")
    ports = {name: free_port() for name in SERVICES}
    for name in SERVICES:
        migrate({**common, "DATABASE_URL": urls[name]}, name)
    procs = {
        name: Process(
            ["serve", name, "--host", "127.0.0.1", "--port", str(port)],
            {**common, "DATABASE_URL": urls[name], "INSTANCE": f"restart-{name}-{suffix}"},
            tmp_path / f"{name}.log",
        )
        for name, port in ports.items()
    }
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    timings: dict[str, dict[str, float]] = {}
    try:
        for name in SERVICES:
            await wait_ready(base[name], list(procs.values()))
        async with WebhookSink() as sink, httpx.AsyncClient(timeout=30) as client:
            created = await client.post(
                f"{base['notify']}/v1/subscriptions",
                headers={"Authorization": f"Bearer {hub}"},
                json={"url": sink.url, "event_types": [ROUTED]},
            )
            assert created.status_code == 201, created.text
            with Poster(base["intake"], police) as poster:
                for name in ("triage", "routing", "notify", "intake"):
                    await asyncio.sleep(2.0)  # reports flow through the service meanwhile
                    procs[name].kill()
                    procs[name] = procs[name].again(tmp_path / f"{name}-restarted.log")
                    measured = {
                        "healthz": await time_to_answer(f"{base[name]}/healthz", procs[name]),
                    }
                    if name == "intake":
                        measured["accepted"], referral_id = await _first_accepted(
                            base[name], police, procs[name], within=30
                        )
                        poster.accepted.add(referral_id)
                    measured["ready"] = await time_to_answer(
                        f"{base[name]}/readyz", procs[name], within=60
                    )
                    timings[name] = {k: round(v, 2) for k, v in measured.items()}
                await asyncio.sleep(2.0)
                await poster.stop()
            print(f"\nseconds from restart (SIGKILL) to answering: {json.dumps(timings)}")
            assert poster.refused == [], poster.refused[:5]
            accepted = poster.accepted
            assert len(accepted) > 25, "reports must have flowed throughout"

            def delivered() -> set[str]:
                return {body["data"]["referral_id"] for body in sink.bodies()}

            try:
                async with asyncio.timeout(150):
                    while not accepted <= delivered():
                        await asyncio.sleep(0.5)
            except TimeoutError:
                missing = sorted(accepted - delivered())
                raise AssertionError(
                    f"{len(missing)} accepted report(s) never reached the partner: "
                    f"{missing[:5]}\n" + "\n".join(p.tail(15) for p in procs.values())
                ) from None
        for name, measured in timings.items():
            assert measured["healthz"] <= SERVE_WITHIN, (name, timings)
            assert measured.get("accepted", 0) <= SERVE_WITHIN, (name, timings)
            assert measured["ready"] <= READY_WITHIN, (name, timings)
    finally:
        for p in procs.values():
            p.stop()


async def _subjects_on(bootstrap: str, topic: str, wanted: set[str], within: float) -> set[str]:
    """The subjects of `wanted` found on `topic` (reading it whole) within `within` s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id="e2e-check-" + uuid.uuid4().hex[:8],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: set[str] = set()
    try:
        async with asyncio.timeout(within):
            while not wanted <= found:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for m in messages:
                        event = ce_kafka.from_binary_event(
                            ce_kafka.KafkaMessage(headers=dict(m.headers), key=m.key, value=m.value)
                        )
                        data: Any = event.get_data()
                        if isinstance(data, dict) and data.get("referral_id") in wanted:
                            found.add(data["referral_id"])
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return found


async def _readiness(client: httpx.AsyncClient, intake: str) -> tuple[int, dict[str, Any]]:
    answer = await client.get(f"{intake}/readyz")
    return answer.status_code, answer.json()


async def _until_ready(client: httpx.AsyncClient, intake: str, within: float) -> float:
    began = time.monotonic()
    async with asyncio.timeout(within):
        while (await _readiness(client, intake))[0] != 200:
            await asyncio.sleep(0.2)
    return time.monotonic() - began


async def test_a_service_started_while_the_broker_is_down_serves_at_once_and_an_outage_is_quiet(
    tmp_path: Path, broker: Kafka, postgres_admin_url: str
) -> None:
    proc: Process | None = None
    try:
        broker.stop()
        suffix = uuid.uuid4().hex[:6]
        env = {
            "MODE": "distributed",
            "KAFKA_BOOTSTRAP_SERVERS": broker.address,
            "KEYS_DATABASE_URL": await create_database(postgres_admin_url, f"bk_keys_{suffix}"),
            "DATABASE_URL": await create_database(postgres_admin_url, f"bk_intake_{suffix}"),
            "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
            "INSTANCE": f"broker-{suffix}",
            **_no_rate_limits(),
        }
        police = create_key(
            env, kind="police", organisation="e2e-police", scopes="reports:write,reports:read"
        )
        migrate(env, "intake")
        port = free_port()
        intake = f"http://127.0.0.1:{port}"
        proc = Process(
            ["serve", "intake", "--host", "127.0.0.1", "--port", str(port)],
            env,
            tmp_path / "intake.log",
        )
        # No broker: HTTP at once, reports accepted into the outbox, readiness says why not.
        serving = await time_to_answer(f"{intake}/healthz", proc)
        assert serving <= SERVE_WITHIN, serving
        async with httpx.AsyncClient(timeout=30) as client:
            accepted = {await _accept(client, intake, police, n) for n in range(3)}
            status, body = await _readiness(client, intake)
            assert status == 503
            assert set(body["down"]) == {"bus", "intake:intake-journey"}, body
            assert body["checks"]["intake"] is True and body["checks"]["keys"] is True

            # The broker comes: the service connects, joins and publishes what waited.
            broker.start()
            joined = await _until_ready(client, intake, within=60)
            print(f"\nready {joined:.2f} s after the broker came up")
            on_topic = await _subjects_on(broker.address, "referral.received", accepted, 60)
            assert on_topic == accepted

            # An outage while it runs: reports are still accepted, and the whole outage,
            # from the broker's shutdown to the service being ready again, is a few lines.
            before = len(proc.lines())
            broker.stop()
            during: set[str] = set()
            noticed = False
            began = time.monotonic()
            while time.monotonic() - began < 8 or not noticed:
                assert time.monotonic() - began < 30, "the outage never showed on /readyz"
                during.add(await _accept(client, intake, police, 100 + len(during)))
                status, body = await _readiness(client, intake)
                noticed = noticed or (status == 503 and "bus" in body["down"])
                await asyncio.sleep(0.3)
            broker.start()
            await _until_ready(client, intake, within=60)
            await asyncio.sleep(1.0)  # whatever recovery still writes
            outage_log = proc.lines()[before:]
            on_topic = await _subjects_on(broker.address, "referral.received", during, 60)
            assert on_topic == during, f"{len(during - on_topic)} report(s) never published"
        print(f"{len(outage_log)} log lines for the broker outage:\n" + "\n".join(outage_log))
        assert len(outage_log) <= OUTAGE_LINES, "\n".join(outage_log)
        messages = [json.loads(line).get("msg") for line in outage_log]
        assert messages.count("broker unavailable") == 1, outage_log
        assert messages.count("broker available again") == 1, outage_log
    finally:
        if proc is not None:
            proc.stop()
        broker.start_if_stopped()
