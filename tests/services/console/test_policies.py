"""Threshold policies in the console, on a seeded history (`signpost demo seed`, through
the real pipeline): a draft that raises one weight shows the same transitions, counts
and safety review as `signpost simulate` gives for it; a draft that no longer makes
immediate risk statutory by itself puts each referral it would take from the MASH on
the safety review, with both decisions side by side; approving is a second person's act, recorded
with the simulation they saw; and the page is for the roles that draft and simulate."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import embedded_app
from services.demo.seed import seed_history
from services.simulate import Draft, simulate
from services.triage.policy import ThresholdPolicy, load_policy
from shared.clock import Clock
from shared.measures import period_of
from shared.settings import embedded_settings
from shared.simulation import Difference
from tests.services.conftest import Signpost
from tests.services.console.conftest import START, csrf_of, person, signed_in_client

SEEDED_UNTIL = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
PERIOD = {"from": "2026-10-01", "to": "2026-12-01"}
REFERRALS = 120


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with 120 referrals over the 60 days before START."""
    folder = tmp_path_factory.mktemp("seeded")
    summary = asyncio.run(
        seed_history(data_dir=folder, referrals=REFERRALS, days=60, random_seed=5, end=SEEDED_UNTIL)
    )
    assert summary.routed == REFERRALS
    return folder


@pytest.fixture
async def seeded(history: Path, tmp_path: Path) -> AsyncIterator[Signpost]:
    """An embedded Signpost on a copy of the seeded folder (drafts are written to it)."""
    folder = tmp_path / "var"
    shutil.copytree(history, folder)
    settings = embedded_settings(folder, auth_cache_seconds=0)
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


def document(change: dict[str, Any], version: str) -> dict[str, Any]:
    """The live policy file's document with `change`, as a new version."""
    drafted = load_policy().model_dump(mode="json")
    drafted.update(change)
    drafted["version"] = version
    return drafted


def heavier_domestic_abuse() -> dict[str, Any]:
    weights = {domain: dict(codes) for domain, codes in load_policy().weights.items()}
    weights["family_and_environment"]["domestic_abuse"] = 6
    return {"weights": weights}


async def cli_difference(sp: Signpost, drafted: dict[str, Any]) -> Difference:
    """What `signpost simulate` reports for the same draft over the same period."""
    settings = sp.app.state.settings
    return await simulate(
        triage_url=settings.service_database_url("triage"),
        routing_url=settings.service_database_url("routing"),
        live=load_policy(),
        draft=Draft(ThresholdPolicy.model_validate(drafted)),
        period=period_of(PERIOD["from"], PERIOD["to"]),
    )


async def draft_and_simulate(client: httpx.AsyncClient, drafted: dict[str, Any]) -> str:
    """Draft the document and simulate it over PERIOD; the simulation page's path."""
    page = await client.get("/console/policies")
    assert page.status_code == 200, page.text
    made = await client.post(
        "/console/policies", data={"csrf": csrf_of(page.text), "document": json.dumps(drafted)}
    )
    assert made.status_code == 303, made.text
    version_path = made.headers["location"]
    version = await client.get(version_path)
    assert version.status_code == 200, version.text
    ran = await client.post(
        f"{version_path}/simulate", data={"csrf": csrf_of(version.text), **PERIOD}
    )
    assert ran.status_code == 303, ran.text
    location: str = ran.headers["location"]
    assert location.startswith(f"{version_path}/simulations/")
    return location


def rows(page: str, caption: str) -> list[tuple[str, list[str]]]:
    """The rows of the table with this caption, as (row heading, [cells]) in order."""
    found = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", page, re.S)
    assert found, caption
    headed = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', found.group(1), re.S)
    return [(head, re.findall(r"<td>(.*?)</td>", rest, re.S)) for head, rest in headed]


def cells(page: str, caption: str) -> dict[str, list[str]]:
    """The rows of the table with this caption, as {row heading: [cells]}."""
    return dict(rows(page, caption))


async def test_a_heavier_weight_shows_the_transitions_signpost_simulate_gives(
    seeded: Signpost,
) -> None:
    await person(seeded, "manager@demo.example", "demoshire-hub", "hub_manager")
    drafted = document(heavier_domestic_abuse(), "2027-heavier-da")
    manager = await signed_in_client(seeded, "manager@demo.example")
    try:
        result = await manager.get(await draft_and_simulate(manager, drafted))
    finally:
        await manager.aclose()
    expected = await cli_difference(seeded, drafted)

    assert result.status_code == 200, result.text
    page = result.text
    assert expected.level_changed > 0, "a heavier domestic abuse weight lifts someone"
    assert f"<strong>{expected.level_changed}</strong> would change level" in page
    assert f"<strong>{expected.destination_changed}</strong> would go somewhere else" in page
    matrix = cells(page, "Level transitions")
    for old in (1, 2, 3, 4):
        assert matrix[f"Level {old}"] == [
            str(expected.levels[(old, new)]) for new in (1, 2, 3, 4)
        ], old
    # Only upward, and driven by the weight that changed.
    assert all(old <= new for (old, new), n in expected.levels.items() if n)
    drivers = cells(page, "Rules and weights behind the referrals that moved")
    assert drivers["weight of domestic_abuse: 4 to 6"] == [
        str(expected.drivers["weight of domestic_abuse: 4 to 6"])
    ]
    assert len(re.findall(r"<summary>Why, side by side</summary>", page)) == len(
        expected.changed
    ) + len(expected.safety)


async def test_a_draft_that_would_take_referrals_from_the_mash_lists_them_for_review(
    seeded: Signpost,
) -> None:
    await person(seeded, "analyst@demo.example", "demoshire-partnership", "partnership_analyst")
    # Immediate risk no longer statutory by itself: a draft the soundness checks let
    # through, that would take referrals from the MASH.
    drafted = document({"immediate_risk_is_statutory": False}, "2027-risk-not-statutory")
    analyst = await signed_in_client(seeded, "analyst@demo.example")
    try:
        result = await analyst.get(await draft_and_simulate(analyst, drafted))
        csv = await analyst.get(result.url.path + "/changed.csv")
    finally:
        await analyst.aclose()
    expected = await cli_difference(seeded, drafted)

    assert expected.safety, "the seeded history has a report of immediate risk alone"
    section = result.text.split('<section id="safety-review"', 1)[1].split("</section>")[0]
    review = re.findall(r'class="referral-id">(?:<a [^>]*>)?([^<]+)', section)
    assert f"<caption>Safety review ({len(expected.safety)})</caption>" in section
    assert sorted(review) == sorted(one.referral_id for one in expected.safety)
    # Both decisions, side by side, for each.
    first = expected.safety[0]
    assert f"<caption>Referral {first.referral_id}, received" in result.text
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    flagged = [line.split(",")[1] for line in csv.text.splitlines()[1:] if line.startswith("yes")]
    assert set(flagged) == set(review)
    # The analyst reads no referral: the ids are not links.
    assert f'href="/console/referrals/{first.referral_id}"' not in result.text


async def test_approval_is_a_second_persons_act_with_the_simulation_they_saw(
    seeded: Signpost,
) -> None:
    await person(seeded, "manager@demo.example", "demoshire-hub", "hub_manager", name="Kim Drafter")
    await person(
        seeded, "admin@demo.example", "demoshire-partnership", "admin", name="Ash Approver"
    )
    drafted = document(heavier_domestic_abuse(), "2027-reviewed")
    manager = await signed_in_client(seeded, "manager@demo.example")
    admin = await signed_in_client(seeded, "admin@demo.example")
    try:
        simulation_path = await draft_and_simulate(manager, drafted)
        version_path, _, simulation_id = simulation_path.partition("/simulations/")
        own = await manager.get(version_path)
        by_drafter = await manager.post(
            f"{version_path}/approve",
            data={
                "csrf": csrf_of(own.text),
                "simulation_id": simulation_id,
                "activates_at": "2026-12-07T09:00",
            },
        )
        page = await admin.get(version_path)
        too_soon = await admin.post(
            f"{version_path}/approve",
            data={
                "csrf": csrf_of(page.text),
                "simulation_id": simulation_id,
                "activates_at": "2026-11-30T09:00",
            },
        )
        approved = await admin.post(
            f"{version_path}/approve",
            data={
                "csrf": csrf_of(page.text),
                "simulation_id": simulation_id,
                "activates_at": "2026-12-07T09:00",
            },
        )
        after = await admin.get(version_path)
        listing = await admin.get("/console/policies")
    finally:
        await manager.aclose()
        await admin.aclose()

    assert by_drafter.status_code == 403, by_drafter.text
    assert too_soon.status_code == 422, too_soon.text
    assert approved.status_code == 303, approved.text
    text = after.text
    assert "State: <strong>approved</strong>" in text
    trail = rows(text, "Audit trail: who did what to this version")
    acts = [(row[0], row[1]) for _, row in trail]
    assert acts[:3] == [
        ("drafted", "Kim Drafter"),
        ("simulated", "Kim Drafter"),
        ("approved", "Ash Approver"),
    ]
    assert f"{simulation_id}</a> (seen at approval)" in text
    assert "takes effect 7 Dec 2026, 09:00 (UK time)" in text
    versions = cells(listing.text, "Versions drafted, newest first")
    assert versions[f'<a href="{version_path}">demoshire 2027-reviewed</a>'] == [
        "approved",
        f"Kim Drafter, {START:%-d %b %Y, %H:%M}",
        "7 Dec 2026, 09:00",
    ]
    assert "In force now: <strong>demoshire 2026.12-1</strong> (the service's policy file)" in (
        listing.text
    )


async def test_the_policies_pages_are_for_the_roles_that_draft_and_simulate(
    seeded: Signpost,
) -> None:
    await person(seeded, "worker@demo.example", "safe-homes", "agency_worker")
    await person(seeded, "analyst@demo.example", "demoshire-partnership", "partnership_analyst")
    worker = await signed_in_client(seeded, "worker@demo.example")
    analyst = await signed_in_client(seeded, "analyst@demo.example")
    try:
        refused = await worker.get("/console/policies")
        listing = await analyst.get("/console/policies")
    finally:
        await worker.aclose()
        await analyst.aclose()
    assert refused.status_code == 403
    assert "Threshold policies</a>" not in refused.text
    assert listing.status_code == 200
    assert 'href="/console/policies">Threshold policies</a>' in listing.text
