"""Consumer groups that recover in seconds, on the real broker: a static member killed
and started again gets its partitions back at once (no rebalance to wait for), a member
that stops cleanly leaves at once, and a bus whose broker is away fails fast, says so
once, and takes nothing it could lose."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid

import pytest

from shared.bus.base import BusUnavailable, Record
from shared.bus.kafka import KafkaBus, KafkaGroupConsumer, KafkaOptions
from tests.e2e.harness import ROOT, free_port

pytestmark = pytest.mark.kafka

# The session timeout of these members: without static membership (or without the
# clean leave) the next member would wait about this long for its partitions.
SESSION_MS = 15_000
AT_ONCE = 3.0

_JOIN_AND_DIE = """
import asyncio, os, signal, sys
from shared.bus.kafka import KafkaGroupConsumer, KafkaOptions

async def main(bootstrap, group, topic, instance):
    options = KafkaOptions(session_timeout_ms={session}, instance_id=instance)
    consumer = KafkaGroupConsumer(
        bootstrap, group=group, topics=[topic], client_id="dies", options=options
    )
    await consumer.start()
    print("joined", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # a crash: no commit, no leave, nothing

asyncio.run(main(*sys.argv[1:]))
"""


async def _topic(bootstrap: str) -> str:
    topic = "membership-" + uuid.uuid4().hex[:8]
    bus = KafkaBus(bootstrap, client_id="membership", topics=[topic], partitions=3)
    await bus.start()
    await bus.stop()
    return topic


def _member(bootstrap: str, group: str, topic: str, instance: str) -> KafkaGroupConsumer:
    options = KafkaOptions(session_timeout_ms=SESSION_MS, instance_id=instance)
    return KafkaGroupConsumer(
        bootstrap, group=group, topics=[topic], client_id="membership", options=options
    )


async def _seconds_to_join(consumer: KafkaGroupConsumer) -> float:
    began = time.monotonic()
    await consumer.start()
    return time.monotonic() - began


async def test_a_static_member_killed_and_started_again_gets_its_partitions_back_at_once(
    kafka_bootstrap: str,
) -> None:
    topic = await _topic(kafka_bootstrap)
    group = "killed-" + uuid.uuid4().hex[:8]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _JOIN_AND_DIE.format(session=SESSION_MS),
            kafka_bootstrap,
            group,
            topic,
            "replica-0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9 and "joined" in done.stdout, done.stderr[-2000:]
    again = _member(kafka_bootstrap, group, topic, "replica-0")
    try:
        seconds = await _seconds_to_join(again)
        assert seconds < AT_ONCE, seconds
        assert {tp.partition for tp in again._consumer.assignment()} == {0, 1, 2}  # type: ignore[union-attr]
        assert again.joined
    finally:
        await again.stop()


async def test_a_static_member_that_stops_cleanly_leaves_and_another_joins_at_once(
    kafka_bootstrap: str,
) -> None:
    topic = await _topic(kafka_bootstrap)
    group = "leaving-" + uuid.uuid4().hex[:8]
    first = _member(kafka_bootstrap, group, topic, "replica-1")
    await first.start()
    await first.stop()
    replacement = _member(kafka_bootstrap, group, topic, "replica-2")  # a new pod, a new id
    try:
        seconds = await _seconds_to_join(replacement)
        assert seconds < AT_ONCE, seconds
        assert {tp.partition for tp in replacement._consumer.assignment()} == {0, 1, 2}  # type: ignore[union-attr]
    finally:
        await replacement.stop()


def test_each_replica_has_its_own_static_id_in_each_group() -> None:
    a = KafkaOptions(instance_id="signpost-host-a")
    b = KafkaOptions(instance_id="signpost-host-b")
    assert a.group_instance_id("triage") == "signpost-host-a-triage"
    assert a.group_instance_id("triage") != b.group_instance_id("triage")
    assert a.group_instance_id("triage") != a.group_instance_id("routing")
    assert KafkaOptions(instance_id="odd name/é").group_instance_id("g") == "odd-name---g"
    assert KafkaOptions().group_instance_id("triage") is None  # dynamic membership


async def test_a_bus_whose_broker_is_away_fails_fast_says_so_once_and_accepts_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away = f"127.0.0.1:{free_port()}"  # nothing listens there
    bus = KafkaBus(away, client_id="away", topics=["t"])
    consumer = bus.consumer(group="away", topics=["t"])
    with caplog.at_level(logging.WARNING, logger="shared.bus.kafka"):
        began = time.monotonic()
        for _ in range(3):
            with pytest.raises(Exception) as raised:
                await bus.start()
            assert bus.is_outage(raised.value)
            with pytest.raises(Exception) as raised:
                await consumer.start()
            assert bus.is_outage(raised.value)
        assert time.monotonic() - began < 10
    assert not bus.available and not await bus.ready()
    with pytest.raises(BusUnavailable):
        await bus.publish([Record(topic="t", key=b"k", value=b"v")])
    said = [r.getMessage() for r in caplog.records if r.name == "shared.bus.kafka"]
    assert said == ["broker unavailable"]
    await consumer.stop()
    await bus.stop()
