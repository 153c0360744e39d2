"""The threshold decision: a pure function of the policy, the report and its history.

Monotone by construction: every weight is positive and every rule only ever raises
a floor, so adding a concern (to this report or to the history) never lowers the
level; any statutory indicator sets the top level whatever else is true. Nothing
here reads a clock: the same report, history and policy version always give the
same decision, deadline included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.triage.deadlines import decision_deadline
from services.triage.policy import DOMAIN_LABEL, RecentlyKnown, RepeatConcerns, ThresholdPolicy
from shared.events import Priority
from shared.report import vocabulary


@dataclass(frozen=True)
class ReportFacts:
    """What the decision needs from one report."""

    concern_codes: tuple[str, ...]
    immediate_risk: bool
    age_years: int
    reported_at: datetime
    received_at: datetime
    # Flags raised about household members in this report (offending, mental_health, ...).
    member_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriorReport:
    """An earlier decided report about this child or another child of the household."""

    referral_id: str
    reported_at: datetime
    level: int  # as it stands: the practitioner's override when there is one
    concern_codes: tuple[str, ...]
    member_flags: tuple[str, ...] = ()
    same_child: bool = True  # False: about another child of the same household


@dataclass(frozen=True)
class Factor:
    """Something that contributed to the level, with its weight and triangle domain."""

    code: str
    label: str
    weight: int | None  # None: statutory or a rule, which set the level rather than add to it
    domain: str  # a triangle domain, or "age", "history"
    kind: str  # "statutory", "weighted", "household", "age", "cumulative"
    source: str  # "this report", "household: ...", "earlier reports"


@dataclass(frozen=True)
class Decision:
    level: int
    level_name: str
    priority: Priority
    decide_by: datetime | None
    score: int
    factors: tuple[Factor, ...]
    rules: tuple[str, ...]  # the cumulative rules that raised the level
    rationale: str
    policy_id: str
    policy_version: str
    statutory: bool = False
    reasons: list[str] = field(default_factory=list)


def label_of(code: str) -> str:
    """The vocabulary's label for a concern code, in lower case for use mid-sentence."""
    for concern in vocabulary()["concerns"]:  # type: ignore[attr-defined]
        if concern["code"] == code:
            text = str(concern["label"])
            return text[0].lower() + text[1:]
    return code.replace("_", " ")


def _group_of(code: str) -> str:
    for concern in vocabulary()["concerns"]:  # type: ignore[attr-defined]
        if concern["code"] == code:
            return str(concern["group"])
    return "child_development"


def decide(policy: ThresholdPolicy, facts: ReportFacts, history: list[PriorReport]) -> Decision:
    """The level, priority, deadline, contributing factors and rationale for one report."""
    codes = sorted(set(facts.concern_codes))
    factors: list[Factor] = []

    statutory = [c for c in codes if c in set(policy.statutory)]
    if facts.immediate_risk and policy.immediate_risk_is_statutory:
        factors.append(
            Factor(
                "immediate_risk",
                "the referrer reports that the child is at immediate risk",
                None,
                "child_development",
                "statutory",
                "this report",
            )
        )
    for code in statutory:
        factors.append(
            Factor(code, label_of(code), None, _group_of(code), "statutory", "this report")
        )
    is_statutory = bool(factors)

    counted: set[str] = set()
    for code in codes:
        placed = policy.weight_of(code)
        if placed is not None:
            domain, weight = placed
            factors.append(Factor(code, label_of(code), weight, domain, "weighted", "this report"))
            counted.add(code)
    rules = policy.household
    for flag in sorted(set(facts.member_flags)):
        spec = rules.member_flags.get(flag)  # type: ignore[call-overload]
        if spec is not None:
            factors.append(
                Factor(flag, spec.label, spec.weight, spec.domain, "household", "this report")
            )
            counted.add(flag)

    household_from = facts.reported_at - timedelta(days=rules.within_days)
    siblings = sorted(
        (
            p
            for p in history
            if not p.same_child and household_from <= p.reported_at <= facts.reported_at
        ),
        key=lambda p: (p.reported_at, p.referral_id),
    )
    for prior in siblings:
        when = prior.reported_at.date().isoformat()
        source = f"household: reported about another child of the household on {when}"
        for code in sorted(set(prior.concern_codes)):
            placed = policy.weight_of(code)
            if code in rules.shared_codes and code not in counted and placed is not None:
                factors.append(
                    Factor(code, label_of(code), placed[1], placed[0], "household", source)
                )
                counted.add(code)
        for flag in sorted(set(prior.member_flags)):
            spec = rules.member_flags.get(flag)  # type: ignore[call-overload]
            if spec is not None and flag not in counted:
                factors.append(
                    Factor(flag, spec.label, spec.weight, spec.domain, "household", source)
                )
                counted.add(flag)

    needs_score = sum(f.weight or 0 for f in factors)
    if needs_score > 0:
        for modifier in policy.age_modifiers:
            if facts.age_years < modifier.under_age:
                factors.append(
                    Factor(
                        modifier.name, modifier.label, modifier.add, "age", "age", "the child's age"
                    )
                )
    score = sum(f.weight or 0 for f in factors)
    level = 1
    band_reached = None
    for band in policy.score_bands:
        if score >= band.min_score and band.level > level:
            level, band_reached = band.level, band

    fired: list[str] = []
    rule_notes: list[str] = []
    own = [p for p in history if p.same_child and p.reported_at <= facts.reported_at]
    for rule in policy.cumulative:
        start = facts.reported_at - timedelta(days=rule.within_days)
        recent = [p for p in own if p.reported_at >= start]
        if isinstance(rule, RepeatConcerns):
            count = len(recent) + 1
            if count >= rule.reports:
                fired.append(rule.name)
                rule_notes.append(
                    f"at least level {rule.min_level} by the rule '{rule.name}': this is "
                    f"concern {count} about this child within {rule.within_days} days"
                )
                level = max(level, rule.min_level)
        elif isinstance(rule, RecentlyKnown):
            known = [p for p in recent if p.level >= rule.previous_level_at_least]
            if known:
                latest = max(known, key=lambda p: (p.reported_at, p.referral_id))
                fired.append(rule.name)
                rule_notes.append(
                    f"at least level {rule.min_level} by the rule '{rule.name}': the child "
                    f"was at level {latest.level} on {latest.reported_at.date().isoformat()}"
                )
                level = max(level, rule.min_level)
    if fired:
        factors.append(
            Factor(
                "cumulative_concern",
                "; ".join(fired),
                None,
                "history",
                "cumulative",
                "earlier reports",
            )
        )
    if is_statutory:
        level = policy.top_level

    spec = policy.level(level)
    deadline = decision_deadline(policy, level, facts.received_at)
    rationale = _rationale(
        policy=policy,
        level=level,
        factors=factors,
        is_statutory=is_statutory,
        score=score,
        band_min=band_reached.min_score if band_reached else None,
        rule_notes=rule_notes,
        deadline=deadline,
    )
    return Decision(
        level=level,
        level_name=spec.name,
        priority=spec.priority,
        decide_by=deadline,
        score=score,
        factors=tuple(factors),
        rules=tuple(fired),
        rationale=rationale,
        policy_id=policy.id,
        policy_version=policy.version,
        statutory=is_statutory,
        reasons=[_reason(f) for f in factors],
    )


def _reason(factor: Factor) -> str:
    weight = factor.kind if factor.weight is None else f"+{factor.weight}"
    return f"{factor.domain}: {factor.code} ({weight}; {factor.source})"


def _rationale(
    *,
    policy: ThresholdPolicy,
    level: int,
    factors: list[Factor],
    is_statutory: bool,
    score: int,
    band_min: int | None,
    rule_notes: list[str],
    deadline: datetime | None,
) -> str:
    spec = policy.level(level)
    parts = [f"Level {level} ({spec.name}, {spec.priority}): {spec.response}."]
    if is_statutory:
        named = [f.label for f in factors if f.kind == "statutory"]
        parts.append(
            f"A statutory indicator is present ({'; '.join(named)}). Under the {policy.area} "
            f"threshold policy this always meets level {policy.top_level}, whatever else is true."
        )
    weighted = [f for f in factors if f.weight is not None]
    if weighted:
        listed = "; ".join(
            f"{f.label} +{f.weight} ({DOMAIN_LABEL.get(f.domain, f.domain)}"
            + ("" if f.source == "this report" or f.domain == "age" else f", {f.source}")
            + ")"
            for f in weighted
        )
        reached = (
            f", which meets level {_band_level(policy, score)} from {band_min}" if band_min else ""
        )
        parts.append(f"Needs score {score}{reached}: {listed}.")
    elif not is_statutory:
        parts.append("No concern that meets a threshold was reported.")
    for note in rule_notes:
        parts.append(note[0].upper() + note[1:] + ".")
    if deadline is None:
        parts.append("Nothing is shared and there is no decision clock.")
    else:
        local = deadline.astimezone(policy.zone)
        clock = "round the clock" if spec.clock == "round_the_clock" else "working hours"
        hours = spec.decide_within_hours
        parts.append(f"Decision due by {local:%a %d %b %Y %H:%M} ({hours:g} hours, {clock}).")
    parts.append(f"Policy {policy.id} version {policy.version}.")
    return " ".join(parts)


def _band_level(policy: ThresholdPolicy, score: int) -> int:
    return max([1, *(b.level for b in policy.score_bands if score >= b.min_score)])
