"""Triage's share of the partnership measures: the wait for the threshold decision in
the area's working hours (red round the clock) against the policy's deadline,
re-referrals within 12 months of the same child's earlier referral, and practitioners'
overrides up and down by reason (step-downs from the statutory level apart); and the
route that answers them, on the embedded pipeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from services.triage.models import TriageDecision, TriageOverride
from services.triage.service.measures import overrides, re_referrals, time_to_decision, waited
from shared.measures import period_of
from shared.working_time import WorkingWeek
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import START, example, police_key
from tests.services.triage.test_api import triage_of

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
    source: str = "police",
) -> TriageDecision:
    # Only what the measures read (a pure function's input, not a stored row).
    row = SimpleNamespace(
        source_kind=source,
        referral_id=referral_id,
        subject_key=subject,
        received_at=received,
        decided_at=decided,
        decided_priority=priority,
        decide_by=decide_by,
    )
    return cast(TriageDecision, row)


def override(
    referral_id: str, from_level: int, to_level: int, reason_code: str | None = None
) -> TriageOverride:
    # Only what the measure reads.
    row = SimpleNamespace(
        referral_id=referral_id,
        from_level=from_level,
        to_level=to_level,
        reason_code=reason_code,
    )
    return cast(TriageOverride, row)


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
    # The same in working days of the demo's 9-to-5 (8 hours): 0.75 hours, 2 hours.
    assert figure(rows, "median", rag="amber", measured="working days") == round(0.75 / 8, 2)
    assert figure(rows, "p90", rag="amber", measured="working days") == 0.25
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


def test_a_source_counts_its_own_referrals_as_re_referrals_after_any_source() -> None:
    period = period_of("2026-11-01", "2026-12-01")
    nov = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    decisions = [
        decision(nov - timedelta(days=30), nov, subject="ann", referral_id="a1", source="school"),
        decision(nov, nov, subject="ann", referral_id="a2", source="police"),
        decision(nov, nov, subject="ben", referral_id="b1", source="school"),
        decision(nov, nov, subject="cal", referral_id="c1", source="health visitor"),
    ]

    police = re_referrals(period, decisions, "police")
    schools = re_referrals(period, decisions, "school")
    other = re_referrals(period, decisions, "other")

    # a2 is the police's, and a re-referral though the earlier one came from a school.
    assert figure(police, "count") == 1
    assert figure(police, "count", referral="re-referral") == 1
    assert figure(schools, "count") == 1  # b1: a1 was in October, before the period
    assert figure(schools, "count", referral="re-referral") == 0
    assert figure(other, "count") == 1  # c1: neither police nor school


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
    schools = await signpost.client.get(
        "/v1/measures/triage", params={**period, "source": "school"}, headers=analyst
    )
    assert schools.json()["unfiltered"] == []
    assert [
        r["value"]
        for r in schools.json()["rows"]
        if r["measure"] == "re_referrals_12_months" and not r["breakdown"]
    ] == [0]


def test_overrides_count_up_and_down_by_reason_and_the_share_of_referrals_overridden() -> None:
    made = [
        override("r1", 2, 3, "new_information"),
        override("r1", 3, 2, "risk_reduced"),  # r1 again: twice overridden, once in the share
        override("r2", 2, 4, "history_known"),
        override("r3", 1, 2),  # no reason given
        override("r4", 4, 2, "needs_met_elsewhere"),  # from the statutory level (two people)
        override("r5", 4, 3),  # from the statutory level, no reason given
        override("r6", 3, 2, "risk_reduced"),  # down, but not from the statutory level
    ]

    rows = overrides(4, 10, made)

    assert figure(rows, "count", direction="up") == 3
    assert figure(rows, "count", direction="up", reason="new_information") == 1
    assert figure(rows, "count", direction="up", reason="history_known") == 1
    assert figure(rows, "count", direction="up", reason="not given") == 1
    assert figure(rows, "count", direction="down") == 4
    assert figure(rows, "count", direction="down", reason="risk_reduced") == 2
    assert figure(rows, "count", direction="down", reason="needs_met_elsewhere") == 1
    assert figure(rows, "count", direction="down", reason="not given") == 1
    assert figure(rows, "count", direction="down", step="from statutory level") == 2
    # r1 to r6: six of the period's ten referrals, r1 once though overridden twice.
    [overridden] = [r for r in rows if r.statistic == "share"]
    assert (overridden.part, overridden.of, overridden.value) == (6, 10, 60.0)
    assert overridden.breakdown == {"referral": "overridden"}
    # Only the reasons that occur, each direction's "not given" after its codes.
    assert [r.breakdown["reason"] for r in rows if "reason" in r.breakdown] == [
        "history_known",
        "new_information",
        "not given",
        "needs_met_elsewhere",
        "risk_reduced",
        "not given",
    ]
    assert {r.measure for r in rows} == {"overrides"}


def test_no_overrides_are_zeros_and_a_share_of_no_referrals_has_no_value() -> None:
    rows = overrides(4, 0, [])

    assert figure(rows, "count", direction="up") == 0
    assert figure(rows, "count", direction="down") == 0
    assert figure(rows, "count", direction="down", step="from statutory level") == 0
    assert figure(rows, "share", referral="overridden") is None
    assert not [r for r in rows if "reason" in r.breakdown]


async def test_the_route_counts_the_periods_overrides_by_direction_and_reason(
    signpost: Signpost,
) -> None:
    signpost.clock.set(START)
    police = await police_key(signpost)
    ann = signpost.person("demoshire-hub", "hub_practitioner", person_id="per_ann", name="Ann")
    bo = signpost.person("demoshire-hub", "hub_practitioner", person_id="per_bo", name="Bo")
    referrals = []
    for name, reference in (
        ("police-report.json", "OV-1"),
        ("police-report.json", "OV-2"),
        ("statutory-report.json", "OV-3"),
    ):
        body = example(name)
        body["source"]["reference"] = reference
        answer = await signpost.client.post("/v1/reports", json=body, headers=bearer(police))
        assert answer.status_code == 202, answer.text
        referrals.append(answer.json()["referral_id"])
    levels = [(await triage_of(signpost, ann, r))["level"] for r in referrals]
    assert levels == [2, 2, 4]
    raised, _untouched, statutory = referrals
    why = "Strategy discussion held today with the school and the police."

    async def change(referral_id: str, level: int, **reason: str) -> dict[str, Any]:
        answer = await signpost.client.post(
            f"/v1/referrals/{referral_id}/triage/override",
            json={"level": level, "rationale": why, **reason},
            headers=bearer(ann),
        )
        assert answer.status_code in (201, 202), answer.text
        body: dict[str, Any] = answer.json()
        return body

    await change(raised, 3, reason_code="new_information")
    await change(raised, 2)  # the same referral again, no reason given
    asked = await change(statutory, 2, reason_code="needs_met_elsewhere")
    approved = await signpost.client.post(
        f"/v1/referrals/{statutory}/triage/override-requests/{asked['id']}/approve",
        json={"note": ""},
        headers=bearer(bo),
    )
    assert approved.status_code == 200, approved.text
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))

    answer = await signpost.client.get(
        "/v1/measures/triage", params={"from": "2026-11-30", "to": "2026-12-01"}, headers=analyst
    )

    assert answer.status_code == 200, answer.text
    rows = {
        (tuple(sorted(r["breakdown"].items())), r["statistic"]): r
        for r in answer.json()["rows"]
        if r["measure"] == "overrides"
    }
    counted = {key: r["value"] for key, r in rows.items() if key[1] == "count"}
    assert counted == {
        ((("direction", "up"),), "count"): 1,
        ((("direction", "up"), ("reason", "new_information")), "count"): 1,
        ((("direction", "down"),), "count"): 2,
        ((("direction", "down"), ("reason", "needs_met_elsewhere")), "count"): 1,
        ((("direction", "down"), ("reason", "not given")), "count"): 1,
        ((("direction", "down"), ("step", "from statutory level")), "count"): 1,
    }
    overridden = rows[((("referral", "overridden"),), "share")]
    # Two of the three referrals (`untouched` never was), the first once for two overrides.
    assert (overridden["part"], overridden["of"], overridden["value"]) == (2, 3, 66.7)
    later = await signpost.client.get(
        "/v1/measures/triage", params={"from": "2026-12-01", "to": "2027-01-01"}, headers=analyst
    )
    # A referral belongs to the period it was received in: none was in December.
    december = [r for r in later.json()["rows"] if r["measure"] == "overrides"]
    assert [r["value"] for r in december if r["statistic"] == "count"] == [0, 0, 0]
