"""One referral is one trace on real Kafka and PostgreSQL: the four services, each its
own process exporting OTLP/HTTP to a receiver this test runs on loopback, make spans of
one trace id, rooted at intake's POST /v1/reports, with a CONSUMER span for each hop on
Kafka, down to notify's CLIENT span of the webhook, whose `traceparent` the partner's
endpoint receives."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from standardwebhooks.webhooks import Webhook

from tests.conftest import create_database
from tests.e2e.harness import (
    Process,
    WebhookSink,
    create_key,
    free_port,
    migrate,
    report,
    wait_ready,
)

ROUTED = "org.signpost.referral.routed.v1"
SERVICES = ("intake", "triage", "routing", "notify")
SERVER, CLIENT, PRODUCER, CONSUMER = (
    SpanProto.SPAN_KIND_SERVER,
    SpanProto.SPAN_KIND_CLIENT,
    SpanProto.SPAN_KIND_PRODUCER,
    SpanProto.SPAN_KIND_CONSUMER,
)
# Each hop on Kafka: the service that consumes it and the topic.
HOPS = (
    ("signpost-triage", "referral.received"),
    ("signpost-routing", "referral.triaged"),
    ("signpost-notify", "referral.routed"),
)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    service: str
    attributes: dict[str, Any] = field(hash=False)


class OtlpReceiver:
    """An OTLP/HTTP endpoint (`POST /v1/traces`, protobuf) that keeps every span."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        self.requests += 1
        for resource_spans in export.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            service=service,
                            attributes=_attributes(span.attributes),
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def __aenter__(self) -> OtlpReceiver:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]


def the_post(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
    posts = [
        s
        for s in spans
        if s.kind == SERVER and s.name == "POST /v1/reports" and s.service == "signpost-intake"
    ]
    return posts[0] if len(posts) == 1 else None


def hop(spans: list[ReceivedSpan], service: str, topic: str) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.kind == CONSUMER
        and s.service == service
        and s.attributes.get("messaging.destination.name") == topic
    ]


def whole(spans: list[ReceivedSpan]) -> bool:
    """Every hop and the webhook's POST are in, and every parent has arrived too."""
    ids = {s.span_id for s in spans}
    return (
        the_post(spans) is not None
        and all(hop(spans, service, topic) for service, topic in HOPS)
        and any(s.kind == CLIENT and s.service == "signpost-notify" for s in spans)
        and all(s.parent_id in ids for s in spans if s.parent_id)
    )


def tree(spans: list[ReceivedSpan]) -> str:
    """The trace as the receiver has it, for a failure's message."""
    return "\n".join(
        f"{s.span_id} <- {s.parent_id or 'root'}: {s.service} {s.name} ({s.kind})" for s in spans
    )


@pytest.mark.kafka
@pytest.mark.postgres
async def test_one_report_is_one_trace_across_four_processes_on_kafka(
    tmp_path: Path, empty_kafka: str, postgres_admin_url: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    urls = {
        name: await create_database(postgres_admin_url, f"e2e_{name}_{suffix}")
        for name in (*SERVICES, "keys")
    }
    common = {
        "MODE": "distributed",
        "KAFKA_BOOTSTRAP_SERVERS": empty_kafka,
        "KEYS_DATABASE_URL": urls["keys"],
        "PSEUDONYM_SECRET": secrets.token_urlsafe(32),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
        "TOPIC_PARTITIONS": "3",
    }
    police = create_key(
        common, kind="police", organisation="e2e-police", scopes="reports:write,reports:read"
    )
    hub = create_key(common, kind="hub", organisation="demoshire-hub", scopes="subscriptions:write")
    for name in SERVICES:
        migrate({**common, "DATABASE_URL": urls[name]}, name)
    ports = {name: free_port() for name in SERVICES}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    async with OtlpReceiver() as receiver, WebhookSink() as sink:
        tracing_env = {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        procs = [
            Process(
                ["serve", name, "--host", "127.0.0.1", "--port", str(port)],
                {
                    **common,
                    **tracing_env,
                    "DATABASE_URL": urls[name],
                    "INSTANCE": f"e2e-trace-{name}",
                },
                tmp_path / f"{name}.log",
            )
            for name, port in ports.items()
        ]
        try:
            for name in SERVICES:
                await wait_ready(base[name], procs)
            async with httpx.AsyncClient(timeout=30) as client:
                created = await client.post(
                    f"{base['notify']}/v1/subscriptions",
                    headers={"Authorization": f"Bearer {hub}"},
                    json={"url": sink.url, "event_types": [ROUTED]},
                )
                assert created.status_code == 201, created.text
                secret = created.json()["secret"]
                answer = await client.post(
                    f"{base['intake']}/v1/reports",
                    headers={"Authorization": f"Bearer {police}"},
                    json=report(1),
                )
                assert answer.status_code == 202, answer.text
                referral_id = answer.json()["referral_id"]
            try:
                await sink.wait_for(1, within=90)
            except TimeoutError:
                raise AssertionError(
                    "no webhook arrived\n" + "\n".join(p.tail(15) for p in procs)
                ) from None

            # The trace the partner was told of, once every span of it has arrived.
            told = sink.requests[0][0]
            assert "traceparent" in told, "the webhook carries no trace context"
            trace_id = told["traceparent"].split("-")[1]
            deadline = time.monotonic() + 30
            while not whole(receiver.trace(trace_id)):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the trace is incomplete after 30 s ({receiver.requests} exports)\n"
                        + tree(receiver.trace(trace_id))
                        + "\n"
                        + "\n".join(p.tail(10) for p in procs)
                    )
                await asyncio.sleep(0.2)
        finally:
            for p in procs:
                p.stop()

    spans = receiver.trace(trace_id)
    assert {s.service for s in spans} >= {f"signpost-{name}" for name in SERVICES}

    # One tree, rooted at the POST that raised the referral.
    post = the_post(spans)
    assert post is not None
    assert [s for s in spans if not s.parent_id] == [post], tree(spans)
    assert post.attributes["http.route"] == "/v1/reports"
    assert post.attributes["http.response.status_code"] == 202
    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans)
    for span in spans:  # every span reaches the POST through its parents
        seen = span
        for _ in range(len(spans)):
            if not seen.parent_id:
                break
            seen = by_id[seen.parent_id]
        assert seen == post, tree(spans)

    # A CONSUMER span for each hop on Kafka, child of the span that made its event.
    [triage] = hop(spans, *HOPS[0])
    [routing] = hop(spans, *HOPS[1])
    [notify] = hop(spans, *HOPS[2])
    assert triage.parent_id == post.span_id
    assert routing.parent_id == triage.span_id
    assert notify.parent_id == routing.span_id
    for span, group in ((triage, "triage"), (routing, "routing"), (notify, "notify")):
        assert span.attributes["messaging.system"] == "kafka"
        assert span.attributes["messaging.consumer.group.name"] == group
        assert span.attributes["cloudevents.event_subject"] == referral_id
    # Each relay's publish is a PRODUCER span beside the consumer it feeds.
    sends = {s.attributes["messaging.destination.name"]: s for s in spans if s.kind == PRODUCER}
    assert sends["referral.received"].parent_id == post.span_id
    assert sends["referral.triaged"].parent_id == triage.span_id
    assert sends["referral.routed"].parent_id == routing.span_id

    # The webhook's POST, in the same trace, and the partner got its context.
    [webhook] = [s for s in spans if s.kind == CLIENT]
    assert webhook.service == "signpost-notify"
    assert webhook.parent_id == notify.span_id
    assert webhook.attributes["http.response.status_code"] == 204
    [(headers, body)] = sink.requests
    assert headers["traceparent"].split("-")[:3] == ["00", trace_id, webhook.span_id]
    payload = Webhook(secret).verify(body, headers)  # the header changes no signature
    assert payload["data"]["referral_id"] == referral_id

    # Nothing of the child's in any span.
    child = report(1)["child"]
    said = json.dumps([[s.name, s.attributes] for s in spans])
    for value in (child["given_name"], child["family_name"], child["date_of_birth"]):
        assert value not in said
