"""The outcomes do not depend on the date the suite runs on.

The same flows (Operation Encompass deadlines and alerts, the retention of a notice's
details, an agency's response deadline and its escalation, triage's working-hours
deadline) run with the whole app's clock set to a Friday night in 2026 (the fixtures'
week), a Sunday night in a leap year (2028, across 29 February) and a Sunday night in
2031 (past the shipped school calendar's terms and the old bank-holiday table), through
the public API only. Each date must give the same outcomes, each deadline the one its
calendar gives, and nothing may be parked or lost.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import embedded_app
from shared.auth import ClientKind, KeyRegistry
from shared.clock import Clock
from shared.settings import embedded_settings
from tests.e2e.harness import ROOT, WebhookSink

NOTICE = "org.signpost.encompass.notice.v1"
ALERT = "org.signpost.encompass.alert.v1"
STATUS = "org.signpost.referral.status.v1"
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Scenario:
    incident: datetime  # the police incident (UTC)
    maya_notify_by: str  # Demo Primary (100001) opens at 08:45 on its next school day
    noah_notify_by: str  # school 100002 keeps the area's 08:30


SCENARIOS = {
    # The fixtures' own week: Friday night, the next school day is Monday.
    "friday-2026": Scenario(
        datetime(2026, 11, 27, 23, 5, tzinfo=UTC), "2026-11-30T08:45:00Z", "2026-11-30T08:30:00Z"
    ),
    # Sunday night in a leap year, in term: Monday 28 February, then the 29th.
    "sunday-leap-2028": Scenario(
        datetime(2028, 2, 27, 22, 30, tzinfo=UTC), "2028-02-28T08:45:00Z", "2028-02-28T08:30:00Z"
    ),
    # Sunday night in 2031: no term dates any more, so a weekday that is not a bank
    # holiday is a school day (never late); the old bank-holiday table ended in 2030.
    "sunday-2031": Scenario(
        datetime(2031, 3, 9, 22, 30, tzinfo=UTC), "2031-03-10T08:45:00Z", "2031-03-10T08:30:00Z"
    ),
}


def shifted(name: str, *, reported_at: datetime, occurred_at: datetime | None = None) -> Any:
    """An example report moved to another date (its reference made unique to it)."""
    body: dict[str, Any] = copy.deepcopy(json.loads((EXAMPLES / name).read_text()))
    body["reported_at"] = reported_at.isoformat()
    body["source"]["reference"] += "-" + reported_at.strftime("%Y%m%d")
    if occurred_at is not None:
        body["police"]["occurred_at"] = occurred_at.isoformat()
        body["consent"]["sharing_authorised_by"]["decided_at"] = reported_at.isoformat()
    return body


@dataclass
class Running:
    client: httpx.AsyncClient
    registry: KeyRegistry
    clock: Clock

    async def key(self, kind: str, organisation: str, *scopes: str) -> dict[str, str]:
        _, key = await self.registry.create(
            name=f"test {kind}", kind=ClientKind(kind), organisation=organisation, scopes=scopes
        )
        return {"Authorization": f"Bearer {key}"}

    async def subscribe(self, headers: dict[str, str], url: str, *types: str) -> None:
        answer = await self.client.post(
            "/v1/subscriptions", headers=headers, json={"url": url, "event_types": list(types)}
        )
        assert answer.status_code == 201, answer.text


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    # A stopped clock: time moves only when the test moves it, for all four services.
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    settings = embedded_settings(
        tmp_path / "var",
        auth_cache_seconds=0,
        webhook_allow_private=True,
        notify_encompass_interval_seconds=0.05,
        routing_escalation_interval_seconds=0.05,
    )
    app = embedded_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Running(client, app.state.key_registry, clock)


async def eventually(check: Any, within: float = 15.0) -> Any:
    async with asyncio.timeout(within):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


def of_type(sink: WebhookSink, event_type: str) -> list[dict[str, Any]]:
    return [b["data"] for b in sink.bodies() if b["type"] == event_type]


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_deadlines_alerts_retention_and_escalation_come_out_the_same_on_any_date(
    running: Running, scenario: Scenario
) -> None:
    reported = scenario.incident + timedelta(minutes=50)
    running.clock.set(reported)
    police = await running.key("police", "demo-police", "reports:write", "reports:read")
    school = await running.key("school", "100001", "reports:write", "reports:read")
    school_dsl = await running.key("school", "100001", "subscriptions:write", "encompass:read")
    hub = await running.key("hub", "demoshire-hub", "subscriptions:write")
    async with WebhookSink() as dsl, WebhookSink() as hub_sink:
        await running.subscribe(school_dsl, dsl.url, NOTICE)
        await running.subscribe(hub, hub_sink.url, ALERT, STATUS)
        police_report = shifted(
            "police-domestic-abuse-report.json", reported_at=reported, occurred_at=scenario.incident
        )
        answer = await running.client.post("/v1/reports", headers=police, json=police_report)
        assert answer.status_code == 202, answer.text
        police_referral = answer.json()["referral_id"]
        school_report = shifted("school-report.json", reported_at=reported)
        answer = await running.client.post("/v1/reports", headers=school, json=school_report)
        assert answer.status_code == 202, answer.text
        school_referral = answer.json()["referral_id"]

        # Maya's school hears by webhook before its next school day; Noah's school has
        # no webhook, so the hub hears at once, with the deadline its calendar gives.
        await dsl.wait_for(1, within=15)
        [notice] = of_type(dsl, NOTICE)
        assert notice["child"]["given_name"] == "Maya"
        assert notice["notify_by"] == scenario.maya_notify_by
        await hub_sink.wait_for(1, within=15)
        alerts = await eventually(lambda: _alerts(hub_sink))
        [at_once] = alerts
        assert (at_once["reason"], at_once["notify_by"]) == (
            "no_subscription",
            scenario.noah_notify_by,
        )
        assert at_once["received_late"] is False

        # Both referrals are triaged and routed: nothing waits on a calendar table.
        for referral_id, headers in ((police_referral, police), (school_referral, school)):
            status = await eventually(lambda r=referral_id, h=headers: _routed(running, r, h))
            assert status not in ("received", "triaged")

        # A minute before Noah's deadline: no alert; at the deadline: exactly one.
        noah_deadline = datetime.fromisoformat(scenario.noah_notify_by)
        running.clock.set(noah_deadline - timedelta(minutes=1))
        await asyncio.sleep(0.3)
        assert [a["reason"] for a in await _alerts(hub_sink)] == ["no_subscription"]
        running.clock.set(noah_deadline)
        await eventually(lambda: _alerts(hub_sink, at_least=2))
        await asyncio.sleep(0.3)
        assert [a["reason"] for a in await _alerts(hub_sink)] == [
            "no_subscription",
            "deadline_missed",
        ]

        # Thirty days after the school had it, the child's details leave the notice;
        # the agency asked for Leo never answered, so the hub was asked instead.
        running.clock.set(reported + timedelta(days=30, hours=12))
        removed = await eventually(lambda: _removed(running, school_dsl, notice["notice_id"]))
        assert "child" not in removed["notice"] and "Maya" not in json.dumps(removed)
        escalated = await eventually(lambda: _escalated(hub_sink, school_referral))
        assert escalated["destination"]["kind"] == "hub"


async def _alerts(sink: WebhookSink, at_least: int = 1) -> list[dict[str, Any]]:
    alerts = [a for a in of_type(sink, ALERT) if a["recipient_organisation"] == "100002"]
    return alerts if len(alerts) >= at_least else []


async def _routed(running: Running, referral_id: str, headers: dict[str, str]) -> str | None:
    answer = await running.client.get(f"/v1/reports/{referral_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    status: str = answer.json()["status"]
    return None if status in ("received", "triaged") else status


async def _removed(running: Running, headers: dict[str, str], notice_id: str) -> Any:
    answer = await running.client.get(f"/v1/encompass/notices/{notice_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body if body.get("content_removed_at") else None


async def _escalated(sink: WebhookSink, referral_id: str) -> dict[str, Any] | None:
    for status in of_type(sink, STATUS):
        if (
            status["referral_id"] == referral_id
            and status.get("reason_code") == "no_response_within_sla"
        ):
            return status
    return None
