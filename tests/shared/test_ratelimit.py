"""Per-key token buckets: in memory for one process; in the key registry's PostgreSQL
database for replicas, where concurrent takes from several replicas never grant more
than the bucket holds, time is the database's, and an unreachable database lets
requests through (logged once per outage)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from shared.db import Database
from shared.migrations import KEYS, upgrade
from shared.ratelimit import (
    Limit,
    MemoryRateLimiter,
    PostgresRateLimiter,
    RateLimits,
    general_limit,
    rate_limited,
)

# 60 a minute is one a second; 0.6 a minute refills nothing in a test's lifetime.
ONE_A_SECOND = Limit("t", per_minute=60, burst=2)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- in memory (embedded mode) ---------------------------------------------------------


def test_a_memory_bucket_grants_its_burst_then_says_how_long_to_wait() -> None:
    clock = FakeMonotonic()
    limiter = MemoryRateLimiter(ONE_A_SECOND, clock=clock)
    assert [limiter.take_now("k"), limiter.take_now("k")] == [0, 0]
    assert limiter.take_now("k") == 1.0  # one token a second
    clock.now = 0.5
    assert limiter.take_now("k") == 0.5


def test_a_memory_bucket_refills_at_its_rate_only_up_to_its_burst() -> None:
    clock = FakeMonotonic()
    limiter = MemoryRateLimiter(ONE_A_SECOND, clock=clock)
    limiter.take_now("k"), limiter.take_now("k")
    clock.now = 1000.0  # a long pause refills the burst, no more
    assert [limiter.take_now("k") for _ in range(3)] == [0, 0, 1.0]


def test_memory_buckets_are_per_key() -> None:
    limiter = MemoryRateLimiter(ONE_A_SECOND, clock=FakeMonotonic())
    limiter.take_now("a"), limiter.take_now("a")
    assert limiter.take_now("a") > 0
    assert limiter.take_now("b") == 0


def test_a_zero_rate_turns_the_limit_off() -> None:
    limiter = MemoryRateLimiter(Limit("off", per_minute=0, burst=1))
    assert all(limiter.take_now("k") == 0 for _ in range(1000))


async def test_take_is_the_same_bucket_as_take_now() -> None:
    limiter = MemoryRateLimiter(Limit("t", per_minute=60, burst=1), clock=FakeMonotonic())
    assert await limiter.take("k") == 0
    assert limiter.take_now("k") == 1.0


def test_the_429_is_a_problem_with_retry_after_in_whole_seconds_at_least_one() -> None:
    for wait, header in [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")]:
        problem = rate_limited(wait)
        assert problem.status == 429
        assert problem.type == "rate-limited"
        assert problem.headers == {"Retry-After": header}


def test_the_general_limit_is_named_apart_from_intakes() -> None:
    assert general_limit(600, 120) == Limit("api", 600, 120)


def test_embedded_mode_keeps_buckets_in_memory_and_distributed_mode_in_postgres(
    tmp_path: Path,
) -> None:
    sqlite = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    postgres = Database("postgresql://signpost@127.0.0.1:1/keys")
    assert RateLimits.for_mode("embedded", postgres).db is None
    assert RateLimits.for_mode("distributed", sqlite).db is None
    shared = RateLimits.for_mode("distributed", postgres)
    assert isinstance(shared.limiter(ONE_A_SECOND), PostgresRateLimiter)
    assert isinstance(RateLimits(None).limiter(ONE_A_SECOND), MemoryRateLimiter)
    # One limiter per limit: its buckets persist from request to request.
    assert shared.limiter(ONE_A_SECOND) is shared.limiter(Limit("t", 60, 2))


# -- in the key registry's PostgreSQL database (distributed mode) ----------------------


@pytest.fixture
async def registry_url(postgres_url: str) -> AsyncIterator[str]:
    """A key registry database at head (the buckets table included)."""
    db = Database(postgres_url)
    try:
        await upgrade(db, KEYS)
    finally:
        await db.dispose()
    yield postgres_url


@pytest.fixture
async def replicas(registry_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two replicas' connections to one key registry (each its own engine and pool)."""
    first, second = Database(registry_url), Database(registry_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def age(db: Database, seconds: float) -> None:
    """As if `seconds` had passed on the database's clock since each bucket was written."""
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE rate_limit_bucket SET updated_at = updated_at - make_interval(secs => :s)"
            ),
            {"s": seconds},
        )


async def test_the_buckets_table_is_unlogged_on_postgres(
    replicas: tuple[Database, Database],
) -> None:
    async with replicas[0].engine.connect() as conn:
        persistence = await conn.scalar(
            text("SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_limit_bucket'")
        )
    assert persistence == "u"


async def test_a_postgres_bucket_grants_its_burst_then_says_how_long_to_wait(
    replicas: tuple[Database, Database],
) -> None:
    limiter = PostgresRateLimiter(ONE_A_SECOND, replicas[0])
    assert [await limiter.take("k"), await limiter.take("k")] == [0, 0]
    wait = await limiter.take("k")
    assert 0.9 < wait <= 1.0  # one token a second, less what refilled meanwhile


async def test_a_postgres_bucket_refills_on_the_database_clock_up_to_its_burst(
    replicas: tuple[Database, Database],
) -> None:
    limiter = PostgresRateLimiter(ONE_A_SECOND, replicas[0])
    for _ in range(2):
        await limiter.take("k")
    assert await limiter.take("k") > 0
    await age(replicas[0], 1.0)
    assert await limiter.take("k") == 0
    assert await limiter.take("k") > 0
    await age(replicas[0], 3600.0)  # a long pause refills the burst, no more
    assert [await limiter.take("k") > 0 for _ in range(3)] == [False, False, True]


async def test_a_refused_request_spends_nothing(replicas: tuple[Database, Database]) -> None:
    limiter = PostgresRateLimiter(Limit("t", per_minute=60, burst=1), replicas[0])
    await limiter.take("k")
    for _ in range(20):
        assert await limiter.take("k") > 0
    await age(replicas[0], 1.0)  # one second's refill is one token, hammering or not
    assert await limiter.take("k") == 0


async def test_postgres_buckets_are_per_key_and_per_limit(
    replicas: tuple[Database, Database],
) -> None:
    general = PostgresRateLimiter(Limit("api", per_minute=60, burst=1), replicas[0])
    intake = PostgresRateLimiter(Limit("intake.reports", per_minute=60, burst=1), replicas[0])
    assert await general.take("a") == 0
    assert await general.take("a") > 0
    assert await general.take("b") == 0
    assert await intake.take("a") == 0


async def test_two_replicas_hammering_one_key_together_get_the_burst_between_them(
    replicas: tuple[Database, Database],
) -> None:
    burst = 25
    # A refill of 0.6 a minute adds no whole token while the test runs.
    limit = Limit("t", per_minute=0.6, burst=burst)
    first, second = (PostgresRateLimiter(limit, db) for db in replicas)

    waits = await asyncio.gather(
        *(limiter.take("one-key") for _ in range(100) for limiter in (first, second))
    )

    assert sum(1 for w in waits if w == 0) == burst
    assert all(w > 1.0 for w in waits if w > 0)


async def test_a_zero_rate_never_touches_the_database() -> None:
    unreachable = Database(f"postgresql://signpost@127.0.0.1:{closed_port()}/keys")
    try:
        limiter = PostgresRateLimiter(Limit("off", per_minute=0, burst=1), unreachable)
        assert await limiter.take("k") == 0
        pool = unreachable.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == 0
    finally:
        await unreachable.dispose()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_an_unreachable_limiter_database_lets_requests_through_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = Database(f"postgresql://signpost@127.0.0.1:{closed_port()}/keys")
    limiter = PostgresRateLimiter(Limit("t", per_minute=60, burst=1), unreachable)
    try:
        with caplog.at_level(logging.WARNING, logger="shared.ratelimit"):
            waits = [await limiter.take("k") for _ in range(5)]
    finally:
        await unreachable.dispose()
    assert waits == [0, 0, 0, 0, 0]
    warnings = [r for r in caplog.records if r.name == "shared.ratelimit"]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()


async def test_the_limit_holds_again_once_its_database_is_back_and_the_end_is_logged(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(postgres_url)  # not migrated yet: every take fails
    limiter = PostgresRateLimiter(Limit("t", per_minute=60, burst=1), db)
    try:
        with caplog.at_level(logging.WARNING, logger="shared.ratelimit"):
            assert [await limiter.take("k") for _ in range(3)] == [0, 0, 0]
            await upgrade(db, KEYS)
            assert await limiter.take("k") == 0
            assert await limiter.take("k") > 0
    finally:
        await db.dispose()
    messages = [r.getMessage() for r in caplog.records if r.name == "shared.ratelimit"]
    assert len(messages) == 2
    assert "unreachable" in messages[0] and "reachable again" in messages[1]
