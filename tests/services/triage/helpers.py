"""Shared builders for triage tests: the example policies and plain facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.triage.policy import ThresholdPolicy, load_policy
from services.triage.scoring import PriorReport, ReportFacts

POLICIES = Path(__file__).resolve().parents[3] / "services" / "triage" / "policies"
DEMOSHIRE = load_policy(POLICIES / "demoshire.json")
CWM = load_policy(POLICIES / "cwm-demo.json")
EXAMPLES: dict[str, ThresholdPolicy] = {"demoshire": DEMOSHIRE, "cwm-demo": CWM}

# A Tuesday mid-morning, away from any bank holiday.
NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


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
