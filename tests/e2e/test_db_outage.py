"""PostgreSQL crashes under load and comes back (issue 12, item 6): intake, a process on
a real PostgreSQL and Kafka, answers every report with a 202 (durably stored) or a 503
problem+json with Retry-After, never a 500; /readyz names the databases that are down;
the outage is logged once, and once more when it ends; every 202'd report is stored.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.runtime import CHECK_TIMEOUT_SECONDS, WATCH_SECONDS
from tests.conftest import create_database
from tests.e2e.harness import (
    Kafka,
    Postgres,
    Process,
    create_key,
    free_port,
    migrate,
    report,
    wait_ready,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

POSTERS = 4


class Answers:
    """Every answer to the posters' reports, and the ids of the accepted ones."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.accepted: list[str] = []
        self.unavailable: list[httpx.Response] = []
        self.other: list[tuple[int, str]] = []
        self.accepted_since: dict[str, int] = {}

    def note(self, answer: httpx.Response) -> None:
        self.statuses[answer.status_code] += 1
        if answer.status_code == 202:
            self.accepted.append(answer.json()["referral_id"])
        elif answer.status_code == 503:
            self.unavailable.append(answer)
        else:
            self.other.append((answer.status_code, answer.text[:300]))


async def _post_until(
    stop: asyncio.Event, intake: str, key: str, first: int, answers: Answers
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        n = first
        while not stop.is_set():
            n += 1
            answers.note(
                await client.post(
                    f"{intake}/v1/reports",
                    headers={"Authorization": f"Bearer {key}"},
                    json=report(n),
                )
            )
            await asyncio.sleep(0.02)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A cluster of this test's own, to crash and start again."""
    cluster = Postgres()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def broker() -> Iterator[Kafka]:
    """A broker of this test's own: the hundreds of reports accepted here must not
    reach other tests' services through a shared broker's topics."""
    kafka = Kafka()
    try:
        yield kafka
    finally:
        kafka.remove()


async def test_a_postgresql_crash_under_load_gives_only_202s_and_503s_and_every_202_is_stored(
    tmp_path: Path, postgres: Postgres, broker: Kafka
) -> None:
    proc: Process | None = None
    try:
        suffix = uuid.uuid4().hex[:6]
        env = {
            "MODE": "distributed",
            "KAFKA_BOOTSTRAP_SERVERS": broker.address,
            "KEYS_DATABASE_URL": await create_database(postgres.address, f"o_keys_{suffix}"),
            "DATABASE_URL": await create_database(postgres.address, f"o_intake_{suffix}"),
            "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
            "INSTANCE": f"db-outage-{suffix}",
            # The posters are faster than a police system; the limits are not under test.
            "INTAKE_RATE_PER_MINUTE": "0",
            "RATE_LIMIT_PER_MINUTE": "0",
        }
        # The test cluster runs with synchronous_commit=off (speed), so a crash would lose
        # the last commits before they reach the disk. A 202 must be durable: this
        # database commits as production does (per-database settings take precedence).
        admin = await asyncpg.connect(postgres.address)
        try:
            await admin.execute(f'ALTER DATABASE "o_intake_{suffix}" SET synchronous_commit = on')
        finally:
            await admin.close()
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
        await wait_ready(intake, [proc])

        answers = Answers()
        stop = asyncio.Event()
        posters = [
            asyncio.create_task(_post_until(stop, intake, police, 1000 * k, answers))
            for k in range(POSTERS)
        ]
        readiness: list[tuple[int, dict[str, Any]]] = []
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.sleep(2.0)
            before = answers.statuses[202]
            postgres.stop("immediate")  # a crash: no shutdown checkpoint, recovery at start
            crashed = time.monotonic()
            while time.monotonic() - crashed < 3.0:
                answer = await client.get(f"{intake}/readyz")
                readiness.append((answer.status_code, answer.json()))
                await asyncio.sleep(0.3)
            postgres.start()
            restarted = answers.statuses[202]
            # Reports are accepted again once it is back.
            async with asyncio.timeout(30):
                while answers.statuses[202] < restarted + 20:
                    await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*posters)

        assert answers.other == [], answers.other[:5]  # never a 500, nor anything else
        assert set(answers.statuses) == {202, 503}, answers.statuses
        assert before > 0
        for answer in answers.unavailable:
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) > 0
            body = answer.json()
            assert body["type"].endswith("/dependency-unavailable"), body
            assert body["status"] == 503
        # /readyz said which databases were down (intake's and the key registry).
        assert any(
            status == 503 and {"intake", "keys"} <= set(body["down"]) for status, body in readiness
        ), readiness

        # Every 202 means stored: each accepted report can be read back.
        async with httpx.AsyncClient(timeout=30) as client:
            semaphore = asyncio.Semaphore(8)

            async def status_of(referral_id: str) -> int:
                async with semaphore:
                    answer = await client.get(
                        f"{intake}/v1/reports/{referral_id}",
                        headers={"Authorization": f"Bearer {police}"},
                    )
                    return answer.status_code

            found = await asyncio.gather(*(status_of(r) for r in answers.accepted))
        assert Counter(found) == {200: len(answers.accepted)}

        # The outage is logged once, its end once; no request logged an error. Requests
        # succeed as soon as PostgreSQL is back; the end is logged by the watch, which
        # asks every WATCH_SECONDS, so it may come a moment after the readback above.
        deadline = time.monotonic() + 10 * (WATCH_SECONDS + CHECK_TIMEOUT_SECONDS)
        while True:
            entries = [
                json.loads(line)
                for line in proc.lines()
                if line.startswith("{") and line.endswith("}")
            ]
            messages = [entry.get("msg") for entry in entries]
            requests_side = [e["msg"] for e in entries if e.get("logger") == "shared.runtime"]
            if "database available again" in requests_side or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert requests_side.count("database unavailable") == 1, messages
        assert requests_side.count("database available again") == 1, messages
        assert "unhandled error" not in messages
        assert not any(str(m).startswith("Exception in ASGI application") for m in messages)
        print(
            f"\n{dict(answers.statuses)} answers; {len(entries)} log lines in all, "
            f"{sum(e.get('level') == 'error' for e in entries)} at error"
        )
    finally:
        if proc is not None:
            proc.stop()
