"""The threshold decision, as a pure function over plain data.

This is the foundation's placeholder policy: statutory indicators force level 4,
cumulative concern raises the level, and everything else is early help or universal.
The versioned, per-area policy files replace these constants in the triage issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.events import Priority
from shared.report import age_on as age_on  # re-exported: triage's callers use it

POLICY_VERSION = "placeholder-2026.11"

# Indicators that mean risk of significant harm: always the top level.
STATUTORY = frozenset(
    {
        "physical_abuse",
        "sexual_abuse",
        "emotional_abuse",
        "physical_neglect",
        "child_sexual_exploitation",
        "child_criminal_exploitation",
        "trafficking",
        "fgm",
        "gang_involvement",
        "missing_frequently",
        "domestic_abuse_serious",
        "parental_mental_health_significant",
        "parental_substance_misuse_significant",
        "permanent_exclusion",
        "chronic_non_attendance",
    }
)

PRIORITY_OF_LEVEL: dict[int, Priority] = {1: "blue", 2: "green", 3: "amber", 4: "red"}
CUMULATIVE_WINDOW_DAYS = 90
CUMULATIVE_THRESHOLD = 3


@dataclass(frozen=True)
class Decision:
    level: int
    priority: Priority
    reasons: list[str] = field(default_factory=list)
    policy_version: str = POLICY_VERSION


def decide(*, concern_codes: list[str], immediate_risk: bool, recent_concerns: int) -> Decision:
    """Level, priority and reasons for one report given the child's recent history.

    `recent_concerns` counts earlier reports about the same child within the
    cumulative window. Adding a concern never lowers the level.
    """
    reasons: list[str] = []
    statutory = sorted(set(concern_codes) & STATUTORY)
    if immediate_risk:
        reasons.append("immediate_risk: the referrer reports immediate risk")
    for code in statutory:
        reasons.append(f"statutory_indicator: {code}")
    if reasons:
        return Decision(4, PRIORITY_OF_LEVEL[4], reasons)

    distinct = sorted(set(concern_codes))
    level = 2 if distinct else 1
    if distinct:
        reasons.append(f"additional_needs: {', '.join(distinct)}")
    if len(distinct) >= 3:
        level = 3
        reasons.append("multiple_needs: three or more distinct concerns")
    if recent_concerns + 1 >= CUMULATIVE_THRESHOLD:
        level = max(level, 3)
        reasons.append(
            f"cumulative_concern: {recent_concerns + 1} reports within "
            f"{CUMULATIVE_WINDOW_DAYS} days"
        )
    return Decision(level, PRIORITY_OF_LEVEL[level], reasons)
