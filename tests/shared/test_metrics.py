"""Prometheus metrics at GET /metrics, on an embedded Signpost in this process with its
one clock stopped: requests counted by route template, decisions timed once each,
events consumed by outcome, lag, DLQ depth, outbox backlog, notify's deliveries and
Encompass notices, routing's statutory referrals past their deadline, every series
labelled with its service, a failing source left out without failing the scrape, and
no referral id or child's name anywhere in what an operator's scraper reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlmodel import select

from services.apps import embedded_app, service_app
from services.notify import definition as notify_definition
from services.notify.models import Delivery
from shared.bus.base import Record
from shared.bus.embedded import EmbeddedBus
from shared.clock import Clock
from shared.dlq import depth as dlq_depth
from shared.dlq import replay
from shared.events import EventType, NotificationDelivery, Topic
from shared.metrics import outbox_readings
from shared.migrations import history_of, upgrade
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.e2e.harness import free_port, report
from tests.services.conftest import Signpost, bearer, service_context

# A Saturday morning: the domestic abuse example's notices are due on Monday.
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROUTED = "org.signpost.referral.routed.v1"
SERVICES = {"intake", "triage", "routing", "notify", "console"}

Labels = dict[str, str]


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return body


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True)
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


class Scrape:
    """One answer of GET /metrics, parsed by prometheus-client's own parser."""

    def __init__(self, body: str) -> None:
        self.text = body
        self.samples = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        ]

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def series(self, name: str, **labels: str) -> list[tuple[Labels, float]]:
        """The samples of `name` whose labels include `labels`."""
        return [
            (found, value)
            for sample, found, value in self.samples
            if sample == name and labels.items() <= found.items()
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when there is none)."""
        return sum(value for _, value in self.series(name, **labels))

    def one(self, name: str, **labels: str) -> float:
        """The value of the one matching sample."""
        found = self.series(name, **labels)
        assert len(found) == 1, (name, labels, found)
        return found[0][1]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(answer.text)


async def until(
    sp: Signpost | httpx.AsyncClient, ready: Callable[[Scrape], bool], within: float = 20.0
) -> Scrape:
    """Scrape until `ready` says the metrics show what the test waits for."""
    client = sp.client if isinstance(sp, Signpost) else sp
    async with asyncio.timeout(within):
        while not ready(got := await scrape(client)):
            await asyncio.sleep(0.05)
    return got


async def post_reports(sp: Signpost, bodies: list[dict[str, Any]]) -> list[str]:
    police = await sp.key("police", "demo-police", "reports:write", "reports:read")
    ids = []
    for body in bodies:
        answer = await sp.client.post("/v1/reports", headers=bearer(police), json=body)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["referral_id"])
    return ids


def routed(before: Scrape, n: int) -> Callable[[Scrape], bool]:
    """Every one of `n` more reports routed, and everything published."""
    start = before.value("signpost_decision_latency_seconds_count", service="routing")

    def done(now: Scrape) -> bool:
        return (
            now.value("signpost_decision_latency_seconds_count", service="routing") >= start + n
            and now.value("signpost_outbox_backlog") == 0
        )

    return done


def ctx_of(sp: Signpost, service: str) -> ServiceContext:
    ctx: ServiceContext = sp.app.state.runtimes[service].ctx
    return ctx


async def test_metrics_answers_in_the_text_format_without_a_key_off_the_openapi(
    sp: Signpost,
) -> None:
    got = await scrape(sp.client)  # no Authorization header

    names = got.names()
    # The process's own series, as prometheus-client's default registry has them.
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    # Embedded mode: each service's series, told apart by their service label.
    assert {labels["service"] for labels, _ in got.series("signpost_outbox_backlog")} == SERVICES
    assert {labels["service"] for labels, _ in got.series("signpost_dlq_depth")} == {
        "intake",
        "triage",
        "routing",
        "notify",
    }
    assert got.one("signpost_scrape_source_up", service="notify", source="notify") == 1
    assert "/metrics" not in sp.app.openapi()["paths"]


async def test_reports_move_requests_decisions_and_consumption_by_exactly_their_number(
    sp: Signpost,
) -> None:
    n = 4
    before = await scrape(sp.client)
    ids = await post_reports(sp, [report(i, organisation="demo-police") for i in range(n)])
    after = await until(sp, routed(before, n))

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    posted = {"service": "intake", "route": "/v1/reports", "method": "POST", "status": "202"}
    assert moved("signpost_http_requests_total", **posted) == n
    assert (
        moved(
            "signpost_http_request_duration_seconds_count",
            service="intake",
            route="/v1/reports",
            method="POST",
        )
        == n
    )
    assert moved("signpost_decision_latency_seconds_count", service="triage", since="received") == n
    assert moved("signpost_decision_latency_seconds_count", service="routing", since="triaged") == n
    # The clock is stopped: every decision took no time by the service's clock.
    assert after.value("signpost_decision_latency_seconds_sum") == 0
    for group, topic in (("triage", "referral.received"), ("routing", "referral.triaged")):
        assert (
            moved("signpost_events_consumed_total", group=group, topic=topic, outcome="handled")
            == n
        )
        assert moved("signpost_events_consumed_total", group=group, outcome="duplicate") == 0
    assert after.one("signpost_consumer_lag", group="triage", topic="referral.received") == 0
    for service in SERVICES:
        assert after.one("signpost_outbox_backlog", service=service) == 0
        assert after.one("signpost_outbox_oldest_age_seconds", service=service) == 0

    # No referral id and no child's name in any label, help text or anywhere else.
    for referral_id in ids:
        assert referral_id not in after.text
    for i in range(n):
        assert f"Child{i}" not in after.text
    assert "Example" not in after.text


async def test_outbox_backlog_counts_unsent_rows_and_their_age_until_the_relay_publishes(
    tmp_path: Path,
) -> None:
    clock = Clock(START)
    ctx = service_context(
        notify_definition,
        f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}",
        tmp_path,
        clock=clock,
    )
    await upgrade(ctx.db, history_of("notify"))
    try:
        async with ctx.units.begin() as uow:
            uow.record(
                type=EventType.NOTIFICATION_DELIVERY,
                subject="dlv_1",
                partitionkey="sub_1",
                data=NotificationDelivery(
                    delivery_id="dlv_1",
                    subscription_id="sub_1",
                    organisation="demoshire-hub",
                    event_type=ROUTED,
                    outcome="delivered",
                    attempts=1,
                    occurred_at=clock.now(),
                ),
            )
        clock.advance(seconds=90)

        waiting = {r.name: r.value for r in await outbox_readings(ctx.db, clock)}
        assert waiting == {
            "signpost_outbox_backlog": 1,
            "signpost_outbox_oldest_age_seconds": 90,
        }

        await ctx.bus.start()
        assert await ctx.relay.relay_once() == 1
        published = {r.name: r.value for r in await outbox_readings(ctx.db, clock)}
        assert published == {"signpost_outbox_backlog": 0, "signpost_outbox_oldest_age_seconds": 0}
    finally:
        await ctx.bus.stop()
        await ctx.db.dispose()


async def test_a_redelivery_counts_as_a_duplicate_and_a_poison_record_as_dead_lettered(
    sp: Signpost,
) -> None:
    before = await scrape(sp.client)
    await post_reports(sp, [report(0, organisation="demo-police")])
    await until(sp, routed(before, 1))
    bus: EmbeddedBus = ctx_of(sp, "triage").bus  # type: ignore[assignment]

    # The broker hands triage the same record again (as after a crash before its commit).
    reader = bus.consumer(group="metrics-test-reader", topics=[Topic.REFERRAL_RECEIVED])
    await reader.start()
    [received] = await reader.fetch(timeout=5, max_records=10)
    await reader.stop()
    await bus.publish([Record(received.topic, received.key, received.value, received.headers)])
    triage = {"group": "triage", "topic": "referral.received"}
    duplicate = await until(
        sp, lambda s: s.value("signpost_events_consumed_total", **triage, outcome="duplicate") == 1
    )
    assert duplicate.value("signpost_events_consumed_total", **triage, outcome="handled") == 1
    assert duplicate.value("signpost_decision_latency_seconds_count", service="triage") == 1

    # A record that is no CloudEvent at all is parked at once.
    assert duplicate.one("signpost_dlq_depth", topic="referral.received.dlq") == 0
    await bus.publish([Record(Topic.REFERRAL_RECEIVED, b"sub_poison", b"not an event")])
    # (A scrape reads its gauges as it begins and its counters as it ends: wait for both.)
    parked = await until(
        sp,
        lambda s: (
            s.value("signpost_events_consumed_total", **triage, outcome="dead_lettered") == 1
            and s.value("signpost_dlq_depth", topic="referral.received.dlq") == 1
        ),
    )
    assert parked.one("signpost_dlq_depth", service="triage", topic="referral.received.dlq") == 1
    assert parked.one("signpost_consumer_lag", **triage) == 0
    assert parked.value("signpost_events_consumed_total", **triage) == 3


async def test_notify_shows_a_subscription_s_deliveries_pending_then_parked(
    sp: Signpost,
) -> None:
    hub = await sp.key("hub", "demoshire-hub", "subscriptions:write")
    unreachable = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    created = await sp.client.post(
        "/v1/subscriptions", headers=bearer(hub), json={"url": unreachable, "event_types": [ROUTED]}
    )
    assert created.status_code == 201, created.text
    subscription = {"subscription_id": created.json()["id"], "organisation": "demoshire-hub"}
    fresh = await scrape(sp.client)
    assert fresh.one("signpost_notify_deliveries", **subscription, status="pending") == 0
    assert fresh.one("signpost_notify_deliveries", **subscription, status="parked") == 0

    await post_reports(sp, [report(1, organisation="demo-police")])
    notify = ctx_of(sp, "notify")

    async def attempts() -> int:
        async with notify.db.session() as session:
            return sum(d.attempts for d in (await session.exec(select(Delivery))).all())

    async def attempted(count: int) -> None:
        async with asyncio.timeout(20):
            while await attempts() < count:
                await asyncio.sleep(0.05)

    await attempted(1)
    failing = await scrape(sp.client)
    assert failing.one("signpost_notify_deliveries", **subscription, status="pending") == 1
    assert failing.one("signpost_notify_deliveries", **subscription, status="parked") == 0

    # Through the retry schedule (about three days) by the clock, one attempt at a time.
    while (made := await attempts()) < 10:
        sp.clock.advance(hours=30)
        notify.published()  # wake the dispatcher: the next attempt is due
        await attempted(made + 1)
    await until(
        sp, lambda s: s.value("signpost_notify_deliveries", **subscription, status="parked") == 1
    )

    async def pending_held() -> int:
        async with notify.db.session() as session:
            held = (await session.exec(select(Delivery))).all()
        return sum(1 for d in held if d.status == "pending")

    # The clock passed the referral's respond-by on the way, so routing may have sent it
    # on to the hub: another referral.routed, whose delivery is then pending in its turn.
    # The gauge shows what notify holds, with the parked one no longer pending.
    async with asyncio.timeout(20):
        while True:
            shown = await scrape(sp.client)
            held = await pending_held()
            if shown.one("signpost_notify_deliveries", **subscription, status="pending") == held:
                break
            await asyncio.sleep(0.05)
    assert held <= 1  # at most the escalation's; never the parked delivery
    assert shown.one("signpost_notify_deliveries", **subscription, status="parked") == 1


async def test_encompass_notices_at_risk_move_as_the_clock_passes_their_deadlines(
    sp: Signpost,
) -> None:
    [referral_id] = await post_reports(sp, [example("police-domestic-abuse-report.json")])
    notify = ctx_of(sp, "notify")

    async def notices() -> int:
        async with notify.db.engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM encompass_notice")) or 0)

    async with asyncio.timeout(20):
        while await notices() < 2:  # Maya's (due 08:45 Monday) and Noah's (08:30)
            await asyncio.sleep(0.05)

    def at_risk(got: Scrape) -> tuple[float, float]:
        return (
            got.one("signpost_notify_encompass_notices_at_risk", deadline="within_hour"),
            got.one("signpost_notify_encompass_notices_at_risk", deadline="passed"),
        )

    assert at_risk(await scrape(sp.client)) == (0, 0)
    sp.clock.set(MONDAY + timedelta(hours=7, minutes=45))
    assert at_risk(await scrape(sp.client)) == (2, 0)
    sp.clock.set(MONDAY + timedelta(hours=8, minutes=35))
    assert at_risk(await scrape(sp.client)) == (1, 1)
    sp.clock.set(MONDAY + timedelta(hours=9))
    got = await scrape(sp.client)
    assert at_risk(got) == (0, 2)

    assert referral_id not in got.text
    for name in ("Maya", "Noah", "Example"):
        assert name not in got.text


async def test_a_statutory_referral_unanswered_past_its_deadline_is_counted(
    sp: Signpost,
) -> None:
    before = await scrape(sp.client)
    await post_reports(sp, [example("statutory-report.json"), example("police-report.json")])
    routed_now = await until(sp, routed(before, 2))
    assert routed_now.one("signpost_routing_statutory_past_deadline") == 0

    sp.clock.advance(days=30)  # the MASH never answered; the other agency neither
    # Every loop catches up with 30 days at once, and a scrape leaves out a source that
    # has not answered within SOURCE_TIMEOUT_SECONDS (its source_up says 0): the gauge
    # is read at the first scrape that has routing's readings.
    name, labels = "signpost_routing_statutory_past_deadline", {"service": "routing"}
    overdue = await until(sp, lambda now: bool(now.series(name, **labels)), within=60)
    assert overdue.one(name, **labels) == 1


async def test_a_failing_source_is_left_out_and_counted_while_the_scrape_answers(
    sp: Signpost,
) -> None:
    notify = ctx_of(sp, "notify")
    before = await scrape(sp.client)
    assert before.series("signpost_notify_encompass_notices_at_risk")

    # Notify's gauges cannot be read (their table is gone); everything else can.
    async with notify.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE encompass_notice RENAME TO encompass_notice_away"))
    try:
        broken = await scrape(sp.client)
    finally:
        async with notify.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE encompass_notice_away RENAME TO encompass_notice"))
    assert broken.one("signpost_scrape_source_up", service="notify", source="notify") == 0
    errors = {"service": "notify", "source": "notify"}
    assert broken.value("signpost_scrape_errors_total", **errors) == 1
    assert before.value("signpost_scrape_errors_total", **errors) == 0
    assert broken.series("signpost_notify_encompass_notices_at_risk") == []
    assert broken.one("signpost_outbox_backlog", service="notify") == 0
    assert broken.one("signpost_scrape_source_up", service="routing", source="routing") == 1

    back = await scrape(sp.client)
    assert back.one("signpost_scrape_source_up", service="notify", source="notify") == 1
    assert back.series("signpost_notify_encompass_notices_at_risk")


async def test_requests_are_labelled_by_route_template_never_by_the_path_sent(
    sp: Signpost,
) -> None:
    police = await sp.key("police", "demo-police", "reports:read")
    unknown = await sp.client.get("/v1/reports/ref_0123456789abcdef", headers=bearer(police))
    assert unknown.status_code == 404
    assert (await sp.client.get("/no/such/page/ref_fedcba9876543210")).status_code == 404
    assert (await sp.client.request("BREW", "/healthz")).status_code == 405

    got = await scrape(sp.client)
    requests = "signpost_http_requests_total"
    assert (
        got.one(
            requests,
            service="intake",
            route="/v1/reports/{referral_id}",
            method="GET",
            status="404",
        )
        == 1
    )
    assert got.one(requests, service="signpost", route="unmatched", status="404") == 1
    assert got.one(requests, route="/healthz", method="other", status="405") == 1
    assert "ref_0123456789abcdef" not in got.text and "ref_fedcba9876543210" not in got.text


async def test_a_service_on_its_own_serves_only_its_own_series(tmp_path: Path) -> None:
    app = service_app("triage", embedded_settings(tmp_path / "var"), clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://triage") as client:
            assert (await client.get("/healthz")).status_code == 200
            # The consumer joins its group in the background, once the app serves.
            got = await until(client, lambda s: bool(s.series("signpost_consumer_lag")))
    services = {labels["service"] for _, labels, _ in got.samples if "service" in labels}
    assert services == {"triage"}
    assert got.one("signpost_http_requests_total", route="/healthz", status="200") == 1
    assert got.one("signpost_consumer_lag", group="triage", topic="referral.received") == 0


async def test_the_embedded_log_tells_lag_and_dlq_depth_from_the_groups_positions(
    tmp_path: Path,
) -> None:
    bus = EmbeddedBus(tmp_path / "events.db", partitions=3)
    await bus.start()
    try:
        await bus.publish([Record("t", f"key{i}".encode(), b"v") for i in range(6)])
        # A group that never committed has every record kept ahead of it.
        assert await bus.backlog(group="g", topics=["t", "u"]) == {"t": 6, "u": 0}
        member = bus.consumer(group="g", topics=["t"])
        await member.start()
        assert sum((await member.lag()).values()) == 6
        taken = await member.fetch(timeout=1, max_records=2)
        assert sum((await member.lag()).values()) == 6  # handed out, not committed
        await member.commit(taken)
        assert sum((await member.lag()).values()) == 4
        assert await bus.backlog(group="g", topics=["t"]) == {"t": 4}
        await member.stop()
        assert await member.lag() == {}

        await bus.publish([Record("t.dlq", b"a", b"parked"), Record("t.dlq", b"b", b"parked")])
        assert await dlq_depth(bus, ["t"]) == {"t.dlq": 2}
        assert await replay(bus, "t", idle_seconds=0.2) == 2
        assert await dlq_depth(bus, ["t"]) == {"t.dlq": 0}
    finally:
        await bus.stop()
