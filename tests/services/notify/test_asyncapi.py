"""The AsyncAPI 3.0 document: generated from the event models, checked in, served by
notify. A model changed without regenerating the document fails here (drift)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.asyncapi import asyncapi_document, render
from shared.events import DATA_MODEL, TOPIC_OF
from tests.services.conftest import Signpost

CHECKED_IN = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_the_checked_in_document_matches_the_event_models() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.json is stale: run `signpost asyncapi -o docs/asyncapi.json`"
    )


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_each_topic_is_a_channel_with_its_kafka_binding_and_cloudevents_headers() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    by_address = {c["address"]: c for c in doc["channels"].values()}
    assert set(by_address) == {t.value for t in TOPIC_OF.values()}
    for event_type, model in DATA_MODEL.items():
        channel = by_address[TOPIC_OF[event_type].value]
        assert channel["bindings"]["kafka"]["topic"] == TOPIC_OF[event_type].value
        [message_ref] = channel["messages"].values()
        message = _resolve(doc, message_ref["$ref"])
        assert message["headers"]["properties"]["ce_type"] == {"const": event_type.value}
        assert "ce_partitionkey" in message["headers"]["required"]
        assert message["contentType"] == "application/json"
        payload = _resolve(doc, message["payload"]["$ref"])
        assert set(payload["properties"]) == set(model.model_fields)
    for ref in _refs(doc):  # every reference resolves
        _resolve(doc, ref)
    for operation in doc["operations"].values():
        assert operation["action"] == "send"


async def test_notify_serves_the_document(signpost: Signpost) -> None:
    r = await signpost.client.get("/v1/asyncapi.json")
    assert r.status_code == 200
    assert r.json() == json.loads(render())
