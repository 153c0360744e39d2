"""What a partner reading Kafka directly gets: the example consumer in
`examples/consumer/` reads `referral.routed` from a real broker and decodes each
record with the CloudEvents SDK."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from datetime import UTC, datetime
from types import ModuleType

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.base import BaseCloudEvent

from shared.envelope import new_event, to_record
from shared.events import Destination, EventType, ReferralRouted
from tests.e2e.harness import ROOT


def example_consumer() -> ModuleType:
    path = ROOT / "examples" / "consumer" / "read_routed.py"
    spec = importlib.util.spec_from_file_location("read_routed", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.kafka
async def test_the_example_consumer_reads_and_decodes_referral_routed(
    kafka_bootstrap: str,
) -> None:
    reader = example_consumer()
    referral_ids = [f"ref_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    events = [
        new_event(
            time=datetime.now(UTC),
            type=EventType.REFERRAL_ROUTED,
            source="/signpost/routing/test",
            subject=referral_id,
            partitionkey="sub_" + uuid.uuid4().hex[:8],
            data=ReferralRouted(
                referral_id=referral_id,
                destination=Destination(
                    kind="agency", id="ag_1", organisation="safe-homes", name="Safe Homes"
                ),
                level=2,
                priority="green",
                reason_codes=["single_agency_best_placed"],
                directory_version="1",
                routed_at=datetime.now(UTC),
                referrer_organisation="demo-police",
            ),
        )
        for referral_id in referral_ids
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            record = to_record(event)
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=list(record.headers)
            )
    finally:
        await producer.stop()

    received: dict[str, BaseCloudEvent] = {}
    stopping = asyncio.Event()

    async def handle(event: BaseCloudEvent) -> None:
        if event.get_subject() in referral_ids:
            received[str(event.get_subject())] = event
        if len(received) == len(referral_ids):
            stopping.set()

    async with asyncio.timeout(60):
        await reader.read_routed(
            bootstrap=kafka_bootstrap,
            group_id="example-" + uuid.uuid4().hex[:8],
            handle=handle,
            stopping=stopping,
        )

    assert set(received) == set(referral_ids)
    for sent in events:
        got = received[str(sent.get_subject())]
        assert got.get_id() == sent.get_id()
        assert got.get_type() == "org.signpost.referral.routed.v1"
        assert got.get_extension("partitionkey") == sent.get_extension("partitionkey")
        data = got.get_data()
        assert isinstance(data, dict)
        # What the AsyncAPI document promises the payload is, it is.
        ReferralRouted.model_validate(data)
        assert "child" not in data and "narrative" not in data
