"""Metrics on real Apache Kafka: the four services in this process on a broker of the
test's own (its groups and topics hold this test's records only), scraped at /metrics
as events flow. Each group's lag and consumed counts appear per topic and move with the
records; a record triage keeps failing holds its group's lag up while it is retried,
and once it is parked the DLQ depth moves and the lag comes back to 0."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from services.apps import embedded_app
from shared.clock import Clock
from shared.envelope import new_event, to_record
from shared.events import EventType
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.e2e.harness import Kafka, report
from tests.services.conftest import Signpost
from tests.shared.test_metrics import START, Scrape, post_reports, scrape, until

pytestmark = [pytest.mark.kafka]

N = 5
GROUPS = {
    ("triage", "referral.received"),
    ("routing", "referral.triaged"),
    ("notify", "referral.routed"),
    ("intake-journey", "referral.triaged"),
    ("intake-journey", "referral.routed"),
}
TRIAGE = {"group": "triage", "topic": "referral.received"}
CONSUMED = "signpost_events_consumed_total"
LAG = "signpost_consumer_lag"


class Unexpected(BaseModel):
    """Data no referral.received carries: triage's handler refuses it every time."""

    unexpected: bool = True


def lag(got: Scrape, group: str, topic: str) -> float | None:
    """The group's lag on the topic (None until its member owns partitions of it)."""
    found = got.series(LAG, group=group, topic=topic)
    return sum(value for _, value in found) if found else None


async def test_on_kafka_lag_consumption_and_dlq_depth_move_as_events_flow(
    tmp_path: Path,
) -> None:
    broker = Kafka()
    try:
        settings = embedded_settings(
            tmp_path / "var",
            kafka_bootstrap_servers=broker.address,
            auth_cache_seconds=0,
            # A failing record is tried 3 times, 2 s then 4 s apart: its lag shows.
            consumer_max_attempts=3,
            consumer_backoff_seconds=2.0,
        )
        app = embedded_app(settings, clock=Clock(START))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://sp") as client:
                sp = Signpost(app, client, app.state.key_registry)

                # Every group joined: its lag per topic appears, nothing waits yet.
                joined = await until(
                    sp, lambda s: all(lag(s, g, t) is not None for g, t in GROUPS), within=90
                )
                assert all(lag(joined, g, t) == 0 for g, t in GROUPS)
                assert joined.one("signpost_dlq_depth", topic="referral.received.dlq") == 0
                assert joined.value(CONSUMED) == 0

                await post_reports(sp, [report(i, organisation="demo-police") for i in range(N)])

                def flowed(s: Scrape) -> bool:
                    return all(
                        s.value(CONSUMED, group=g, topic=t, outcome="handled") == N
                        and lag(s, g, t) == 0
                        for g, t in GROUPS
                    )

                flowing = await until(sp, flowed, within=90)
                assert flowing.value(CONSUMED, outcome="duplicate") == 0
                assert flowing.value("signpost_outbox_backlog") == 0

                # A record triage cannot handle: retried, its group's lag stays up...
                bad = new_event(
                    type=EventType.REFERRAL_RECEIVED,
                    source="/tests/metrics",
                    subject="ref_unexpected",
                    partitionkey="sub_unexpected",
                    data=Unexpected(),
                    time=START,
                )
                triage: ServiceContext = app.state.runtimes["triage"].ctx
                await triage.bus.publish([to_record(bad)])
                stuck = await until(sp, lambda s: lag(s, **TRIAGE) == 1, within=30)
                assert stuck.value(CONSUMED, **TRIAGE, outcome="dead_lettered") == 0

                # ...until it is parked: the DLQ has it, the group moves on. (A scrape
                # reads its gauges as it begins and its counters as it ends.)
                parked = await until(
                    sp,
                    lambda s: (
                        s.value(CONSUMED, **TRIAGE, outcome="dead_lettered") == 1
                        and s.value("signpost_dlq_depth", topic="referral.received.dlq") == 1
                        and lag(s, **TRIAGE) == 0
                    ),
                    within=60,
                )
                assert parked.one("signpost_dlq_depth", topic="referral.received.dlq") == 1
                assert parked.value(CONSUMED, **TRIAGE, outcome="handled") == N
                assert (
                    parked.one("signpost_scrape_source_up", service="triage", source="consumer_lag")
                    == 1
                )
                final = await scrape(client)
                assert "ref_unexpected" not in final.text
    finally:
        broker.remove()
