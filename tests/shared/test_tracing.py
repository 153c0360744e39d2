"""Traces that follow a referral: the W3C context rides in each event's Distributed
Tracing extension (`traceparent`, `tracestate`), a consumer handles each event in a
CONSUMER span that continues it, the relay's publish and each HTTP request are spans of
the same trace, and in an embedded Signpost one POST /v1/reports is one trace across
intake, triage, routing and notify, down to the webhook's CLIENT span and the
`traceparent` the partner receives.

Spans are collected by the SDK's InMemorySpanExporter on the process's one
TracerProvider (OpenTelemetry lets a process set it only once), listening only while a
test asks for `spans`. The embedded Signpost is traced as `shared.runtime.build_app`
wires it (`telemetry=FASTAPI_TELEMETRY`, `instrument`)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.base import BaseCloudEvent
from fastapi import FastAPI, HTTPException
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook

from services.apps import embedded_app
from shared import tracing
from shared.bus.base import Record
from shared.bus.embedded import EmbeddedBus
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database, table_of
from shared.envelope import from_record, new_event, to_record
from shared.events import EventType, ReferralStatus
from shared.outbox import InboxEntry, OutboxMessage, OutboxRelay
from shared.settings import embedded_settings
from shared.uow import UnitOfWork, UnitsOfWork
from tests.e2e.harness import WebhookSink
from tests.services.conftest import Signpost, bearer

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "police-report.json"
ROUTED = "org.signpost.referral.routed.v1"
# A police system's own trace, continued by intake.
POLICE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
POLICE_SPAN = "00f067aa0ba902b7"
POLICE_TRACEPARENT = f"00-{POLICE_TRACE}-{POLICE_SPAN}-01"


class Listening(SpanProcessor):
    """Hands finished spans to `exporter` only while a test listens."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.inner = SimpleSpanProcessor(self.exporter)
        self.on = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_LISTENING: Listening | None = None


def _listening() -> Listening:
    global _LISTENING
    if _LISTENING is None:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider(resource=Resource.create({"service.name": "signpost"}))
            trace.set_tracer_provider(provider)
        _LISTENING = Listening()
        provider.add_span_processor(_LISTENING)
    return _LISTENING


class Spans:
    """The spans finished while the test runs."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def of_kind(self, kind: SpanKind) -> list[ReadableSpan]:
        return [s for s in self.all() if s.kind == kind]

    async def wait_until(
        self, ready: Callable[[list[ReadableSpan]], bool], within: float = 20.0
    ) -> list[ReadableSpan]:
        """The spans so far, once `ready` says they are all there (bounded)."""
        async with asyncio.timeout(within):
            while not ready(found := self.all()):
                await asyncio.sleep(0.05)
        return found


@pytest.fixture
def spans() -> Iterator[Spans]:
    listening = _listening()
    listening.exporter.clear()
    listening.on = True
    try:
        yield Spans(listening.exporter)
    finally:
        listening.on = False
        listening.exporter.clear()


def traceparent_of(span: ReadableSpan | trace.Span) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def status_event(subject: str = "ref_1") -> BaseCloudEvent:
    return new_event(
        type=EventType.REFERRAL_STATUS,
        source="/signpost/routing/test",
        subject=subject,
        partitionkey="sub_k",
        data=ReferralStatus(
            referral_id=subject,
            status="accepted",
            occurred_at=NOW,
            referrer_organisation="demo-police",
        ),
        time=NOW,
    )


def with_extension(event: BaseCloudEvent, **extension: str) -> Record:
    """The event's record, its tracing headers replaced by `extension` (none: without)."""
    record = to_record(event)
    headers = [(k, v) for k, v in record.headers if k not in ("ce_traceparent", "ce_tracestate")]
    headers += [(f"ce_{k}", v.encode()) for k, v in extension.items()]
    return Record(topic=record.topic, key=record.key, value=record.value, headers=tuple(headers))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    await database.create_tables([table_of(m) for m in (OutboxMessage, InboxEntry)])
    yield database
    await database.dispose()


def units(db: Database, service: str = "triage") -> UnitsOfWork:
    return UnitsOfWork(db, clock=Clock(NOW), source=f"/signpost/{service}/test-host")


async def outbox_records(db: Database) -> list[Record]:
    async with db.session() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [
        Record(
            topic=row.topic,
            key=row.key,
            value=row.value,
            headers=tuple((k, base64.b64decode(v)) for k, v in json.loads(row.headers)),
        )
        for row in rows
    ]


async def onward(uow: UnitOfWork, event: BaseCloudEvent) -> None:
    """A handler that records one event of its own for each it handles."""
    subject = event.get_subject() or ""
    uow.record(
        type=EventType.REFERRAL_STATUS,
        subject=subject + "/next",
        partitionkey="sub_k",
        data=ReferralStatus(
            referral_id=subject,
            status="in-progress",
            occurred_at=NOW,
            referrer_organisation="demo-police",
        ),
    )


def consumer_on(db: Database, handler: Any = onward, bus: Any = None) -> EventConsumer:
    return EventConsumer(
        bus=bus,
        units=units(db),
        subscription=Subscription(group="triage", topics=["referral.status"], handler=handler),
        max_attempts=1,
        backoff_seconds=0,
    )


# The context in events.


async def test_an_event_recorded_inside_a_span_carries_that_spans_context_through_the_outbox(
    db: Database, spans: Spans
) -> None:
    with trace.get_tracer("test").start_as_current_span("work") as work:
        async with units(db).begin() as uow:
            recorded = uow.record(
                type=EventType.REFERRAL_STATUS,
                subject="ref_1",
                partitionkey="sub_k",
                data=ReferralStatus(
                    referral_id="ref_1",
                    status="accepted",
                    occurred_at=NOW,
                    referrer_organisation="demo-police",
                ),
            )
    assert recorded.get_extension("traceparent") == traceparent_of(work)

    [record] = await outbox_records(db)
    assert record.header("ce_traceparent") == traceparent_of(work).encode()
    carried = tracing.span_context_of(tracing.event_context(from_record(record)))
    assert carried.is_valid and carried.is_remote
    assert (carried.trace_id, carried.span_id) == (
        work.get_span_context().trace_id,
        work.get_span_context().span_id,
    )


async def test_an_event_made_outside_any_trace_carries_no_extension(spans: Spans) -> None:
    event = status_event()
    assert event.get_extension("traceparent") is None
    assert event.get_extension("tracestate") is None
    assert {name for name, _ in to_record(event).headers}.isdisjoint(
        {"ce_traceparent", "ce_tracestate"}
    )


async def test_tracestate_travels_with_traceparent(spans: Spans) -> None:
    parent = tracing.context_from(
        {"traceparent": POLICE_TRACEPARENT, "tracestate": "police=rms-7,other=x"}
    )
    with trace.get_tracer("test").start_as_current_span("work", context=parent):
        event = status_event()
    assert event.get_extension("tracestate") == "police=rms-7,other=x"
    assert event.get_extension("traceparent").split("-")[1] == POLICE_TRACE
    carried = tracing.span_context_of(tracing.event_context(from_record(to_record(event))))
    assert carried.trace_state.get("police") == "rms-7"


# Consuming.


async def test_the_handler_runs_in_a_consumer_span_child_of_the_events_context(
    db: Database, spans: Spans, tmp_path: Path
) -> None:
    with trace.get_tracer("test").start_as_current_span("routing's work") as producer:
        event = status_event()
    consumer = consumer_on(db, bus=EmbeddedBus(tmp_path / "bus.db"))

    assert await consumer.handle(to_record(event)) is True

    [span] = spans.of_kind(SpanKind.CONSUMER)
    assert span.name == "process referral.status"
    assert span.context.trace_id == producer.get_span_context().trace_id
    assert parent_id(span) == producer.get_span_context().span_id
    assert span.parent is not None and span.parent.is_remote
    assert attrs(span) | {
        "messaging.system": "signpost_embedded_log",
        "messaging.destination.name": "referral.status",
        "messaging.consumer.group.name": "triage",
        "messaging.operation.type": "process",
        "cloudevents.event_id": event.get_id(),
        "cloudevents.event_type": EventType.REFERRAL_STATUS.value,
        "cloudevents.event_subject": "ref_1",
        "signpost.service": "triage",
        "service.name": "signpost-triage",
    } == attrs(span)
    # What the handler recorded carries the trace on, from the consumer span.
    [onward_record] = await outbox_records(db)
    assert onward_record.header("ce_traceparent") == traceparent_of(span).encode()


async def test_a_redelivered_event_is_a_span_that_says_it_was_a_duplicate(
    db: Database, spans: Spans
) -> None:
    with trace.get_tracer("test").start_as_current_span("work"):
        record = to_record(status_event())
    consumer = consumer_on(db)
    assert await consumer.handle(record) is True
    assert await consumer.handle(record) is False

    first, again = spans.of_kind(SpanKind.CONSUMER)
    assert "signpost.duplicate" not in attrs(first)
    assert attrs(again)["signpost.duplicate"] is True
    assert len(await outbox_records(db)) == 1


@pytest.mark.parametrize(
    "extension",
    [
        {},
        {"traceparent": "not a traceparent"},
        {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
        {"traceparent": f"00-{POLICE_TRACE}-0000000000000000-01"},
        {"traceparent": f"ff-{POLICE_TRACE}-{POLICE_SPAN}-01"},
        {"traceparent": f"00-{POLICE_TRACE[:-1]}-{POLICE_SPAN}-01"},
        {"tracestate": "police=rms-7"},
    ],
    ids=[
        "without the extension",
        "garbage",
        "zero trace id",
        "zero span id",
        "forbidden version",
        "short trace id",
        "tracestate alone",
    ],
)
async def test_an_event_without_a_valid_context_is_handled_and_starts_a_new_trace(
    db: Database, spans: Spans, extension: dict[str, str]
) -> None:
    record = with_extension(status_event(), **extension)
    consumer = consumer_on(db)

    assert await consumer.handle(record) is True

    [span] = spans.of_kind(SpanKind.CONSUMER)
    assert span.parent is None
    assert span.context.is_valid and f"{span.context.trace_id:032x}" != POLICE_TRACE
    [onward_record] = await outbox_records(db)
    assert onward_record.header("ce_traceparent") == traceparent_of(span).encode()


async def test_a_failing_handler_fails_its_span_naming_the_error_class_only(
    db: Database, spans: Spans
) -> None:
    async def failing(uow: UnitOfWork, event: BaseCloudEvent) -> None:
        raise ValueError("Amira Example, 14 March 2018")

    consumer = consumer_on(db, handler=failing)
    with pytest.raises(ValueError):
        await consumer.handle(to_record(status_event()))

    [span] = spans.of_kind(SpanKind.CONSUMER)
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert attrs(span)["error.type"] == "ValueError"
    assert span.events == ()  # no exception event: its message may be personal data
    assert "Amira" not in repr(attrs(span))


async def test_each_event_of_a_batch_is_a_consumer_span_of_its_own_trace(
    db: Database, spans: Spans, tmp_path: Path
) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    await bus.start()
    try:
        producers = []
        records = []
        for i in range(3):
            with trace.get_tracer("test").start_as_current_span(f"work {i}") as work:
                producers.append(work.get_span_context())
                records.append(to_record(status_event(f"ref_{i}")))
        await bus.publish(records)
        consumer = consumer_on(db, bus=bus)
        await consumer.start()
        async with asyncio.timeout(10):
            while consumer.handled < 3:
                await consumer.poll_once(timeout=1.0)
        await consumer.stop()
    finally:
        await bus.stop()

    consumed = spans.of_kind(SpanKind.CONSUMER)
    assert [(s.context.trace_id, parent_id(s)) for s in consumed] == [
        (p.trace_id, p.span_id) for p in producers
    ]
    onward = await outbox_records(db)
    assert [r.header("ce_traceparent") for r in onward] == [
        traceparent_of(s).encode() for s in consumed
    ]


# The relay.


async def test_the_relay_publishes_in_a_producer_span_of_the_events_trace_leaving_it_as_made(
    db: Database, spans: Spans, tmp_path: Path
) -> None:
    with trace.get_tracer("test").start_as_current_span("intake's POST") as work:
        async with units(db, "intake").begin() as uow:
            await onward(uow, status_event())
    bus = EmbeddedBus(tmp_path / "bus.db")
    await bus.start()
    try:
        assert await OutboxRelay(db, bus, clock=Clock(NOW)).relay_once() == 1
        reader = bus.consumer(group="reader", topics=["referral.status"])
        await reader.start()
        [published] = await reader.fetch(timeout=5, max_records=10)
        await reader.stop()
    finally:
        await bus.stop()

    [send] = spans.of_kind(SpanKind.PRODUCER)
    assert send.name == "send referral.status"
    assert parent_id(send) == work.get_span_context().span_id
    assert attrs(send)["signpost.service"] == "intake"
    assert attrs(send)["messaging.destination.name"] == "referral.status"
    # The record carries the context of the work that made the event, not the relay's.
    assert published.header("ce_traceparent") == traceparent_of(work).encode()


# Configuration.


@pytest.mark.parametrize(
    ("env", "exports"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, False),
    ],
)
def test_spans_are_exported_only_when_the_otel_variables_ask(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], exports: bool
) -> None:
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.exporting() is exports


def test_a_process_is_named_by_its_service_or_as_the_embedded_whole() -> None:
    assert tracing.resource_name("notify") == "signpost-notify"
    assert tracing.resource_name(None) == "signpost"
    assert tracing.service_of("/signpost/routing/e2e-routing-host") == "routing"
    assert tracing.service_of("/test") is None


# HTTP.


@pytest.fixture
async def small_app() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI(telemetry=tracing.FASTAPI_TELEMETRY)

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        with trace.get_tracer("test").start_as_current_span("inside"):
            pass
        return {"id": thing_id}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("Amira Example")

    @app.get("/v1/refused")
    async def refused() -> None:
        raise HTTPException(status_code=403)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    tracing.instrument(app, services=["intake"])
    tracing.instrument(app, services=["intake"])  # once is enough: nothing doubles
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_a_request_is_a_server_span_named_by_its_route_template(
    small_app: httpx.AsyncClient, spans: Spans
) -> None:
    answer = await small_app.get("/v1/things/ref_123")
    assert answer.status_code == 200

    [server] = spans.of_kind(SpanKind.SERVER)
    assert server.name == "GET /v1/things/{thing_id}"
    assert server.parent is None
    assert attrs(server) == {
        "http.request.method": "GET",
        "http.route": "/v1/things/{thing_id}",
        "http.response.status_code": 200,
        "url.scheme": "http",
        "signpost.service": "intake",
        "service.name": "signpost-intake",
    }
    [inside] = spans.of_kind(SpanKind.INTERNAL)
    assert parent_id(inside) == server.context.span_id


async def test_a_request_continues_the_callers_traceparent(
    small_app: httpx.AsyncClient, spans: Spans
) -> None:
    await small_app.get("/v1/things/ref_1", headers={"traceparent": POLICE_TRACEPARENT})
    await small_app.get("/v1/things/ref_2", headers={"traceparent": "00-rubbish"})

    continued, fresh = spans.of_kind(SpanKind.SERVER)
    assert f"{continued.context.trace_id:032x}" == POLICE_TRACE
    assert parent_id(continued) == int(POLICE_SPAN, 16)
    assert fresh.parent is None and f"{fresh.context.trace_id:032x}" != POLICE_TRACE


async def test_a_500_fails_the_server_span_a_403_does_not_and_probes_are_not_traced(
    small_app: httpx.AsyncClient, spans: Spans
) -> None:
    assert (await small_app.get("/v1/broken")).status_code == 500
    assert (await small_app.get("/v1/refused")).status_code == 403
    assert (await small_app.get("/healthz")).status_code == 200
    assert (await small_app.get("/nowhere")).status_code == 404

    broken, refused, nowhere = spans.of_kind(SpanKind.SERVER)
    assert broken.name == "GET /v1/broken"
    assert attrs(broken)["http.response.status_code"] == 500
    assert broken.status.status_code == StatusCode.ERROR
    assert "Amira" not in repr(attrs(broken)) + str(broken.status.description)
    assert refused.status.status_code == StatusCode.UNSET
    assert attrs(refused)["http.response.status_code"] == 403
    # No route matched: the method alone names it (never the raw path).
    assert nowhere.name == "GET" and "http.route" not in attrs(nowhere)


# One referral, one trace: the embedded Signpost.


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True)
    app = embedded_app(settings, clock=Clock(NOW))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


async def subscribe(sp: Signpost, url: str) -> str:
    hub = await sp.key("hub", "demoshire-hub", "subscriptions:write")
    created = await sp.client.post(
        "/v1/subscriptions", headers=bearer(hub), json={"url": url, "event_types": [ROUTED]}
    )
    assert created.status_code == 201, created.text
    secret: str = created.json()["secret"]
    return secret


def one_consumer(
    found: Sequence[ReadableSpan], service: str, topic: str, trace_id: int
) -> ReadableSpan:
    [span] = [
        s
        for s in found
        if s.kind == SpanKind.CONSUMER
        and s.context.trace_id == trace_id
        and attrs(s).get("signpost.service") == service
        and attrs(s).get("messaging.destination.name") == topic
    ]
    return span


async def test_one_report_is_one_trace_from_the_post_to_the_partners_webhook(
    sp: Signpost, spans: Spans
) -> None:
    async with WebhookSink() as sink:
        secret = await subscribe(sp, sink.url)
        police = await sp.key("police", "demo-police", "reports:write")
        spans.exporter.clear()  # the subscription's own request is another trace
        answer = await sp.client.post(
            "/v1/reports", headers=bearer(police), json=json.loads(EXAMPLE.read_text())
        )
        assert answer.status_code == 202, answer.text
        await sink.wait_for(1, within=30)

    def complete(found: list[ReadableSpan]) -> bool:
        consumed = {
            (attrs(s).get("signpost.service"), attrs(s).get("messaging.destination.name"))
            for s in found
            if s.kind == SpanKind.CONSUMER
        }
        wanted = {
            ("triage", "referral.received"),
            ("routing", "referral.triaged"),
            ("notify", "referral.routed"),
            ("intake", "referral.routed"),
        }
        return wanted <= consumed and any(s.kind == SpanKind.CLIENT for s in found)

    found = await spans.wait_until(complete)
    # Signpost's spans alone: FastAPI's own tracing is off (it would split the trace).
    assert {s.instrumentation_scope.name for s in found if s.instrumentation_scope} <= {
        f"signpost.{name}" for name in ("intake", "triage", "routing", "notify")
    } | {"signpost"}
    [post] = [s for s in found if s.kind == SpanKind.SERVER and s.name == "POST /v1/reports"]
    assert post.parent is None
    assert attrs(post)["signpost.service"] == "intake"
    assert attrs(post)["http.response.status_code"] == 202
    trace_id = post.context.trace_id

    # Each hop is a consumer span, child of the span that made the event it handles.
    triage = one_consumer(found, "triage", "referral.received", trace_id)
    routing = one_consumer(found, "routing", "referral.triaged", trace_id)
    notify = one_consumer(found, "notify", "referral.routed", trace_id)
    assert parent_id(triage) == post.context.span_id
    assert parent_id(routing) == triage.context.span_id
    assert parent_id(notify) == routing.context.span_id
    # Intake follows the referral's journey in the same trace.
    journey = one_consumer(found, "intake", "referral.routed", trace_id)
    assert parent_id(journey) == routing.context.span_id
    # The relay's publish of the report, in the POST's trace.
    [sent] = [
        s
        for s in found
        if s.kind == SpanKind.PRODUCER
        and attrs(s)["messaging.destination.name"] == "referral.received"
    ]
    assert parent_id(sent) == post.context.span_id

    [client] = spans.of_kind(SpanKind.CLIENT)
    assert client.context.trace_id == trace_id
    assert parent_id(client) == notify.context.span_id
    assert client.name == "POST"
    assert attrs(client)["signpost.service"] == "notify"
    assert attrs(client)["http.response.status_code"] == 204
    assert attrs(client)["signpost.referral_id"] == answer.json()["referral_id"]

    # The partner got the trace, and the signature still verifies with it there.
    [(headers, body)] = sink.requests
    assert headers["traceparent"] == traceparent_of(client)
    assert (
        Webhook(secret).verify(body, headers)["data"]["referral_id"]
        == (answer.json()["referral_id"])
    )

    # No span of the trace names anything of the child's.
    report = json.loads(EXAMPLE.read_text())
    personal = [
        report["child"]["given_name"],
        report["child"]["family_name"],
        report["child"]["date_of_birth"],
        report["child"]["address"]["postcode"],
        report["narrative"][:20],
        report["concerns"][0]["detail"][:20],
    ]
    said = json.dumps([[s.name, attrs(s), s.status.description] for s in found], default=str)
    assert not [p for p in personal if p in said]


async def test_intake_continues_a_police_systems_trace_into_the_event_it_publishes(
    sp: Signpost, spans: Spans
) -> None:
    police = await sp.key("police", "demo-police", "reports:write")
    answer = await sp.client.post(
        "/v1/reports",
        headers={**bearer(police), "traceparent": POLICE_TRACEPARENT},
        json=json.loads(EXAMPLE.read_text()),
    )
    assert answer.status_code == 202, answer.text

    [post] = [s for s in spans.of_kind(SpanKind.SERVER) if s.name == "POST /v1/reports"]
    assert f"{post.context.trace_id:032x}" == POLICE_TRACE
    assert parent_id(post) == int(POLICE_SPAN, 16)
    found = await spans.wait_until(
        lambda found: any(attrs(s).get("signpost.service") == "triage" for s in found)
    )
    triage = one_consumer(found, "triage", "referral.received", post.context.trace_id)
    assert parent_id(triage) == post.context.span_id
