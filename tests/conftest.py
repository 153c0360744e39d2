"""Shared fixtures: real Kafka and PostgreSQL (session-wide), fresh databases per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.infra import start_script, stop_script, unavailable


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real single-node KRaft Apache Kafka broker on a free loopback port."""
    given = os.environ.get("SIGNPOST_TEST_KAFKA")
    if given:
        yield given
        return
    try:
        workdir, bootstrap = start_script("kafka.sh")
    except Exception as exc:
        unavailable("Apache Kafka", str(exc))
        raise
    try:
        yield bootstrap
    finally:
        stop_script("kafka.sh", workdir)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on a free loopback port (admin connection URL)."""
    given = os.environ.get("SIGNPOST_TEST_POSTGRES")
    if given:
        yield given
        return
    try:
        workdir, url = start_script("postgres.sh")
    except Exception as exc:
        unavailable("PostgreSQL", str(exc))
        raise
    try:
        yield url
    finally:
        stop_script("postgres.sh", workdir)


async def create_database(admin_url: str, name: str) -> str:
    """Create a database on the test cluster and return its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    yield await create_database(postgres_admin_url, "t_" + uuid.uuid4().hex[:12])
