"""The Kafka bus on the real broker: topics created as configured, and a group's
positions committed together at most once per interval, never lost on a clean stop."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import InvalidReplicationFactorError
from cloudevents.core.base import BaseCloudEvent

from shared.bus.base import Record
from shared.bus.kafka import KafkaBus, KafkaGroupConsumer, KafkaOptions
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database, table_of
from shared.outbox import InboxEntry, OutboxMessage
from shared.uow import UnitOfWork, UnitsOfWork
from tests.shared.bus.test_contract import status_event

pytestmark = pytest.mark.kafka


async def test_topics_are_created_with_the_configured_partitions(kafka_bootstrap: str) -> None:
    topic = "rf-test-" + uuid.uuid4().hex[:8]
    bus = KafkaBus(kafka_bootstrap, client_id="rf-test", topics=[topic], partitions=2)
    await bus.start()
    await bus.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
        assert len(description["partitions"]) == 2
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})]
        )
        [(_, _, _, _, entries)] = response.resources
        values = {entry[0]: entry[1] for entry in entries}
        assert values["min.insync.replicas"] == "1"  # one copy: it must be in sync
    finally:
        await admin.close()


async def test_a_replication_factor_the_cluster_cannot_meet_refuses_to_start(
    kafka_bootstrap: str,
) -> None:
    # The test cluster has one broker: three copies of a topic cannot be placed. The
    # factor reaches the broker, which says so, and the service does not start.
    topic = "rf-test-" + uuid.uuid4().hex[:8]
    bus = KafkaBus(kafka_bootstrap, client_id="rf-test", topics=[topic], replication_factor=3)
    with pytest.raises(InvalidReplicationFactorError):
        await bus.start()
    await bus.stop()


async def _committed(bootstrap: str, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def _one_partition(
    bootstrap: str, count: int, options: KafkaOptions | None = None
) -> tuple[str, KafkaBus]:
    """A new one-partition topic holding `count` status events about one child (ref_0,
    ref_1, ...), and the started bus that published them."""
    topic = "soon-" + uuid.uuid4().hex[:8]
    bus = KafkaBus(bootstrap, client_id="soon", topics=[topic], partitions=1, options=options)
    await bus.start()
    events = [status_event(f"ref_{i}", "child-1") for i in range(count)]
    await bus.publish(
        [Record(topic=topic, key=r.key, value=r.value, headers=r.headers) for r in events]
    )
    return topic, bus


async def _member(bootstrap: str, topic: str, *, interval_ms: int) -> KafkaGroupConsumer:
    """A started member of group g-<topic> committing at most every `interval_ms`."""
    member = KafkaGroupConsumer(
        bootstrap,
        group="g-" + topic,
        topics=[topic],
        client_id="soon",
        options=KafkaOptions(commit_interval_ms=interval_ms),
    )
    await member.start()
    return member


async def _take(member: KafkaGroupConsumer, count: int, *, per_fetch: int) -> list[Record]:
    taken: list[Record] = []
    async with asyncio.timeout(30):
        while len(taken) < count:
            taken += await member.fetch(timeout=0.5, max_records=per_fetch)
    return taken


async def test_positions_committed_soon_go_to_the_broker_together_within_the_interval(
    kafka_bootstrap: str,
) -> None:
    topic, bus = await _one_partition(kafka_bootstrap, 3)
    group = "g-" + topic
    interval = 60.0
    member = await _member(kafka_bootstrap, topic, interval_ms=int(interval * 1000))
    try:
        taken = await _take(member, 3, per_fetch=1)
        # The first batch after a quiet interval goes at once...
        member._committed_at -= interval
        await member.commit_soon(taken[:1])
        assert await _committed(kafka_bootstrap, group) == {0: 1}
        # ...the next ones wait to go with later batches: the broker still says 1, while
        # the member's lag already counts them as handled.
        await member.commit_soon(taken[1:2])
        await member.commit_soon(taken[2:3])
        assert await _committed(kafka_bootstrap, group) == {0: 1}
        assert await member.lag() == {(topic, 0): 0}
        # An idle fetch ends when they are due (here in a second) and commits them, well
        # inside its own timeout.
        member._committed_at = time.monotonic() - interval + 1.0
        began = time.monotonic()
        assert await member.fetch(timeout=30, max_records=10) == []
        assert time.monotonic() - began < 10
        assert await _committed(kafka_bootstrap, group) == {0: 3}
    finally:
        await member.stop()
        await bus.stop()


async def test_with_no_interval_each_commit_goes_at_once_and_an_idle_fetch_waits_its_time(
    kafka_bootstrap: str,
) -> None:
    topic, bus = await _one_partition(kafka_bootstrap, 1)
    member = await _member(kafka_bootstrap, topic, interval_ms=0)
    try:
        taken = await _take(member, 1, per_fetch=10)
        # A partition this member no longer owns (a batch that outlived a rebalance)
        # is not committed, and is forgotten rather than waited for.
        member.mark_done(Record(topic=topic, partition=7, offset=3, key=b"k", value=b""))
        await member.commit_soon(taken)
        assert await _committed(kafka_bootstrap, "g-" + topic) == {0: 1}
        assert member._done == {}
        began = time.monotonic()
        assert await member.fetch(timeout=0.5, max_records=10) == []
        assert time.monotonic() - began >= 0.4  # a wait, not a spin
    finally:
        await member.stop()
        await bus.stop()


async def test_an_event_consumer_puts_off_its_commits_and_sends_them_when_it_stops(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    options = KafkaOptions(commit_interval_ms=60_000)
    topic, bus = await _one_partition(kafka_bootstrap, 6, options)
    group = "g-" + topic
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    await db.create_tables([table_of(m) for m in (OutboxMessage, InboxEntry)])
    handled: list[str] = []

    async def note(uow: UnitOfWork, event: BaseCloudEvent) -> None:
        handled.append(event.get_subject() or "")

    consumer = EventConsumer(
        bus=bus,
        units=UnitsOfWork(db, clock=Clock(), source="/test"),
        subscription=Subscription(group=group, topics=[topic], handler=note),
        batch_size=2,
    )
    try:
        await consumer.start()
        async with asyncio.timeout(30):
            while consumer.handled < 6:
                await consumer.poll_once(timeout=0.5)
        # Six handled in three batches, and the broker told of none of them yet.
        assert handled == [f"ref_{i}" for i in range(6)]
        assert await _committed(kafka_bootstrap, group) == {}
    finally:
        await consumer.stop()
        await bus.stop()
        await db.dispose()
    assert await _committed(kafka_bootstrap, group) == {0: 6}


async def test_a_clean_stop_commits_the_positions_still_waiting(kafka_bootstrap: str) -> None:
    topic, bus = await _one_partition(kafka_bootstrap, 2)
    member = await _member(kafka_bootstrap, topic, interval_ms=60_000)
    try:
        taken = await _take(member, 2, per_fetch=10)
        member._committed_at = time.monotonic()  # the interval has just begun
        await member.commit_soon(taken)
        assert await _committed(kafka_bootstrap, "g-" + topic) == {}
    finally:
        await member.stop()
        await bus.stop()
    assert await _committed(kafka_bootstrap, "g-" + topic) == {0: 2}
