"""Shared builders for triage tests: the example policies, plain facts, received
referrals and units of work on a test database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.triage.policy import ThresholdPolicy, load_policy
from services.triage.scoring import PriorReport, ReportFacts
from shared.clock import Clock
from shared.db import Database
from shared.events import ReferralReceived
from shared.report import ConcernReport
from shared.uow import UnitsOfWork

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "services" / "triage" / "policies"
DEMOSHIRE = load_policy(POLICIES / "demoshire.json")
CWM = load_policy(POLICIES / "cwm-demo.json")
EXAMPLES: dict[str, ThresholdPolicy] = {"demoshire": DEMOSHIRE, "cwm-demo": CWM}
POLICE_REPORT = ROOT / "examples" / "police-report.json"

# A Tuesday mid-morning, away from any bank holiday.
NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def line_containing(text: str, marker: str) -> int:
    """The line of `text` holding `marker` (exactly one does)."""
    [line] = [i for i, row in enumerate(text.splitlines(), start=1) if marker in row]
    return line


def facts(
    *codes: str, age: int = 12, immediate: bool = False, flags: tuple[str, ...] = ()
) -> ReportFacts:
    return ReportFacts(
        concern_codes=codes,
        immediate_risk=immediate,
        age_years=age,
        reported_at=NOW,
        received_at=NOW,
        member_flags=flags,
    )


def prior(
    days_ago: int,
    *codes: str,
    level: int = 2,
    sibling: bool = False,
    flags: tuple[str, ...] = (),
    ref: str | None = None,
) -> PriorReport:
    return PriorReport(
        referral_id=ref or f"ref_{days_ago}_{'-'.join(codes)}_{sibling}",
        reported_at=NOW - timedelta(days=days_ago),
        level=level,
        concern_codes=codes,
        member_flags=flags,
        same_child=not sibling,
    )


def received(
    referral_id: str,
    subject_key: str,
    *,
    reported_at: datetime,
    child: dict[str, Any] | None = None,
    household: list[dict[str, str]] | None = None,
    concern: str = "domestic_abuse",
) -> ReferralReceived:
    """The example police report as intake accepted it (a minute after it was reported),
    about `child` (the example's child, with these fields changed)."""
    body: dict[str, Any] = json.loads(POLICE_REPORT.read_text())
    body["concerns"] = [{"code": concern, "detail": "Seen by officers."}]
    body["source"]["reference"] = referral_id
    body["reported_at"] = reported_at.isoformat()
    body["child"].update(child or {})
    if household is not None:
        body["household"] = household
    return ReferralReceived(
        referral_id=referral_id,
        subject_key=subject_key,
        client_id="police",
        received_at=reported_at + timedelta(minutes=1),
        report=ConcernReport.model_validate(body),
        supersedes=[],
    )


def units(db: Database, at: datetime = NOW) -> UnitsOfWork:
    """Triage's units of work on `db`, with the clock stopped at `at`."""
    return UnitsOfWork(db, clock=Clock(at), source="/signpost/triage/test")
