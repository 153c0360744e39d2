"""An example partner consumer: read `referral.routed` from Kafka and decode each
record with the CloudEvents SDK's Kafka binding.

    pip install aiokafka "cloudevents>=2.2"
    python examples/consumer/read_routed.py --bootstrap kafka:9092 --group my-agency

Each record is a CloudEvent in binary content mode: attributes in `ce_*` headers,
the event's data (JSON) as the value, the pseudonymous subject key as the Kafka key.
The data carries ids and codes only; fetch what you are entitled to through the API.
The document describing every topic is served at `GET /v1/asyncapi.json`.

Offsets are committed only after a record has been handled, so a crash means the
record is read again: make your handling idempotent on the event's `id`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka as ce_kafka

TOPIC = "referral.routed"
ROUTED = "org.signpost.referral.routed.v1"

Handler = Callable[[BaseCloudEvent], Awaitable[None]]


def decode(
    headers: list[tuple[str, bytes]], key: bytes | None, value: bytes | None
) -> BaseCloudEvent:
    """One Kafka record as a CloudEvent (raises if it is not a valid binary-mode event)."""
    return ce_kafka.from_binary_event(
        ce_kafka.KafkaMessage(headers=dict(headers), key=key, value=value or b"")
    )


async def read_routed(
    *,
    bootstrap: str,
    group_id: str,
    handle: Handler,
    stopping: asyncio.Event,
    from_beginning: bool = True,
) -> None:
    """Hand every `referral.routed` event to `handle` until `stopping` is set."""
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = decode(list(record.headers), record.key, record.value)
                    if event.get_type() == ROUTED:  # a newer type (.v2) is skipped, not misread
                        await handle(event)
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()


async def print_event(event: BaseCloudEvent) -> None:
    data: Any = event.get_data()
    print(
        json.dumps(
            {
                "id": event.get_id(),
                "referral_id": event.get_subject(),
                "destination": data.get("destination", {}).get("kind"),
                "priority": data.get("priority"),
                "level": data.get("level"),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--group", required=True, help="your consumer group id")
    args = parser.parse_args()

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await read_routed(
            bootstrap=args.bootstrap, group_id=args.group, handle=print_event, stopping=stopping
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
