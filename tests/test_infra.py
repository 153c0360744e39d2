"""The rules that keep CI honest: missing infrastructure fails under CI=true, and tests
sharing the session's broker do not see each other's events."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.events import Topic
from tests.conftest import delete_topics
from tests.infra import unavailable


def test_missing_infrastructure_fails_the_run_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="mandatory"):
        unavailable("Apache Kafka", "java not found")


def test_missing_infrastructure_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="java not found"):
        unavailable("Apache Kafka", "java not found")


@pytest.mark.kafka
async def test_an_emptied_broker_gives_a_group_nothing_an_earlier_test_left(
    kafka_bootstrap: str,
) -> None:
    """What `empty_kafka` promises the e2e tests sharing the session's broker: an event
    one test left unconsumed, or a position one test's group committed, is gone; the
    same group then reads only what was written after, from its first record."""
    topic = Topic.REFERRAL_RECEIVED
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await admin.start()
    await producer.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        for n in range(3):
            await producer.send_and_wait(topic, f"earlier-{n}".encode(), partition=0)
        # One group read the first record; another never joined (the case that bit).
        await admin_commit(kafka_bootstrap, "e2e-infra-read", TopicPartition(topic, 0), 1)

        await delete_topics(kafka_bootstrap)

        assert topic not in await admin.list_topics()
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        await producer.send_and_wait(topic, b"this-test", partition=0)
    finally:
        await producer.stop()
        await admin.close()
    for group in ("e2e-infra-read", "e2e-infra-new"):
        assert await read_all(kafka_bootstrap, group, topic) == [b"this-test"], group
    await delete_topics(kafka_bootstrap)


async def admin_commit(bootstrap: str, group: str, partition: TopicPartition, at: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([partition])
        await consumer.commit({partition: at})
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, group: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
        return [m.value for records in batch.values() for m in records if m.value is not None]
    finally:
        await consumer.stop()
