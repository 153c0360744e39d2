"""The policy simulator at scale: `signpost simulate` over a generated history of stored
referrals, its wall time and peak memory, against issue 17's target (1,000,000 referrals
re-triaged and re-routed in at most 5 minutes, in at most 1 GB, on a 2-core machine).

    .venv/bin/python bench/simulate.py                      # 1,000,000 referrals
    .venv/bin/python bench/simulate.py --referrals 100000   # a quicker look

Phase 1 (not timed against the target) writes the history straight into an embedded
data folder's triage and routing databases, made by this release's migrations: a year
of referrals about a pool of children (about a third of them reported more than once),
each decided by the live policy as it stood, routed by the demo directory, and with an
agency's accept and close where the referral went to an agency. Phase 2 runs the real
command, `signpost simulate --policy DRAFT --from … --to …`, as its own process, with a
draft that raises one weight (domestic abuse, 4 to 6), and reads its wall time and peak
resident memory from the operating system. The folder is deleted at the end unless
`--keep` names it.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import PYTHON, REPO, base_env, log
from services.routing.decide import route
from services.routing.directory import load_directory
from services.routing.models import DirectoryVersion, RoutingDecision, RoutingStep
from services.triage.models import TriageDecision
from services.triage.policy import load_policy
from services.triage.scoring import ReportFacts, decide
from shared.db import Database, table_of
from shared.migrations import KEYS, ROUTING, TRIAGE, upgrade

TARGET_SECONDS = 300.0
TARGET_MB = 1024.0
START = datetime(2025, 12, 1, tzinfo=UTC)
DAYS = 365
CHUNK = 20_000
POLICE_CODES = ["domestic_abuse", "missing_once", "anti_social_behaviour", "homelessness"]
SCHOOL_CODES = [
    "absence_truancy",
    "young_carer",
    "low_level_mental_health",
    "bullying",
    "self_harm",
]
STATUTORY = ["physical_abuse", "sexual_abuse"]
DISTRICTS = ["EX1", "EX2", "EX3", "EX4", "EX5", "EX6", "EX7", "EX8"]


def history(referrals: int, seed: int) -> Iterator[dict[str, Any]]:
    """`referrals` reports in time order over DAYS days: a child (a third are reported
    again), a source, one to three concern codes, a few at the statutory level."""
    rng = random.Random(seed)
    children = max(1, referrals * 2 // 3)
    gap = DAYS * 86400 / referrals
    at = START
    for n in range(referrals):
        at += timedelta(seconds=rng.expovariate(1 / gap))
        child = rng.randrange(children)
        police = rng.random() < 0.6
        codes = rng.sample(POLICE_CODES if police else SCHOOL_CODES, rng.randint(1, 2))
        if rng.random() < 0.03:
            codes.append(rng.choice(STATUTORY))
        yield {
            "n": n,
            "child": child,
            "at": at,
            "police": police,
            "codes": codes,
            "age": child % 17 + 1,
            "district": DISTRICTS[child % len(DISTRICTS)],
        }


async def migrated(folder: Path) -> None:
    for name, migrations in (("triage", TRIAGE), ("routing", ROUTING), ("keys", KEYS)):
        db = Database(f"sqlite+aiosqlite:///{folder / (name + '.db')}")
        try:
            await upgrade(db, migrations)
        finally:
            await db.dispose()


def generate(folder: Path, referrals: int, seed: int) -> Counter[str]:
    """Write the history into `folder`'s triage and routing databases."""
    asyncio.run(migrated(folder))
    policy = load_policy()
    directory = load_directory(None)
    triage = create_engine(f"sqlite:///{folder / 'triage.db'}")
    routing = create_engine(f"sqlite:///{folder / 'routing.db'}")
    decisions, records, steps = (
        table_of(TriageDecision),
        table_of(RoutingDecision),
        table_of(RoutingStep),
    )
    with routing.begin() as conn:
        conn.execute(
            insert(table_of(DirectoryVersion)),
            [
                {
                    "version": directory.version,
                    "area": directory.area,
                    "source": "seed",
                    "changed_by": "bench",
                    "note": "the demo directory",
                    "created_at": START,
                    "document": directory.model_dump(mode="json", exclude={"version"}),
                }
            ],
        )
    rng = random.Random(seed + 1)
    later: list[tuple[datetime, int, str, str, str, str]] = []  # (at, order, referral, ...)
    order = 0
    open_now: Counter[str] = Counter()
    made: Counter[str] = Counter()
    rows: dict[str, list[dict[str, Any]]] = {"decision": [], "record": [], "step": []}

    def flush(force: bool = False) -> None:
        if force or len(rows["decision"]) >= CHUNK:
            with triage.begin() as conn:
                if rows["decision"]:
                    conn.execute(insert(decisions), rows["decision"])
            with routing.begin() as conn:
                if rows["record"]:
                    conn.execute(insert(records), rows["record"])
                if rows["step"]:
                    conn.execute(insert(steps), rows["step"])
            for kept in rows.values():
                kept.clear()

    def step(
        referral_id: str, at: datetime, status: str, kind: str, destination: str | None
    ) -> None:
        rows["step"].append(
            {
                "referral_id": referral_id,
                "at": at,
                "status": status,
                "destination_kind": kind,
                "destination_id": destination,
                "reason_code": None,
                "by": "signpost",
                "summary": status,
                "rationale": None,
                "directory_version": directory.version,
            }
        )

    for report in history(referrals, seed):
        received = report["at"]
        while later and later[0][0] <= received:
            at, _, settled, status, held_kind, held = heapq.heappop(later)
            step(settled, at, status, held_kind, held)
            open_now[held] -= 1
        referral_id = f"ref_{report['n']:012d}"
        facts = ReportFacts(
            concern_codes=tuple(report["codes"]),
            immediate_risk=False,
            age_years=report["age"],
            reported_at=received - timedelta(hours=1),
            received_at=received,
        )
        decision = decide(policy, facts, [])
        routed = route(
            level=decision.level,
            concern_codes=list(report["codes"]),
            age=report["age"],
            postcode_district=report["district"],
            open_referrals=open_now,
            directory=directory,
            top_level=policy.top_level,
        )
        destination = routed.destination.id if routed.destination else None
        kind = routed.destination_kind
        status = "requested" if destination else "completed"
        made[kind] += 1
        subject = f"subj_{report['child']:010d}"
        rows["decision"].append(
            {
                "referral_id": referral_id,
                "subject_key": subject,
                "partition_key": subject,
                "household_key": None,
                "level": decision.level,
                "priority": decision.priority,
                "decided_level": decision.level,
                "decided_priority": decision.priority,
                "level_name": decision.level_name,
                "score": decision.score,
                "reasons": decision.reasons,
                "factors": [asdict(f) for f in decision.factors],
                "rules": list(decision.rules),
                "rationale": decision.rationale,
                "policy_id": policy.id,
                "policy_version": policy.version,
                "concern_codes": sorted(report["codes"]),
                "member_flags": [],
                "immediate_risk": False,
                "reported_at": facts.reported_at,
                "received_at": received,
                "decided_at": received,
                "decide_by": decision.decide_by,
                "revision": 0,
                "source_kind": "police" if report["police"] else "school",
                "referrer_organisation": "demo-police" if report["police"] else "100001",
                "child_age_years": report["age"],
                "postcode_district": report["district"],
                "possible_matches": [],
                "suspected_concerns": [],
            }
        )
        rows["record"].append(
            {
                "referral_id": referral_id,
                "subject_key": subject,
                "level": decision.level,
                "priority": decision.priority,
                "destination_kind": kind,
                "destination_id": destination,
                "reason_codes": [c.value for c in routed.reason_codes],
                "considered": [],
                "directory_version": directory.version,
                "status": status,
                "routed_at": received,
                "triage_revision": 0,
                "explanation": "",
                "received_at": received,
            }
        )
        step(referral_id, received, status, kind, destination)
        if destination is not None:
            open_now[destination] += 1
            settle = received + timedelta(days=rng.uniform(7, 60))
            order += 1
            heapq.heappush(later, (settle, order, referral_id, "completed", kind, destination))
        flush()
    while later:
        at, _, settled, status, held_kind, held = heapq.heappop(later)
        step(settled, at, status, held_kind, held)
    flush(force=True)
    triage.dispose()
    routing.dispose()
    return made


def draft_policy(folder: Path) -> Path:
    """The demo policy with domestic abuse weighted 6 instead of 4."""
    document = json.loads((REPO / "services/triage/policies/demoshire.json").read_text())
    document["version"] = f"{document['version']}-draft"
    document["weights"]["family_and_environment"]["domestic_abuse"] = 6
    path = folder / "draft-policy.json"
    path.write_text(json.dumps(document))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None, help="keep the data folder here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="signpost-simulate-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        log(f"generating {args.referrals:,} stored referrals in {folder}")
        began = time.monotonic()
        made = generate(folder, args.referrals, args.seed)
        log(f"generated in {time.monotonic() - began:.0f} s: {dict(made)}")
        end = (START + timedelta(days=DAYS + 30)).date().isoformat()
        command = [
            PYTHON, "-m", "services.cli", "simulate",
            "--policy", str(draft_policy(folder)),
            "--from", START.date().isoformat(), "--to", end,
            "--data-dir", str(folder), "--output", str(folder / "difference.json"),
        ]  # fmt: skip
        log("running: signpost " + " ".join(command[3:]))
        began = time.monotonic()
        done = subprocess.run(command, env=base_env(), cwd=REPO, check=False)
        seconds = time.monotonic() - began
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            raise SystemExit(f"signpost simulate failed ({done.returncode})")
        difference = json.loads((folder / "difference.json").read_text())
        rate = args.referrals / seconds
        scaled = seconds * 1_000_000 / args.referrals
        print(f"\nreferrals            {args.referrals:>12,}")
        print(f"wall time            {seconds:>12.1f} s   ({rate:,.0f} referrals/s)")
        print(f"peak memory          {peak_mb:>12.0f} MB")
        print(f"changed level        {difference['changed']['level']:>12,}")
        print(f"safety review        {len(difference['safety_review']):>12,}")
        time_ok = scaled <= TARGET_SECONDS
        memory_ok = peak_mb <= TARGET_MB
        print(
            f"time per 1,000,000   {scaled:>12.1f} s   target <= {TARGET_SECONDS:.0f} s: "
            f"{'PASS' if time_ok else 'FAIL'}"
        )
        print(
            f"memory               {peak_mb:>12.0f} MB  target <= {TARGET_MB:.0f} MB: "
            f"{'PASS' if memory_ok else 'FAIL'}"
        )
        print(
            json.dumps(
                {
                    "referrals": args.referrals,
                    "seconds": round(seconds, 1),
                    "referrals_per_second": round(rate),
                    "peak_mb": round(peak_mb),
                    "pass": time_ok and memory_ok,
                }
            )
        )
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
