"""Per-key rate limits: a token bucket per API key and limit, 429 with Retry-After.

Every route that needs a key is limited (`shared.auth.authenticate` takes a token once
the key is verified): the general limit (`RATE_LIMIT_PER_MINUTE`, bursts of
`RATE_LIMIT_BURST`) unless the route names its own, as intake's report routes do
(`INTAKE_RATE_PER_MINUTE`, `INTAKE_BURST`). A limit with a rate of 0 is off.

Where the buckets live:

- **Embedded mode** (one process): in memory, on the monotonic clock.
- **Distributed mode** (a PostgreSQL key registry): in the registry's
  `rate_limit_bucket` table, which every replica of every service shares, so N
  replicas allow the configured rate, not N times it. A request costs one atomic
  statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`), timed by the database's
  own clock (`clock_timestamp()`) so replicas on different machines agree; the row
  lock makes concurrent takes queue, so grants never exceed the bucket. A refused
  request writes nothing (one more read computes its Retry-After). The table is
  UNLOGGED: limits are not worth a disk flush, and a crash only refills the buckets.

Rate limiting is transport, not domain time: it never reads the service clock.

If the limiter's database cannot be reached, requests are **allowed** (fail open) and
the outage is logged once, then its end: a police system must not be kept from
reporting a child because a rate-limit table is down, and the limit guards against
runaway clients, it is not a quota anyone is billed by.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, text
from sqlmodel import Field, SQLModel

from shared.db import Database
from shared.problems import Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """A named rate: `per_minute` refill, at most `burst` requests at once (0: off)."""

    name: str
    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class RateLimitBucket(SQLModel, table=True):
    """One key's bucket under one limit, shared by every replica (distributed mode)."""

    __tablename__ = "rate_limit_bucket"

    # `<limit name>:<key id>`: ids only, never anything about a person.
    bucket: str = Field(primary_key=True, max_length=200)
    tokens: float = Field(sa_column=Column(Float(), nullable=False))
    # The database's clock when `tokens` was last computed.
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RateLimiter(ABC):
    """Token buckets for one `Limit`, one bucket per caller."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit

    @abstractmethod
    async def take(self, bucket: str) -> float:
        """0 when the request may proceed (a token is spent), else seconds until one may."""


class MemoryRateLimiter(RateLimiter):
    """In-process buckets: right for one process (embedded mode)."""

    def __init__(self, limit: Limit, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limit)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, bucket: str) -> float:
        return self.take_now(bucket)

    def take_now(self, bucket: str) -> float:
        """`take` without awaiting (the in-memory buckets never wait for anything)."""
        limit = self.limit
        if not limit.enabled:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(bucket, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + max(0.0, now - last) * limit.per_second)
        if tokens >= 1.0:
            self._buckets[bucket] = (tokens - 1.0, now)
            return 0.0
        self._buckets[bucket] = (tokens, now)
        return (1.0 - tokens) / limit.per_second


# A bucket's tokens at the database's `now`: refilled since it was last written (never
# backwards, should another replica's statement have stamped a later time first), up
# to the burst. Granted only when that is at least one token: a refusal writes nothing.
_TAKE = text(
    """
    INSERT INTO rate_limit_bucket AS b (bucket, tokens, updated_at)
    VALUES (:bucket, CAST(:burst AS double precision) - 1, clock_timestamp())
    ON CONFLICT (bucket) DO UPDATE SET
        tokens = LEAST(
            CAST(:burst AS double precision),
            b.tokens + GREATEST(0, EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at))
                * CAST(:rate AS double precision)
        ) - 1,
        updated_at = GREATEST(b.updated_at, excluded.updated_at)
    WHERE LEAST(
        CAST(:burst AS double precision),
        b.tokens + GREATEST(0, EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at))
            * CAST(:rate AS double precision)
    ) >= 1
    RETURNING tokens
    """
)
# After a refusal: how long until the bucket holds one token.
_WAIT = text(
    """
    SELECT (1 - LEAST(
        CAST(:burst AS double precision),
        b.tokens + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.updated_at))
            * CAST(:rate AS double precision)
    )) / CAST(:rate AS double precision)
    FROM rate_limit_bucket AS b WHERE b.bucket = :bucket
    """
)


class PostgresRateLimiter(RateLimiter):
    """Buckets in the key registry's PostgreSQL database, shared by every replica."""

    def __init__(self, limit: Limit, db: Database) -> None:
        super().__init__(limit)
        self.db = db
        self._failing = False

    async def take(self, bucket: str) -> float:
        limit = self.limit
        if not limit.enabled:
            return 0.0
        params: dict[str, Any] = {
            "bucket": f"{limit.name}:{bucket}",
            "burst": float(limit.burst),
            "rate": limit.per_second,
        }
        try:
            async with self.db.engine.connect() as conn:
                # One statement, committed on its own: nothing else to wait for.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                granted = (await conn.execute(_TAKE, params)).first()
                wait = 0.0
                if granted is None:
                    row = (await conn.execute(_WAIT, params)).first()
                    # Refused just now: at least a moment, whatever refilled since.
                    wait = max(float(row[0]) if row is not None else 0.0, 0.001)
        except Exception as exc:
            if not self._failing:
                self._failing = True
                log.warning(
                    "rate limiter database unreachable: requests are allowed until it is back",
                    extra={"limit": limit.name, "error": type(exc).__name__},
                )
            return 0.0
        if self._failing:
            self._failing = False
            log.warning("rate limiter database reachable again", extra={"limit": limit.name})
        return wait


class RateLimits:
    """An app's limiters, one per `Limit`, all on one store: the key registry's
    PostgreSQL database in distributed mode, else this process's memory."""

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self._limiters: dict[Limit, RateLimiter] = {}

    @classmethod
    def for_mode(cls, mode: str, registry_db: Database) -> RateLimits:
        shared = mode == "distributed" and not registry_db.is_sqlite
        return cls(registry_db if shared else None)

    def limiter(self, limit: Limit) -> RateLimiter:
        found = self._limiters.get(limit)
        if found is None:
            found = (
                MemoryRateLimiter(limit) if self.db is None else PostgresRateLimiter(limit, self.db)
            )
            self._limiters[limit] = found
        return found


def rate_limited(wait_seconds: float) -> Problem:
    """The 429 answer: problem+json with Retry-After in whole seconds (at least 1)."""
    retry_after = max(1, math.ceil(wait_seconds))
    return Problem(
        429,
        "Too many requests",
        f"This API key is over its rate limit; retry after {retry_after} s.",
        type="rate-limited",
        headers={"Retry-After": str(retry_after)},
    )


def general_limit(per_minute: float, burst: int) -> Limit:
    """The limit of every authenticated route that names no other."""
    return Limit("api", per_minute, burst)


__all__ = [
    "Limit",
    "MemoryRateLimiter",
    "PostgresRateLimiter",
    "RateLimitBucket",
    "RateLimiter",
    "RateLimits",
    "general_limit",
    "rate_limited",
]
