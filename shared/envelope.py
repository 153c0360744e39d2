"""CloudEvents 1.0 envelope in Kafka binary content mode, through the SDK's Kafka binding.

`ce_*` headers carry the attributes, `content-type: application/json`, the value is the
data, and the Kafka key is the `partitionkey` extension: the pseudonymous subject key,
so every event about one child is ordered. An event created inside a trace carries it in
the Distributed Tracing extension (`traceparent`, `tracestate`: see shared.tracing).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel

from shared.bus.base import Record
from shared.events import DATA_MODEL, TOPIC_OF, EventData, EventType
from shared.text import ACCEPTED_EARLIER
from shared.tracing import trace_context

D = TypeVar("D", bound=EventData)


def new_event(
    *,
    type: EventType,
    source: str,
    subject: str,
    partitionkey: str,
    data: BaseModel,
    time: datetime,
) -> CloudEvent:
    """A new CloudEvent with a fresh UUID id, stamped `time` (the service clock's now),
    carrying the current span's trace context (when there is one): the context of the
    request or handling that caused it, not of the relay that publishes it later."""
    return CloudEvent(
        attributes={
            "type": type.value,
            "source": source,
            "id": str(uuid.uuid4()),
            "subject": subject,
            "time": time,
            "datacontenttype": "application/json",
            "partitionkey": partitionkey,
            **trace_context(),
        },
        data=data.model_dump(mode="json"),
    )


def to_record(event: BaseCloudEvent, topic: str | None = None) -> Record:
    """Encode an event as a Kafka binary-mode record for its topic."""
    message = ce_kafka.to_binary_event(event)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return Record(
        topic=topic or TOPIC_OF[EventType(event.get_type())].value,
        key=key,
        value=message.value,
        headers=tuple(message.headers.items()),
    )


def from_record(record: Record) -> BaseCloudEvent:
    """Decode a binary-mode record back into a CloudEvent (raises on a malformed one)."""
    message = ce_kafka.KafkaMessage(
        headers=dict(record.headers),
        key=record.key,
        value=record.value,
    )
    return ce_kafka.from_binary_event(message)


def event_data(event: BaseCloudEvent, model: type[D]) -> D:
    """Validate an event's data against the model of its type. The event was checked
    when it was accepted: the text rules of the day of decoding do not apply to it
    again (see shared.text), so a report accepted once never becomes undecodable."""
    return model.model_validate(event.get_data(), context=ACCEPTED_EARLIER)


def data_model(event: BaseCloudEvent) -> type[EventData]:
    """The data model registered for an event's type."""
    return DATA_MODEL[EventType(event.get_type())]
