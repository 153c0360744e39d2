"""The Kafka bus creates its topics as configured, on the real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import InvalidReplicationFactorError

from shared.bus.kafka import KafkaBus

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
