"""Every attempt is recorded before it can be lost: notify is killed (SIGKILL) in the
middle of a round of deliveries, after the partner has answered 2xx to some of them and
while others are still in flight, then started again. A webhook whose 2xx answer came
before the kill is never sent again; only those in flight at that instant may be (with
the same webhook-id), and everything is delivered in the end.

The round is made deterministic: the first attempt at every delivery is answered 500,
so each is due again five seconds later; notify is restarted with its clock a minute on
(CLOCK_START), so its first round claims all of them at once. Half of the partner's
endpoints then answer 204 at once, the other half hold the request open; notify is
killed once its API shows the 204s recorded (or after a few seconds, if it never
does), and restarted with its clock ten minutes on (every lease has run out), while the
partner answers everything."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn

from tests.conftest import create_database, delete_topics
from tests.e2e.harness import Process, create_key, free_port, migrate, wait_ready

SUBSCRIPTIONS = 24  # every other one answers at once, the rest hold the request open
# A 2xx answered this long before the kill must have been recorded.
MARGIN_SECONDS = 0.5
# How long the test waits, at most, for notify to record the 2xx answers it has while
# the rest of the round is in flight (then it kills notify whatever it recorded).
RECORDING_SECONDS = 8.0
ROUTED = "org.signpost.referral.routed.v1"  # any type: the pings go to every subscription

Phase = Literal["fail", "split", "ok"]


@dataclass
class Partner:
    """The partner's endpoints (`/hooks/<n>`), answering as the phase says, and keeping
    when each webhook-id arrived and when a 2xx answer to it had been sent."""

    port: int = field(default_factory=free_port)
    phase: Phase = "fail"
    arrivals: list[tuple[str, int, float]] = field(default_factory=list)
    answered_2xx: dict[str, float] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{n}"

    async def app(self, scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        webhook_id = headers.get("webhook-id", "")
        n = int(scope["path"].rsplit("/", 1)[1])
        self.arrivals.append((webhook_id, n, time.monotonic()))
        phase = self.phase
        status = 500 if phase == "fail" else 204
        if phase == "split" and n % 2 == 1:
            await self.release.wait()  # in flight until notify is dead
            status = 503  # to a connection nobody holds any more
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        if status == 204 and webhook_id not in self.answered_2xx:
            self.answered_2xx[webhook_id] = time.monotonic()

    def arrived(self, phase_started: float) -> list[tuple[str, int, float]]:
        return [a for a in self.arrivals if a[2] >= phase_started]


async def until(condition: Callable[[], Any], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Notify:
    """How to start notify as its own process, on one of the two backends."""

    args: list[str]
    env: dict[str, str]
    base: str
    key: str


async def embedded_notify(tmp_path: Path) -> Notify:
    data_dir = tmp_path / "var"
    key = create_key(
        {}, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write",
        data_dir=data_dir,
    )  # fmt: skip
    port = free_port()
    return Notify(
        ["run", "--port", str(port), "--data-dir", str(data_dir), "--no-demo"],
        {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_ALLOW_HTTP": "true"},
        f"http://127.0.0.1:{port}",
        key,
    )


async def distributed_notify(request: pytest.FixtureRequest) -> Notify:
    kafka: str = request.getfixturevalue("kafka_bootstrap")
    await delete_topics(kafka)  # as `empty_kafka` does (an async fixture: not from here)
    admin: str = request.getfixturevalue("postgres_admin_url")
    suffix = uuid.uuid4().hex[:6]
    notify_db = await create_database(admin, f"kill_notify_{suffix}")
    keys_db = await create_database(admin, f"kill_keys_{suffix}")
    env = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KEYS_DATABASE_URL": keys_db,
        "DATABASE_URL": notify_db,
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "INSTANCE": f"kill-{suffix}",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
    }
    migrate(env, "notify")
    key = create_key(env, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write")
    port = free_port()
    return Notify(
        ["serve", "notify", "--host", "127.0.0.1", "--port", str(port)],
        env,
        f"http://127.0.0.1:{port}",
        key,
    )


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("embedded", id="embedded-sqlite"),
        pytest.param(
            "distributed",
            id="distributed-postgres",
            marks=[pytest.mark.kafka, pytest.mark.postgres],
        ),
    ],
)
async def test_a_webhook_answered_2xx_is_not_sent_again_after_notify_is_killed_mid_round(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    notify = await (
        embedded_notify(tmp_path) if backend == "embedded" else distributed_notify(request)
    )
    partner = Partner()
    server = uvicorn.Server(
        uvicorn.Config(
            partner.app,
            host="127.0.0.1",
            port=partner.port,
            log_level="warning",
            interface="asgi3",
        )
    )
    serving = asyncio.create_task(server.serve())
    auth = {"Authorization": f"Bearer {notify.key}"}
    procs: list[Process] = []

    def start(run: int, clock: datetime | None) -> Process:
        env = dict(notify.env)
        if clock is not None:
            env["CLOCK_START"] = clock.isoformat()
        proc = Process(notify.args, env, tmp_path / f"notify-{run}.log")
        procs.append(proc)
        return proc

    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=notify.base, headers=auth, timeout=30) as api:

            async def deliveries() -> dict[str, dict[str, Any]]:
                listed = await api.get("/v1/deliveries", params={"limit": 500})
                assert listed.status_code == 200, listed.text
                return {d["id"]: d for d in listed.json()}

            # Run 0: subscriptions and a ping to each; every first attempt is a 500.
            first = start(0, None)
            await wait_ready(notify.base, [first])
            webhook_ids: dict[str, int] = {}
            for n in range(SUBSCRIPTIONS):
                created = await api.post(
                    "/v1/subscriptions", json={"url": partner.url(n), "event_types": [ROUTED]}
                )
                assert created.status_code == 201, created.text
                ping = await api.post(f"/v1/subscriptions/{created.json()['id']}/ping")
                assert ping.status_code == 202, ping.text
                webhook_ids[ping.json()["id"]] = n

            async def each_attempted_once() -> bool:
                return all(d["attempts"] == 1 for d in (await deliveries()).values())

            await until(each_attempted_once, 30, "the first attempts")
            first.stop()

            # Run 1: one round claims them all; killed while half are in flight.
            partner.phase = "split"
            split_started = time.monotonic()
            second = start(1, datetime.now(UTC) + timedelta(minutes=1))

            async def round_in_flight() -> bool:
                if second.proc.poll() is not None:
                    raise AssertionError(f"notify exited:\n{second.tail()}")
                held = [a for a in partner.arrived(split_started) if a[1] % 2 == 1]
                return (
                    len(held) == SUBSCRIPTIONS // 2
                    and len(partner.answered_2xx) == SUBSCRIPTIONS // 2
                )

            await until(round_in_flight, 40, "a round with half answered, half in flight")
            # Its loops deliver from the moment the app starts; its API may open a
            # moment later (the process starts every service of the app first).
            await wait_ready(notify.base, [second])
            # Give notify time to record the answers it has (it needs milliseconds; a
            # notify that records only at the end of the round never will).
            answered = {w for w, n in webhook_ids.items() if n % 2 == 0}
            deadline = time.monotonic() + RECORDING_SECONDS
            while time.monotonic() < deadline:
                shown = await deliveries()
                if all(shown[w]["status"] == "delivered" for w in answered):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(MARGIN_SECONDS)
            killed_at = time.monotonic()
            second.proc.kill()
            second.proc.wait(timeout=10)
            answered_before_kill = {
                webhook_id: at
                for webhook_id, at in partner.answered_2xx.items()
                if at < killed_at - MARGIN_SECONDS
            }
            assert len(answered_before_kill) == SUBSCRIPTIONS // 2

            # Run 2: the leases have run out; the partner answers everything.
            partner.phase = "ok"
            partner.release.set()
            third = start(2, datetime.now(UTC) + timedelta(minutes=10))
            await wait_ready(notify.base, [third])

            async def all_delivered() -> bool:
                return all(d["status"] == "delivered" for d in (await deliveries()).values())

            await until(all_delivered, 40, "every delivery to be delivered")
            await asyncio.sleep(0.5)  # a late duplicate would arrive now
            final = await deliveries()
            logs = {
                webhook_id: (await api.get(f"/v1/deliveries/{webhook_id}")).json()["attempt_log"]
                for webhook_id in answered_before_kill
            }
    finally:
        for proc in procs:
            proc.stop()
        partner.release.set()
        server.should_exit = True
        await serving

    resent = sorted(
        webhook_id
        for webhook_id, _, at in partner.arrivals
        if webhook_id in answered_before_kill and at > answered_before_kill[webhook_id]
    )
    assert resent == [], f"sent again after a 2xx answered before the kill: {resent}"
    # What was in flight at the kill was sent again, with the same webhook-id.
    in_flight = {w for w, n in webhook_ids.items() if n % 2 == 1}
    assert in_flight <= {w for w, _, at in partner.arrivals if at > killed_at}
    assert set(final) == set(webhook_ids)
    assert all(d["status"] == "delivered" for d in final.values())
    # Each 2xx answered before the kill is in the attempt log: the 500, then the 2xx.
    for log in logs.values():
        assert [a["response_status"] for a in log] == [500, 204]
