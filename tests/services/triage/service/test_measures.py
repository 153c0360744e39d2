"""Triage's share of the partnership measures: the wait for the threshold decision in
the area's working hours (red round the clock) against the policy's deadline, and
re-referrals within 12 months of the same child's earlier referral; and the route that
answers them, on the embedded pipeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from services.triage.models import TriageDecision
from services.triage.service.measures import re_referrals, time_to_decision, waited
from shared.measures import period_of
from shared.working_time import WorkingWeek
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import START, example, police_key

WEEK = WorkingWeek()  # nine to five, Monday to Friday, England and Wales
FRIDAY_4PM = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def decision(
    received: datetime,
    decided: datetime,
    *,
    priority: str = "amber",
    decide_by: datetime | None = None,
    subject: str = "subj_1",
    referral_id: str = "ref_1",
) -> TriageDecision:
    # Only what the measures read (a pure function's input, not a stored row).
    row = SimpleNamespace(
        referral_id=referral_id,
        subject_key=subject,
        received_at=received,
        decided_at=decided,
        decided_priority=priority,
        decide_by=decide_by,
    )
    return cast(TriageDecision, row)


def figure(rows: list[Any], statistic: str, **breakdown: str) -> Any:
    [found] = [r.value for r in rows if r.statistic == statistic and r.breakdown == breakdown]
    return found


def test_the_wait_counts_working_hours_and_red_round_the_clock() -> None:
    # Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
    amber = decision(FRIDAY_4PM, MONDAY_10AM)
    red = decision(FRIDAY_4PM, MONDAY_10AM, priority="red")

    assert waited(WEEK, amber) == timedelta(hours=2)
    assert waited(WEEK, red) == timedelta(hours=66)


def test_time_to_decision_gives_median_p90_and_the_share_on_time_per_rag() -> None:
    deadline = FRIDAY_4PM + timedelta(hours=1)
    decisions = [
        decision(FRIDAY_4PM, FRIDAY_4PM + timedelta(minutes=30), decide_by=deadline),
        decision(FRIDAY_4PM, FRIDAY_4PM + timedelta(minutes=45), decide_by=deadline),
        decision(FRIDAY_4PM, MONDAY_10AM, decide_by=deadline),  # two working hours: late
        decision(FRIDAY_4PM, FRIDAY_4PM, priority="blue"),  # blue has no deadline
    ]

    rows = time_to_decision(WEEK, decisions)

    assert figure(rows, "count", rag="amber") == 3
    assert figure(rows, "median", rag="amber") == 0.75
    assert figure(rows, "p90", rag="amber") == 2.0
    assert figure(rows, "share", rag="amber", within="deadline") == 66.7
    assert figure(rows, "count", rag="blue") == 1
    assert figure(rows, "share", rag="blue", within="deadline") is None  # none was due
    assert figure(rows, "count", rag="red") == 0 and figure(rows, "median", rag="red") is None
    assert figure(rows, "count", waited="under 1 hour") == 3  # blue's wait of nothing too
    assert figure(rows, "count", waited="1 to 4 hours") == 1
    assert figure(rows, "count", waited="over 72 hours") == 0


def test_a_re_referral_is_the_same_childs_within_the_12_months_before() -> None:
    period = period_of("2026-11-01", "2026-12-01")
    nov = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    decisions = [
        decision(nov, nov, subject="ann", referral_id="a2"),
        decision(nov - timedelta(days=200), nov, subject="ann", referral_id="a1"),  # before
        decision(nov, nov, subject="ben", referral_id="b2"),
        decision(datetime(2025, 11, 9, 9, 0, tzinfo=UTC), nov, subject="ben", referral_id="b1"),
        decision(nov, nov, subject="cal", referral_id="c1"),  # a first referral
        decision(nov + timedelta(days=3), nov, subject="cal", referral_id="c2"),  # cal again
    ]

    rows = re_referrals(period, decisions)

    assert figure(rows, "count") == 4  # a2, b2, c1, c2 were received in November
    # a2 (a1 in May) and c2 (c1 three days before); not b2: b1 is 12 months and a day back.
    assert figure(rows, "count", referral="re-referral") == 2
    assert figure(rows, "share", referral="re-referral") == 50.0


async def test_the_route_answers_triages_share_for_the_period(signpost: Signpost) -> None:
    signpost.clock.set(START)
    key = await police_key(signpost)
    for reference in ("DP-1", "DP-2"):  # the same child twice: the second is a re-referral
        body = example("police-report.json")
        body["source"]["reference"] = reference
        answer = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
        assert answer.status_code == 202, answer.text
        signpost.clock.advance(hours=2)
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))
    period = {"from": "2026-11-30", "to": "2026-12-01"}

    async def answered() -> dict[str, Any]:
        for _ in range(200):
            answer = await signpost.client.get(
                "/v1/measures/triage", params=period, headers=analyst
            )
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            counted = [
                r["value"]
                for r in body["rows"]
                if r["measure"] == "re_referrals_12_months" and not r["breakdown"]
            ]
            if counted == [2]:
                return body
            await asyncio.sleep(0.05)
        raise AssertionError("triage never decided both reports")

    body = await answered()
    rows = {
        (r["measure"], tuple(sorted(r["breakdown"].items())), r["statistic"]): r["value"]
        for r in body["rows"]
    }
    assert rows[("re_referrals_12_months", (("referral", "re-referral"),), "count")] == 1
    decided = sum(
        value
        for (measure, breakdown, statistic), value in rows.items()
        if measure == "time_to_decision" and statistic == "count" and breakdown[0][0] == "rag"
    )
    assert decided == 2
