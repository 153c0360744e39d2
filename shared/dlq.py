"""Replaying parked events: move records from `<topic>.dlq` back onto their topic.

Once the cause is fixed (a bug, a missing directory entry), an operator replays the
parked records. A topic's DLQ depth (`depth`, a metric) is what is parked and not yet
replayed. The original value, key and CloudEvents headers go back unchanged, so
the inbox still recognises an event that was in fact handled; only the
`x-signpost-*` error headers are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.bus.base import Bus, Record
from shared.events import dlq_topic

ERROR_HEADER_PREFIX = "x-signpost-"
REPLAY_GROUP = "signpost-dlq-replay"


def restored(record: Record) -> Record:
    """The parked record as it was first published to its original topic."""
    original = record.header("x-signpost-original-topic")
    topic = original.decode() if original else record.topic.removesuffix(".dlq")
    return Record(
        topic=topic,
        key=record.key,
        value=record.value,
        headers=tuple((k, v) for k, v in record.headers if not k.startswith(ERROR_HEADER_PREFIX)),
    )


async def replay(bus: Bus, topic: str, *, limit: int = 1000, idle_seconds: float = 3.0) -> int:
    """Republish up to `limit` parked records of `topic`; returns how many.

    The replay group's position moves on only after the records are republished, so
    an interrupted replay repeats records (harmless: the inbox dedupes) rather than
    losing them.
    """
    consumer = bus.consumer(group=REPLAY_GROUP, topics=[dlq_topic(topic)])
    await consumer.start()
    replayed = 0
    try:
        while replayed < limit:
            records = await consumer.fetch(
                timeout=idle_seconds, max_records=min(200, limit - replayed)
            )
            if not records:
                break
            await bus.publish([restored(r) for r in records])
            await consumer.commit(records)
            replayed += len(records)
    finally:
        await consumer.stop()
    return replayed


async def depth(bus: Bus, topics: Sequence[str]) -> dict[str, int]:
    """How many records are parked on the dead-letter twin of each of `topics` and not
    yet replayed (the replay group has not moved past them), by dead-letter topic."""
    return await bus.backlog(group=REPLAY_GROUP, topics=[dlq_topic(t) for t in topics])
