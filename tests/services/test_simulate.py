"""The policy simulator on a seeded history (`signpost demo seed`, through the real
pipeline): simulating the live policy reproduces every stored decision exactly (no
drift is possible: the same pure functions, the history and load as they were then); a
draft that raises one weight moves only referrals that weight counts in, only upward;
a draft that takes a code off the statutory list puts each referral it would take from
the MASH on the safety review; and nothing is written while it runs."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest

from services.demo.seed import seed_history
from services.simulate import Draft, compared, policy_in_force, simulate
from services.triage.models import PolicyVersion
from services.triage.policy import ThresholdPolicy, load_policy
from shared.db import Database
from shared.measures import period_of
from shared.settings import embedded_settings
from shared.simulation import Compared

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PERIOD = period_of("2026-09-01", "2026-12-01")
REFERRALS = 160
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with 160 referrals over 90 days, made through the real pipeline."""
    folder = tmp_path_factory.mktemp("seeded")
    summary = asyncio.run(
        seed_history(data_dir=folder, referrals=REFERRALS, days=90, random_seed=3, end=END)
    )
    assert summary.referrals == REFERRALS and summary.routed == REFERRALS
    return folder


class Urls(TypedDict):
    triage_url: str
    routing_url: str


def urls(folder: Path) -> Urls:
    settings = embedded_settings(folder)
    return Urls(
        triage_url=settings.service_database_url("triage"),
        routing_url=settings.service_database_url("routing"),
    )


def drafted(change: dict[str, Any]) -> ThresholdPolicy:
    document = load_policy().model_dump(mode="json")
    document.update(change)
    document["version"] = "draft"
    return ThresholdPolicy.model_validate(document)


async def every(folder: Path, draft: Draft) -> list[Compared]:
    async with compared(**urls(folder), draft=draft, period=PERIOD) as (each, _):
        return [one async for one in each]


async def test_simulating_the_live_policy_reproduces_every_stored_decision(
    history: Path,
) -> None:
    found = await every(history, Draft(load_policy()))

    assert len(found) == REFERRALS
    for one in found:
        stored, again = one.stored, one.draft
        assert (again.level, again.priority, again.score, again.rules, again.decide_by) == (
            stored.level,
            stored.priority,
            stored.score,
            stored.rules,
            stored.decide_by,
        ), one.referral_id
        assert again.destination == stored.destination, one.referral_id
    # The history is varied enough for that to mean something.
    assert len({one.stored.destination for one in found}) >= 3
    assert any(one.stored.rules for one in found)  # cumulative rules fired on repeat children


async def test_raising_one_weight_moves_only_the_referrals_it_counts_in_and_only_up(
    history: Path,
) -> None:
    live = load_policy()
    weights = {domain: dict(codes) for domain, codes in live.weights.items()}
    weights["family_and_environment"]["domestic_abuse"] = 6
    draft = drafted({"weights": weights})

    difference = await simulate(**urls(history), live=live, draft=Draft(draft), period=PERIOD)
    found = await every(history, Draft(draft))

    moved = [one for one in found if one.draft.level != one.stored.level]
    assert moved, "a heavier domestic abuse weight must lift someone"
    assert all(one.draft.level > one.stored.level for one in moved)
    # Lifted by the weight itself, or through the history it lifted (a cumulative rule).
    assert all(
        "domestic_abuse" in one.draft.factors or set(one.draft.rules) - set(one.stored.rules)
        for one in moved
    )
    assert difference.level_changed == len(moved)
    assert difference.safety == []
    assert difference.drivers["weight of domestic_abuse: 4 to 6"] >= 1
    upward = {(t["from"], t["to"]) for t in difference.summary()["level_transitions"]}
    assert all(a <= b for a, b in upward)


async def test_taking_a_code_off_the_statutory_list_puts_each_fall_on_the_safety_review(
    history: Path,
) -> None:
    live = load_policy()
    found = await every(history, Draft(live))
    statutory = [one for one in found if one.stored.level == live.top_level]
    assert statutory, "the seeded history has statutory referrals"
    draft = drafted(
        {"statutory": [code for code in live.statutory if code not in ("physical_abuse",)]}
    )

    difference = await simulate(**urls(history), live=live, draft=Draft(draft), period=PERIOD)

    falls = {
        one.referral_id
        for one in await every(history, Draft(draft))
        if one.stored.level == live.top_level and one.draft.level < live.top_level
    }
    assert {one.referral_id for one in difference.safety} >= falls
    assert all(
        one.stored.destination == "mash" or one.stored.level == live.top_level
        for one in difference.safety
    )
    assert all(
        one.draft.level < one.stored.level or one.draft.destination != "mash"
        for one in difference.safety
    )


async def test_a_simulation_writes_nothing(history: Path) -> None:
    def fingerprint() -> dict[str, str]:
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(history.glob("*.db"))
        }

    before = fingerprint()
    live = load_policy()
    await simulate(**urls(history), live=live, draft=Draft(live), period=PERIOD)

    assert fingerprint() == before


def test_the_cli_writes_the_difference_as_json_and_csv_and_refuses_a_bad_draft(
    history: Path, tmp_path: Path
) -> None:
    document = load_policy().model_dump(mode="json")
    document["weights"]["family_and_environment"]["domestic_abuse"] = 6
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(document))
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "demoshire"}')
    base = [sys.executable, "-m", "services.cli", "simulate", "--data-dir", str(history)]
    period = ["--from", "2026-09-01", "--to", "2026-12-01"]

    as_json = subprocess.run(
        [*base, "--policy", str(draft), *period],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    as_csv = subprocess.run(
        [*base, "--policy", str(draft), *period, "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    refused = subprocess.run(
        [*base, "--policy", str(broken), *period],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )

    assert as_json.returncode == 0, as_json.stderr
    difference = json.loads(as_json.stdout)
    assert difference["referrals"] == REFERRALS
    assert difference["about"]["period_from"] == "2026-09-01"
    assert "referrals re-decided" in as_json.stderr  # the progress bar, on stderr
    assert as_csv.returncode == 0, as_csv.stderr
    header, *rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert header[:2] == ["safety_review", "referral_id"]
    changed = [r["referral_id"] for r in difference["changed_referrals"]]
    assert [row[1] for row in rows] == [
        *(r["referral_id"] for r in difference["safety_review"]),
        *changed,
    ]
    assert changed, "the heavier weight changes something"
    assert refused.returncode == 2
    assert "the draft is not one Signpost can use" in refused.stderr


async def test_a_draft_is_measured_against_the_approved_version_in_force_not_the_file(
    history: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "var"
    shutil.copytree(history, folder)
    triage_url = urls(folder)["triage_url"]
    approved = drafted({"version": "2027.04-1"}).model_dump(mode="json")
    approved["version"] = "2027.04-1"
    activates = datetime(2027, 4, 1, tzinfo=UTC)
    db = Database(triage_url, pool_size=1)
    try:
        async with db.session() as session:
            session.add(
                PolicyVersion(
                    id="pol_approved",
                    policy_id=approved["id"],
                    version="2027.04-1",
                    document=approved,
                    state="approved",
                    drafted_by="demoshire-hub/kim",
                    drafted_by_name="Kim",
                    drafted_at=END,
                    approved_by="demoshire-partnership/ash",
                    approved_by_name="Ash",
                    approved_at=END,
                    activates_at=activates,
                )
            )
            await session.commit()
    finally:
        await db.dispose()

    before = await policy_in_force(triage_url, load_policy(), activates - timedelta(seconds=1))
    after = await policy_in_force(triage_url, load_policy(), activates)
    assert before.version == load_policy().version
    assert after.version == "2027.04-1"
