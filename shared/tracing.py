"""OpenTelemetry traces that follow one referral from the POST that raised it, through
every hop on the bus, to the webhook a partner receives.

The W3C trace context travels in the events themselves, as the CloudEvents Distributed
Tracing extension: the attributes `traceparent` (and `tracestate` when there is one),
which the Kafka binding carries as `ce_traceparent` / `ce_tracestate` headers. The
extension is optional: an event without it (an older producer's, a replayed one) is
handled as before and starts a trace of its own; a malformed one is ignored the same way.

- An event takes the context of the span current when it is created (`new_event`, in
  the unit of work of the request or handler that caused it), not the outbox relay's,
  which publishes it later in a task of its own; the relay's publish is a short PRODUCER
  span, child of the same context (`publishing`).
- The consumer runs each handler inside a CONSUMER span, child of the event's context
  (`consuming`), so the events that handler records carry the trace on.
- A webhook delivery keeps the context of the handling that queued it; its POST is a
  CLIENT span and the request carries a `traceparent` header, so a partner can
  continue the trace.
- Each HTTP request is a SERVER span (`instrument`), continuing an incoming
  `traceparent` (a police system's own trace), named by its route template. FastAPI's
  own tracing is turned off (`FASTAPI_TELEMETRY`, given to `FastAPI(telemetry=...)`):
  its spans would duplicate these and break the trace in two (it opens its server span
  from the request's headers, not inside ours), and it records the query string, the
  path, and, once an OpenTelemetry log exporter is set up, exception messages.

Spans name ids only (referral, event, delivery, subscription ids, event types, topics,
service names), never a child's details: like the logs (`shared.logging`), an error is
described by its class, never by its message, and no exception is recorded on a span.

Setup is per process (`configure`): spans are exported over OTLP/HTTP only when the
standard OpenTelemetry variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp`; `OTEL_SDK_DISABLED`
and `OTEL_TRACES_EXPORTER=none` turn it off; `OTEL_BSP_*` tune the batching). Otherwise
no SDK is installed: spans are the API's no-op ones, which only pass an incoming context
on, at almost no cost. The resource's `service.name` is `signpost-<service>` for a
process that runs one service, `signpost` for the embedded mode that runs them all
(`OTEL_SERVICE_NAME` overrides it); every span also says which service made it
(`signpost.service`), which is what tells the services apart in embedded mode.

Tracing never breaks the work it watches: a failure inside it is logged once and the
request, the event or the webhook goes on without its span.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import Token
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.bus.base import Record

log = logging.getLogger(__name__)

# The CloudEvents Distributed Tracing extension's attributes (also the W3C header names).
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# The longest `tracestate` carried on (W3C: a vendor may drop entries beyond 512
# characters); a longer one is left out rather than cut, and the trace goes on without it.
MAX_TRACESTATE = 512

# The W3C Trace Context format itself, whatever OTEL_PROPAGATORS says: it is what the
# extension and the `traceparent` header are defined as.
_W3C = TraceContextTextMapPropagator()

# Probes and scrapes are not traced: they would bury the referrals' traces.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/readyz/serving", "/metrics"})

EMBEDDED = "signpost"

# What a Signpost app gives FastAPI's native telemetry (`FastAPI(telemetry=...)`): no
# spans or logs of its own (ours are the server spans, see `ServerSpans`), and no
# exporter set up from the environment behind `configure`'s back.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "logs": False, "auto_configure": False}

_configured = False
_failing: set[str] = set()


def resource_name(service: str | None) -> str:
    """The `service.name` of a process: `signpost-<service>`, or `signpost` when it runs
    every service (embedded mode)."""
    return f"signpost-{service}" if service else EMBEDDED


def exporting() -> bool:
    """Whether the standard OpenTelemetry variables ask for spans to be exported."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen:
        names = {name.strip() for name in chosen.split(",")}
        unsupported = names - {"otlp", "none"}
        if unsupported:
            log.warning(
                "OTEL_TRACES_EXPORTER names an exporter Signpost does not ship; only otlp",
                extra={"exporters": sorted(unsupported)},
            )
        return "otlp" in names
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure(service: str | None = None) -> bool:
    """Install this process's TracerProvider exporting over OTLP/HTTP, when the
    environment asks for it (see `exporting`); once per process, the first call's
    `service` naming the resource. True when spans are recorded (by this provider, or
    by one installed before, such as a test's)."""
    global _configured
    if _configured or isinstance(trace.get_tracer_provider(), TracerProvider):
        return active()
    _configured = True
    if not exporting():
        return False
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    if protocol and protocol != "http/protobuf":
        log.warning(
            "spans are exported over OTLP/HTTP (http/protobuf) only", extra={"protocol": protocol}
        )
    try:
        # Imported here: a process that does not export never loads the exporter.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        named = (
            {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: resource_name(service)}
        )
        provider = TracerProvider(resource=Resource.create(named))
        # Batched in a thread of the SDK's own: a slow or absent collector never holds
        # up a request or a handler (a full queue drops spans, not work).
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    except Exception as exc:
        log.warning(
            "tracing could not start; running without it", extra={"error": type(exc).__name__}
        )
        return False
    log.info("exporting traces over OTLP/HTTP", extra={"service": resource_name(service)})
    return True


def active() -> bool:
    """Whether spans are recorded in this process (an SDK provider is installed)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def _failed(what: str, exc: BaseException) -> None:
    # Once per kind of failure: tracing must never flood the log of the work it watches.
    if what not in _failing:
        _failing.add(what)
        log.warning(
            "tracing failed; carrying on without it",
            extra={"during": what, "error": type(exc).__name__},
        )


def service_attributes(service: str | None) -> dict[str, str]:
    """What every span says about the service that made it."""
    if not service:
        return {}
    return {"signpost.service": service, "service.name": resource_name(service)}


def service_of(source: str | None) -> str | None:
    """The service named by an event source (`/signpost/<service>/<instance>`)."""
    if not source:
        return None
    parts = source.split("/")
    if len(parts) >= 3 and parts[0] == "" and parts[1] == "signpost" and parts[2]:
        return parts[2]
    return None


@functools.cache
def tracer(service: str | None) -> trace.Tracer:
    """The tracer of one service (its instrumentation scope names the service). Before a
    provider is installed it is the API's proxy, which follows the provider once set."""
    return trace.get_tracer(f"signpost.{service}" if service else "signpost")


# The trace context in and out.


def trace_context(span: Span | None = None) -> dict[str, str]:
    """The W3C context of `span` (by default the current span) as `traceparent` (and
    `tracestate`): for an event's extension attributes, a delivery's columns or a
    request's headers. Empty when there is no valid span (an event created outside any
    trace carries no extension)."""
    carrier: dict[str, str] = {}
    try:
        _W3C.inject(carrier, context=None if span is None else trace.set_span_in_context(span))
    except Exception as exc:
        _failed("inject", exc)
        return {}
    state = carrier.get(TRACESTATE)
    if state is not None and (not state or len(state) > MAX_TRACESTATE):
        del carrier[TRACESTATE]
    return carrier


def context_from(carrier: Mapping[str, Any]) -> Context:
    """The remote parent a carrier (`traceparent`, `tracestate`) names; an empty context
    (a new trace starts) when it names none or a malformed one."""
    try:
        values = {
            name: value
            for name in (TRACEPARENT, TRACESTATE)
            if isinstance(value := carrier.get(name), str)
        }
        if TRACEPARENT not in values:
            return Context()
        return _W3C.extract(values, context=Context())
    except Exception as exc:
        _failed("extract", exc)
        return Context()


def event_context(event: BaseCloudEvent) -> Context:
    """The context an event carries in its Distributed Tracing extension (empty if none)."""
    return context_from(
        {TRACEPARENT: event.get_extension(TRACEPARENT), TRACESTATE: event.get_extension(TRACESTATE)}
    )


def record_context(record: Record) -> Context:
    """The context a binary-mode record carries in its `ce_traceparent` headers."""
    carrier = {}
    for name in (TRACEPARENT, TRACESTATE):
        value = record.header(f"ce_{name}")
        if value is not None:
            carrier[name] = value.decode("utf-8", "replace")
    return context_from(carrier)


def span_context_of(context: Context) -> trace.SpanContext:
    """The span context a context holds (invalid when it holds none)."""
    return trace.get_current_span(context).get_span_context()


# Spans.


def start(
    name: str,
    *,
    service: str | None,
    kind: SpanKind,
    parent: Context | None = None,
    attributes: Mapping[str, str | int | bool] | None = None,
    links: Sequence[Link] = (),
) -> Span:
    """A started span of `service` (an inert one if tracing fails); `parent` None: the
    current context's span is the parent."""
    try:
        return tracer(service).start_span(
            name,
            context=parent,
            kind=kind,
            attributes={**service_attributes(service), **(attributes or {})},
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        )
    except Exception as exc:
        _failed("start", exc)
        return INVALID_SPAN


def fail(span: Span, error: BaseException | str) -> None:
    """Mark a span failed, saying only the error's class (or code), as the logs do: an
    error's message may carry a child's details."""
    kind = error if isinstance(error, str) else type(error).__name__
    try:
        span.set_attribute("error.type", kind)
        span.set_status(Status(StatusCode.ERROR, kind))
    except Exception as exc:
        _failed("status", exc)


def end(span: Span) -> None:
    """End a span (never raises)."""
    try:
        span.end()
    except Exception as exc:
        _failed("end", exc)


@contextmanager
def current(span: Span, *, end_on_exit: bool = True) -> Iterator[Span]:
    """Make `span` the current one for the block (and end it after, unless told not
    to); an error raised in the block marks it failed (by class) and goes on."""
    token: Token[Context] | None = None
    try:
        token = otel_context.attach(trace.set_span_in_context(span))
    except Exception as exc:
        _failed("attach", exc)
    try:
        yield span
    except BaseException as exc:
        fail(span, exc)
        raise
    finally:
        if token is not None:
            try:
                otel_context.detach(token)
            except Exception as exc:
                _failed("detach", exc)
        if end_on_exit:
            end(span)


def messaging_system(remote: bool) -> str:
    """`messaging.system` of the bus: Kafka, or the embedded log."""
    return "kafka" if remote else "signpost_embedded_log"


def event_attributes(event: BaseCloudEvent) -> dict[str, str]:
    """The CloudEvents attributes a span may carry: ids, type and source (the subject is
    the referral id); never the data."""
    attributes = {
        "cloudevents.event_id": event.get_id(),
        "cloudevents.event_type": event.get_type(),
        "cloudevents.event_source": event.get_source(),
        "cloudevents.event_spec_version": event.get_specversion(),
        "messaging.message.id": event.get_id(),
    }
    subject = event.get_subject()
    if subject:
        attributes["cloudevents.event_subject"] = subject
    return attributes


@contextmanager
def consuming(
    event: BaseCloudEvent, record: Record, *, group: str, service: str | None, remote: bool
) -> Iterator[Span]:
    """The CONSUMER span of handling one event (`process <topic>`), child of the context
    the event carries (a new trace when it carries none), current for the block: the
    events the handler records carry it on."""
    attributes: dict[str, str | int | bool] = {}
    try:
        attributes = {
            "messaging.system": messaging_system(remote),
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": record.topic,
            "messaging.consumer.group.name": group,
            **event_attributes(event),
        }
        if record.partition >= 0:
            attributes["messaging.destination.partition.id"] = str(record.partition)
            attributes["messaging.kafka.offset"] = record.offset
    except Exception as exc:
        _failed("consuming", exc)
    span = start(
        f"process {record.topic}",
        service=service,
        kind=SpanKind.CONSUMER,
        parent=event_context(event),
        attributes=attributes,
    )
    with current(span):
        yield span


def publishing(records: Sequence[Record], *, remote: bool) -> list[Span]:
    """One PRODUCER span (`send <topic>`) per record the outbox relay publishes, child of
    the context the record's event carries; end them with `published` once the bus has
    answered. None when spans are not recorded (nothing to gain from no-op ones)."""
    if not active():
        return []
    spans = []
    try:
        for record in records:
            spans.append(_publish_span(record, remote=remote))
    except Exception as exc:
        _failed("publishing", exc)
    return spans


def _publish_span(record: Record, *, remote: bool) -> Span:
    def header(name: str) -> str | None:
        value = record.header(name)
        return None if value is None else value.decode("utf-8", "replace")

    attributes: dict[str, str | int | bool] = {
        "messaging.system": messaging_system(remote),
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": record.topic,
    }
    for name, attribute in (
        ("ce_id", "cloudevents.event_id"),
        ("ce_id", "messaging.message.id"),
        ("ce_type", "cloudevents.event_type"),
        ("ce_subject", "cloudevents.event_subject"),
    ):
        value = header(name)
        if value is not None:
            attributes[attribute] = value
    return start(
        f"send {record.topic}",
        service=service_of(header("ce_source")),
        kind=SpanKind.PRODUCER,
        parent=record_context(record),
        attributes=attributes,
    )


def published(spans: Sequence[Span], error: BaseException | None = None) -> None:
    """End the relay's spans: the bus acknowledged the records, or failed with `error`."""
    for span in spans:
        if error is not None:
            fail(span, error)
        end(span)


# HTTP.


def route_of(scope: Scope) -> str | None:
    """The route template that served a request (`/v1/reports/{referral_id}`), once
    routing has matched it."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


def service_of_endpoint(scope: Scope) -> str | None:
    """The service whose routes served a request (`services.<name>.…` modules)."""
    module = getattr(scope.get("endpoint"), "__module__", "") or ""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "services" else None


class ServerSpans:
    """A SERVER span for each HTTP request: named `<METHOD> <route template>`, child of
    an incoming `traceparent`, with the method, route and status code. A pure ASGI
    middleware (see shared.headers for why), placed outside the app's error middleware so
    a 500 is seen as one."""

    def __init__(self, app: ASGIApp, *, service: str | None = None) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        incoming: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            key = name.decode("latin-1").lower()
            if key in (TRACEPARENT, TRACESTATE):
                incoming[key] = value.decode("latin-1")
        span = start(
            method,
            service=self.service,
            kind=SpanKind.SERVER,
            parent=context_from(incoming),
            attributes={
                "http.request.method": method,
                "url.scheme": str(scope.get("scheme", "http")),
            },
        )
        status: list[int] = []

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            with current(span, end_on_exit=False):
                await self.app(scope, receive, send_and_note)
        finally:
            _describe_request(span, scope, method, status[0] if status else None, self.service)
            end(span)


def _describe_request(
    span: Span, scope: Scope, method: str, status: int | None, service: str | None
) -> None:
    """Name a server span by its route and note what the routing and the answer said."""
    try:
        route = route_of(scope)
        if route is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                fail(span, str(status))
        named = service or service_of_endpoint(scope)
        if named:
            for key, value in service_attributes(named).items():
                span.set_attribute(key, value)
    except Exception as exc:
        _failed("describe", exc)


def instrument(app: FastAPI, *, services: Sequence[str]) -> None:
    """Trace `app`: set up this process's tracing (`configure`, named by its one service,
    or as the embedded whole) and wrap the whole app, its error middleware included, in
    `ServerSpans`. Calling it again on the same app changes nothing."""
    if getattr(app.state, "traced", False):
        return
    app.state.traced = True
    service = services[0] if len(services) == 1 else None
    configure(service)
    build = app.build_middleware_stack

    def build_with_spans() -> ASGIApp:
        return ServerSpans(build(), service=service)

    # Starlette builds the stack lazily, through this attribute of the instance (as
    # shared.headers does).
    setattr(app, "build_middleware_stack", build_with_spans)  # noqa: B010
