"""Alembic environment for the key registry: the tables every service reads (the keys,
and the rate-limit buckets every replica shares)."""

from shared.auth import ApiKey
from shared.db import table_of
from shared.migrations import run_environment
from shared.ratelimit import RateLimitBucket

run_environment([table_of(ApiKey), table_of(RateLimitBucket)])
