"""`seed_history`: a month of synthetic referrals made through the real pipeline, read
back from the services' own measures and tables: every report accepted and routed,
police and school reports, children who come back, referrals at agencies, the hub and
the MASH, agencies that accept, decline, start and close, and the same history from
the same seed. The generator's reports are checked without the app: each keeps
intake's rules on its day, and none names a concern its codes leave out unless it
means to."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import embedded_app
from services.demo.seed import HINTS, SeedSummary, plan_history, seed_history
from services.intake.rules import rule_errors
from services.triage.narrative import suspected_concerns
from shared.auth import KIND_SCOPES, ClientKind
from shared.clock import Clock
from shared.report import ConcernReport
from shared.settings import embedded_settings

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
REFERRALS, DAYS, SEED = 80, 30, 1
PERIOD = {"from": "2026-10-01", "to": "2026-12-01"}


@dataclass(frozen=True)
class Seeded:
    folder: Path
    summary: SeedSummary
    steps: list[int]
    measures: dict[tuple[str, str, str], float | None]  # (measure, breakdown, statistic)

    def value(self, measure: str, statistic: str = "count", **breakdown: str) -> float:
        found = self.measures[(measure, _words(breakdown), statistic)]
        assert found is not None
        return found

    def rows(self, measure: str, statistic: str = "count") -> dict[str, float | None]:
        return {b: v for (m, b, s), v in self.measures.items() if m == measure and s == statistic}


def _words(breakdown: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in breakdown.items())


async def _measures(folder: Path) -> dict[tuple[str, str, str], float | None]:
    """Every service's measures for the period, read by a fresh embedded Signpost on the
    seeded folder with a hub key."""
    app = embedded_app(embedded_settings(folder), clock=Clock(END))
    found: dict[tuple[str, str, str], float | None] = {}
    async with app.router.lifespan_context(app):
        _, key = await app.state.key_registry.create(
            name="test hub",
            kind=ClientKind.HUB,
            organisation="demoshire-hub",
            scopes=list(KIND_SCOPES[ClientKind.HUB]),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            for service in ("intake", "triage", "routing"):
                answer = await client.get(
                    f"/v1/measures/{service}",
                    params=PERIOD,
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert answer.status_code == 200, answer.text
                for row in answer.json()["rows"]:
                    where = (row["measure"], _words(row["breakdown"]), row["statistic"])
                    found[where] = row["value"]
    return found


def _seed(folder: Path) -> Seeded:
    steps: list[int] = []
    summary = asyncio.run(
        seed_history(
            data_dir=folder,
            referrals=REFERRALS,
            days=DAYS,
            random_seed=SEED,
            end=END,
            step=steps.append,
        )
    )
    return Seeded(folder, summary, steps, asyncio.run(_measures(folder)))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return _seed(tmp_path_factory.mktemp("seeded"))


@pytest.fixture(scope="module")
def again(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The same seed, in another folder."""
    return _seed(tmp_path_factory.mktemp("again"))


def _routing(folder: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(folder / "routing.db") as db:
        return db.execute(query).fetchall()


def test_every_report_is_accepted_and_routed_on_the_days_before_the_end(seeded: Seeded) -> None:
    summary = seeded.summary

    assert (summary.referrals, summary.routed) == (REFERRALS, REFERRALS)
    assert (summary.first_day, summary.last_day) == (date(2026, 10, 31), date(2026, 11, 29))
    assert seeded.steps == [1] * REFERRALS  # one step as each report is accepted
    assert seeded.value("contacts_by_source") == REFERRALS  # intake received them all
    assert seeded.value("outcome_of_contact") == REFERRALS  # and routing routed them all
    received = _routing(
        seeded.folder, "SELECT MIN(received_at), MAX(received_at) FROM routing_decision"
    )
    first, last = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in received[0])
    assert date(2026, 10, 31) <= first.date() and last < END


def test_the_police_and_schools_both_report_the_police_more(seeded: Seeded) -> None:
    police = seeded.value("contacts_by_source", source="police")
    school = seeded.value("contacts_by_source", source="school")

    assert police + school == REFERRALS
    assert school >= 0.2 * REFERRALS
    assert police > school


def test_children_come_back_siblings_link_and_the_cumulative_rules_see_them(
    seeded: Seeded,
) -> None:
    with sqlite3.connect(seeded.folder / "triage.db") as db:
        rules = [r for (r,) in db.execute("SELECT rules FROM triage_decision") if r != "[]"]
        households = db.execute(
            "SELECT household_key FROM triage_decision WHERE household_key IS NOT NULL "
            "GROUP BY household_key HAVING COUNT(DISTINCT subject_key) > 1"
        ).fetchall()

    assert seeded.summary.children < REFERRALS
    assert seeded.value("re_referrals_12_months", referral="re-referral") >= 5
    assert rules, "no cumulative rule fired on a returning child"
    assert households, "no two children linked as one household"


def test_referrals_go_to_agencies_the_hub_and_the_mash(seeded: Seeded) -> None:
    first = seeded.rows("outcome_of_contact")

    assert first["outcome: single agency (early help)"]
    assert first["outcome: early intervention hub"]
    assert first["outcome: MASH"]
    agencies = _routing(
        seeded.folder,
        "SELECT COUNT(DISTINCT destination_id) FROM routing_step WHERE destination_kind = 'agency'",
    )
    assert agencies[0][0] >= 3


def test_agencies_accept_decline_start_and_close_and_some_requests_escalate(
    seeded: Seeded,
) -> None:
    actions = seeded.summary.agency_actions
    statuses = dict(
        _routing(seeded.folder, "SELECT status, COUNT(*) FROM routing_step GROUP BY status")
    )
    declined = sum(
        v or 0 for b, v in seeded.rows("declines_and_redirects").items() if b.endswith("declined")
    )
    escalated = _routing(
        seeded.folder,
        "SELECT COUNT(*) FROM routing_step WHERE reason_code = 'no_response_within_sla'",
    )

    assert all(actions[verb] > 0 for verb in ("accept", "decline", "start", "close")), actions
    assert statuses["accepted"] == actions["accept"] + actions["front door accept"]
    assert statuses["rejected"] == actions["decline"] == declined
    assert statuses["in-progress"] == actions["start"]
    assert statuses.get("completed", 0) + statuses.get("failed", 0) == (
        actions["close"] + actions["front door close"]
    )
    # The hub and the MASH take on what reaches them, so no red or amber referral is
    # left waiting for ever.
    assert actions["front door accept"] > 0
    accepted = sum(
        seeded.value("time_to_acceptance", rag=rag, step="accepted") or 0
        for rag in ("red", "amber", "green", "blue")
    )
    assert accepted == actions["accept"] + actions["front door accept"]
    assert escalated[0][0] > 0


def test_the_same_seed_makes_the_same_history(seeded: Seeded, again: Seeded) -> None:
    query = (
        "SELECT destination_kind, destination_id, status, reason_code, at FROM routing_step "
        "ORDER BY at, id"
    )

    assert again.summary == seeded.summary
    assert again.rows("outcome_of_contact") == seeded.rows("outcome_of_contact")
    assert again.measures == seeded.measures
    assert _routing(again.folder, query) == _routing(seeded.folder, query)


def test_the_seed_revokes_the_keys_it_made(seeded: Seeded) -> None:
    with sqlite3.connect(seeded.folder / "keys.db") as db:
        keys = db.execute("SELECT name, revoked_at FROM api_key").fetchall()

    seed_keys = [(name, revoked) for name, revoked in keys if name.startswith("seed-")]
    assert len(seed_keys) >= 1 + 6 + 5  # police, the schools, the agencies
    assert all(revoked is not None for _, revoked in seed_keys)


# ---------------------------------------------------------------- the generator alone


def _a_year() -> list[Any]:
    days = plan_history(referrals=1000, first_day=date(2025, 11, 30), days=365, random_seed=7)
    return [report for day in days for report in day]


def test_every_planned_report_keeps_intakes_rules_at_its_time() -> None:
    for planned in _a_year():
        report = ConcernReport.model_validate(planned.body)
        assert rule_errors(report, now=planned.at) == [], planned.body


def test_a_narrative_names_no_concern_beyond_its_codes_but_the_deliberate_hints() -> None:
    year = _a_year()
    hinted = 0
    for planned in year:
        codes = [c["code"] for c in planned.body["concerns"]]
        hint = any(h in planned.body["narrative"] for h in HINTS.values())
        assert bool(suspected_concerns(planned.body["narrative"], codes)) == hint, planned.body
        hinted += hint

    assert 0 < hinted < 0.05 * len(year)


def test_a_years_plan_has_the_mix_it_promises() -> None:
    year = _a_year()
    kinds = Counter(p.body["source"]["kind"] for p in year)
    children = Counter(p.child for p in year)
    codes = Counter(len(p.body["concerns"]) for p in year)
    weekdays = Counter(p.at.weekday() < 5 for p in year)

    assert 0.5 < kinds["police"] / len(year) < 0.7
    assert 0.15 < sum(n - 1 for n in children.values()) / len(year) < 0.35  # repeats
    assert set(codes) == {1, 2, 3}
    assert weekdays[True] / 5 > 2 * weekdays[False] / 2  # a weekday busier than a weekend day
    assert len({p.body["source"]["reference"] for p in year}) == len(year)
    assert plan_history(
        referrals=50, first_day=date(2026, 1, 1), days=10, random_seed=7
    ) == plan_history(referrals=50, first_day=date(2026, 1, 1), days=10, random_seed=7)
