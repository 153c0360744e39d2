"""The AsyncAPI 3.0 document of Signpost's Kafka topics, generated from the event models.

Never written by hand: `signpost asyncapi` writes it (the checked-in copy is
`docs/asyncapi.json`, compared with a fresh one in CI) and notify serves it at
`GET /v1/asyncapi.json`. One channel per topic with its Kafka binding; one message
per event type with its CloudEvents binary-mode headers and its data schema.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events import DATA_MODEL, PARTNER_FACING, TOPIC_OF, EventType, dlq_topic

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.5.0"


def _camel(dotted: str) -> str:
    head, *rest = dotted.replace("-", ".").split(".")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _ce_headers(event_type: EventType) -> dict[str, Any]:
    """The CloudEvents 1.0 Kafka binary-mode headers of one event type."""
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode.",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "ce_partitionkey",
            "content-type",
        ],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {**text, "format": "uuid", "description": "Unique per event."},
            "ce_source": {**text, "description": "The producing service instance."},
            "ce_type": {"const": event_type.value},
            "ce_subject": {**text, "description": "The referral id."},
            "ce_time": {**text, "format": "date-time"},
            "ce_partitionkey": {
                **text,
                "description": "The pseudonymous subject key; also the Kafka key.",
            },
            # The CloudEvents Distributed Tracing extension: optional, never required.
            "ce_traceparent": {
                **text,
                "description": "Optional (CloudEvents Distributed Tracing extension): the "
                "W3C trace context of the work that produced the event "
                "(`00-<trace id>-<span id>-<flags>`). A consumer "
                "continues the trace from it; an event without it starts a new trace.",
            },
            "ce_tracestate": {
                **text,
                "description": "Optional: the W3C `tracestate` that goes with "
                "`ce_traceparent`, when there is one.",
            },
            "content-type": {"const": "application/json"},
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document, deterministic for a given set of event models."""
    types = sorted(DATA_MODEL, key=lambda t: t.value)
    refs, definitions = models_json_schema(
        [(DATA_MODEL[t], "validation") for t in types],
        ref_template="#/components/schemas/{model}",
    )
    schemas = dict(sorted(definitions.get("$defs", {}).items()))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in types:
        topic = TOPIC_OF[event_type].value
        model = DATA_MODEL[event_type]
        channel_id = _camel(topic)
        message_id = model.__name__
        audience = "partner-facing" if event_type in PARTNER_FACING else "internal"
        messages[message_id] = {
            "name": message_id,
            "title": event_type.value,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": _ce_headers(event_type),
            "payload": refs[(model, "validation")],
            "bindings": {
                "kafka": {
                    "key": {
                        "type": "string",
                        "description": "The pseudonymous subject key: events about one "
                        "child share a partition and stay in order.",
                    },
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
            "tags": [{"name": audience}],
        }
        channels[channel_id] = {
            "address": topic,
            "title": topic,
            "description": (
                f"{event_type.value} events ({audience}). A record that cannot be handled "
                f"is parked on `{dlq_topic(topic)}` with its original headers."
            ),
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
            "tags": [{"name": audience}],
        }
        operations["publish" + channel_id[:1].upper() + channel_id[1:]] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Signpost publishes {event_type.value}.",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Signpost events",
            "version": DOCUMENT_VERSION,
            "description": (
                "CloudEvents 1.0 in Kafka binary content mode: `ce_*` headers, "
                "`content-type: application/json`, the value is the event's data. Types "
                "are versioned (`.v1`): within a type only additive changes. Partner-facing "
                "topics carry no personal data; fetch details through the REST API."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "The partnership's Kafka cluster (KAFKA_BOOTSTRAP_SERVERS).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    """The document as the text `signpost asyncapi` writes and CI compares."""
    return json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n"
