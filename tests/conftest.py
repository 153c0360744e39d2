"""Shared fixtures: real Kafka and PostgreSQL (session-wide), fresh databases per test."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError, for_code
from sqlalchemy import ClauseElement, Engine, event
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from shared.events import all_topics
from tests.infra import start_script, stop_script, unavailable


def _infrastructure(env_var: str, script: str, what: str) -> Iterator[str]:
    """Reuse what `env_var` names, else start it with the project's script."""
    given = os.environ.get(env_var)
    if given:
        yield given
        return
    try:
        workdir, address = start_script(script)
    except Exception as exc:
        unavailable(what, str(exc))
        raise
    try:
        yield address
    finally:
        stop_script(script, workdir)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real single-node KRaft Apache Kafka broker on a free loopback port."""
    yield from _infrastructure("SIGNPOST_TEST_KAFKA", "kafka.sh", "Apache Kafka")


@pytest.fixture
async def empty_kafka(kafka_bootstrap: str) -> str:
    """The session's broker without Signpost's topics (`all_topics()`), and so without
    any consumer group's position in them: a test whose Signpost services read those
    topics (groups `triage`, `notify`, ...) handles only what it raised itself. On the
    shared broker an earlier test's unconsumed event (a report nobody triaged) would
    otherwise reach this test's partner as a report it never posted. Only Signpost's
    topics are deleted: a broker named by SIGNPOST_TEST_KAFKA keeps every other."""
    await delete_topics(kafka_bootstrap)
    return kafka_bootstrap


async def delete_topics(bootstrap: str, *, within: float = 60.0) -> None:
    """Delete Signpost's topics, and return once the broker lists none of them and no
    consumer group holds a position in one (a recreated topic starts afresh)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = set(all_topics()) & set(await admin.list_topics())
        if topics:
            response = await admin.delete_topics(sorted(topics))
            # Answered per topic, not raised: a refusal would otherwise only show as
            # the wait below running out.
            for topic, code, *_ in response.topic_error_codes:
                if code != 0 and for_code(code) is not UnknownTopicOrPartitionError:
                    raise for_code(code)(f"cannot delete topic {topic}")
        deadline = time.monotonic() + within
        while True:
            left = topics & set(await admin.list_topics())
            for group, *_ in await admin.list_consumer_groups():
                offsets = await admin.list_consumer_group_offsets(group)
                left |= {f"{group}@{tp.topic}" for tp in offsets if tp.topic in topics}
            if not left:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"Kafka still has, after {within:.0f} s: {sorted(left)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on a free loopback port (admin connection URL)."""
    yield from _infrastructure("SIGNPOST_TEST_POSTGRES", "postgres.sh", "PostgreSQL")


@contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` (an async engine's `sync_engine`) sends while the
    block runs, in order: for tests of how many round trips a path costs."""
    statements: list[str] = []

    def executed(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", executed)


async def rows_read(
    conn: AsyncConnection, statement: ClauseElement, params: Mapping[str, Any] | None = None
) -> int:
    """Run `statement` under PostgreSQL's EXPLAIN ANALYZE and return every row its plan's
    nodes produced or filtered away, over all their loops: how much it read to answer
    (for tests that a query reads what it needs, not a whole table)."""
    compiled = statement.compile(dialect=conn.dialect)
    assert isinstance(compiled, SQLCompiler)
    bound = compiled.construct_params(dict(params or {}))
    values = tuple(bound[name] for name in compiled.positiontup or ())
    explained = await conn.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled.string}", values
    )
    [plan] = explained.scalar_one()  # json, decoded by the driver

    def handled(node: dict[str, Any]) -> int:
        own = node.get("Actual Rows", 0)
        for removed in ("Filter", "Index Recheck", "Join Filter"):
            own += node.get(f"Rows Removed by {removed}", 0)
        below = sum(handled(child) for child in node.get("Plans", []))
        return int(own * node.get("Actual Loops", 1)) + below

    return handled(plan["Plan"])


def verbs(statements: list[str]) -> list[str]:
    """Each statement's first word, upper-cased (SELECT, INSERT, ...)."""
    return [statement.split()[0].upper() for statement in statements]


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


# Fixtures that start real infrastructure, or a whole running Signpost: a test using
# one is not a fast unit test.
INFRASTRUCTURE = frozenset({"kafka_bootstrap", "empty_kafka", "postgres_admin_url", "postgres_url"})
RUNNING_APP = frozenset({"signpost", "sp", "signpost_with", "running"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="only the fast unit tests (`make check`): none that needs Kafka or "
        "PostgreSQL, starts a whole Signpost or other processes, or runs the pipeline",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fast"):
        return
    keep: list[pytest.Item] = []
    slow: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = set(getattr(item, "fixturenames", ()))
        needs_infrastructure = (
            (INFRASTRUCTURE | RUNNING_APP) & fixtures
            or {"postgres", "kafka"} & {str(v) for v in params.values()}
            or item.get_closest_marker("kafka") is not None
            or item.get_closest_marker("postgres") is not None
            or item.get_closest_marker("app") is not None
            or "e2e" in item.path.parts
            or "deploy" in item.path.parts
        )
        (slow if needs_infrastructure else keep).append(item)
    config.hook.pytest_deselected(items=slow)
    items[:] = keep
