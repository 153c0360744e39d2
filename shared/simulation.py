"""What a draft threshold policy or directory would have changed: the difference between
the decisions stored and the same referrals decided again with the draft, summed up as
a partnership reviews it before the draft goes live.

Triage re-decides each stored referral with the draft (`services.triage.service.simulation`)
and routing routes it again (`services.routing.service.simulation`), each from its own
tables with the same pure functions the live path uses. This module only compares: it
takes one `Compared` per referral, in the order they arrived, and keeps

- the transition matrices (old level by new level, old destination by new destination)
  and how many changed level, priority or destination;
- the **safety review**: every referral whose level would fall from the top
  (statutory) level or whose destination would leave the MASH, listed first;
- each agency's referrals before and after, against its capacity;
- what drives the changes: the rules that fire or stop firing, and the weighted
  factors whose weight the draft changes, counted over the referrals that moved;
- the deadlines that would have been missed: a decision that came after the deadline
  the draft would have set.

Nothing here knows a child: a referral is its id, its times, levels, destinations and
the names of the rules and factors that decided it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.spreadsheet import write_csv

# How many referrals that changed are kept to drill into (beyond the safety review,
# which is kept whole): enough for a review meeting, bounded for a million referrals.
KEEP_CHANGED = 5000


@dataclass(frozen=True, slots=True)
class Outcome:
    """One decision on a referral: the level and priority triage set, the deadline it
    set, where routing sent it, and why (the rules that fired, the weighted factors
    counted, the score)."""

    level: int
    priority: str
    destination: str  # "mash", "hub", "universal", or "agency:<id>"
    decide_by: datetime | None = None
    score: int = 0
    rules: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()  # the codes that added weight
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class Compared:
    """One referral decided as stored and as the draft would have decided it."""

    referral_id: str
    received_at: datetime
    decided_at: datetime
    stored: Outcome
    draft: Outcome

    @property
    def changed(self) -> bool:
        return (self.stored.level, self.stored.priority, self.stored.destination) != (
            self.draft.level,
            self.draft.priority,
            self.draft.destination,
        )


@dataclass(frozen=True, slots=True)
class Redecided:
    """One referral as triage decided it and as the draft decides it (destinations left
    for routing to fill in), with what routing needs to route it again: triage's part,
    handed to routing's."""

    referral_id: str
    received_at: datetime
    decided_at: datetime
    stored: Outcome
    draft: Outcome
    concern_codes: tuple[str, ...]
    age_years: int | None
    postcode_district: str | None
    suspected_codes: tuple[str, ...]
    in_period: bool


def destination_kind(destination: str) -> str:
    return destination.partition(":")[0]


@dataclass
class Difference:
    """The difference a draft makes over a period, summed as the referrals stream by."""

    top_level: int
    capacity: Mapping[str, int | None] = field(default_factory=dict)
    # What the draft changed in the policy: code -> (live weight, draft weight).
    weight_changes: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)
    keep_changed: int = KEEP_CHANGED
    total: int = 0
    level_changed: int = 0
    priority_changed: int = 0
    destination_changed: int = 0
    levels: Counter[tuple[int, int]] = field(default_factory=Counter)
    destinations: Counter[tuple[str, str]] = field(default_factory=Counter)
    load_before: Counter[str] = field(default_factory=Counter)
    load_after: Counter[str] = field(default_factory=Counter)
    drivers: Counter[str] = field(default_factory=Counter)
    missed_before: int = 0
    missed_after: int = 0
    safety: list[Compared] = field(default_factory=list)
    changed: list[Compared] = field(default_factory=list)
    changed_left_out: int = 0

    def add(self, one: Compared) -> None:
        """Count one referral."""
        old, new = one.stored, one.draft
        self.total += 1
        self.levels[(old.level, new.level)] += 1
        self.destinations[(old.destination, new.destination)] += 1
        self.level_changed += old.level != new.level
        self.priority_changed += old.priority != new.priority
        self.destination_changed += old.destination != new.destination
        if destination_kind(old.destination) == "agency":
            self.load_before[old.destination] += 1
        if destination_kind(new.destination) == "agency":
            self.load_after[new.destination] += 1
        self.missed_before += _missed(old, one.decided_at)
        self.missed_after += _missed(new, one.decided_at)
        if old.level != new.level or old.destination != new.destination:
            for driver in drivers_of(old, new, self.weight_changes):
                self.drivers[driver] += 1
        if self.is_safety(one):
            self.safety.append(one)
        elif one.changed:
            if len(self.changed) < self.keep_changed:
                self.changed.append(one)
            else:
                self.changed_left_out += 1

    def is_safety(self, one: Compared) -> bool:
        """A referral a person must look at before the draft goes live: its level falls
        from the top (statutory) level, or its destination leaves the MASH."""
        return (one.stored.level >= self.top_level and one.draft.level < one.stored.level) or (
            one.stored.destination == "mash" and one.draft.destination != "mash"
        )

    def summary(self) -> dict[str, Any]:
        """The difference as data (the CLI's JSON, the console's page)."""
        agencies = sorted({*self.load_before, *self.load_after, *self.capacity})
        return {
            "referrals": self.total,
            "changed": {
                "level": self.level_changed,
                "priority": self.priority_changed,
                "destination": self.destination_changed,
            },
            "level_transitions": [
                {"from": a, "to": b, "referrals": n} for (a, b), n in sorted(self.levels.items())
            ],
            "destination_transitions": [
                {"from": a, "to": b, "referrals": n}
                for (a, b), n in sorted(self.destinations.items())
            ],
            "safety_review": [row_of(one) for one in self.safety],
            "agency_load": [
                {
                    "agency": agency,
                    "before": self.load_before[agency],
                    "after": self.load_after[agency],
                    "change": self.load_after[agency] - self.load_before[agency],
                    "capacity": self.capacity.get(agency),
                }
                for agency in agencies
                if destination_kind(agency) == "agency"
            ],
            "drivers": [
                {"driver": driver, "referrals": n} for driver, n in self.drivers.most_common()
            ],
            "deadlines_missed": {"stored": self.missed_before, "draft": self.missed_after},
            "changed_referrals": [row_of(one) for one in self.changed],
            "changed_referrals_left_out": self.changed_left_out,
        }


def _missed(outcome: Outcome, decided_at: datetime) -> bool:
    """Whether the decision, made when it was, came after the deadline this outcome set."""
    return outcome.decide_by is not None and decided_at > outcome.decide_by


def drivers_of(
    old: Outcome, new: Outcome, weight_changes: Mapping[str, tuple[int | None, int | None]]
) -> Iterator[str]:
    """Why one referral moved: each rule that fires under one and not the other, and
    each of its weighted factors whose weight the draft changed."""
    for rule in sorted(set(new.rules) - set(old.rules)):
        yield f"rule now fires: {rule}"
    for rule in sorted(set(old.rules) - set(new.rules)):
        yield f"rule no longer fires: {rule}"
    for code in sorted(set(old.factors) | set(new.factors)):
        if code in weight_changes:
            before, after = weight_changes[code]
            yield f"weight of {code}: {_weight(before)} to {_weight(after)}"


def _weight(value: int | None) -> str:
    return "none" if value is None else str(value)


def row_of(one: Compared) -> dict[str, Any]:
    """One referral's two decisions side by side."""
    return {
        "referral_id": one.referral_id,
        "received_at": one.received_at.isoformat(),
        "stored_level": one.stored.level,
        "draft_level": one.draft.level,
        "stored_priority": one.stored.priority,
        "draft_priority": one.draft.priority,
        "stored_destination": one.stored.destination,
        "draft_destination": one.draft.destination,
        "stored_score": one.stored.score,
        "draft_score": one.draft.score,
        "stored_rules": "; ".join(one.stored.rules),
        "draft_rules": "; ".join(one.draft.rules),
        "stored_explanation": one.stored.explanation,
        "draft_explanation": one.draft.explanation,
    }


CSV_HEADER = (
    "safety_review",
    "referral_id",
    "received_at",
    "stored_level",
    "draft_level",
    "stored_priority",
    "draft_priority",
    "stored_destination",
    "draft_destination",
    "stored_score",
    "draft_score",
    "stored_rules",
    "draft_rules",
)


def changed_csv(difference: Difference) -> str:
    """The referrals the draft would change, the safety review first, as CSV (no cell
    can be a formula: `shared.spreadsheet`)."""
    return _rows_csv(
        [row_of(one) for one in difference.safety], [row_of(one) for one in difference.changed]
    )


def summary_csv(summary: Mapping[str, Any]) -> str:
    """`changed_csv` from a difference as `Difference.summary` gave it (a simulation
    recorded with its policy version)."""
    return _rows_csv(summary.get("safety_review", []), summary.get("changed_referrals", []))


def _rows_csv(safety: list[Mapping[str, Any]], changed: list[Mapping[str, Any]]) -> str:
    lines: list[list[object]] = []
    for flagged, rows in ((True, safety), (False, changed)):
        for row in rows:
            lines.append(["yes" if flagged else "no", *(row[name] for name in CSV_HEADER[1:])])
    return write_csv(CSV_HEADER, lines)


def as_json(difference: Difference, about: Mapping[str, Any]) -> str:
    """The whole difference as JSON, with what was simulated (`about`)."""
    return json.dumps({"about": dict(about), **difference.summary()}, indent=2, default=str)


# -- On the wire ---------------------------------------------------------------------
# The console runs a simulation through the services' APIs (no service reads another's
# database): triage streams its `Redecided` referrals as NDJSON, routing reads them and
# streams back one `Compared` each. One JSON object per line, datetimes in ISO 8601.

NDJSON = "application/x-ndjson"


def _outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "level": outcome.level,
        "priority": outcome.priority,
        "destination": outcome.destination,
        "decide_by": outcome.decide_by.isoformat() if outcome.decide_by else None,
        "score": outcome.score,
        "rules": list(outcome.rules),
        "factors": list(outcome.factors),
        "explanation": outcome.explanation,
    }


def _outcome_from_dict(data: Mapping[str, Any]) -> Outcome:
    decide_by = data.get("decide_by")
    return Outcome(
        level=int(data["level"]),
        priority=str(data["priority"]),
        destination=str(data["destination"]),
        decide_by=datetime.fromisoformat(decide_by) if decide_by else None,
        score=int(data.get("score", 0)),
        rules=tuple(data.get("rules", ())),
        factors=tuple(data.get("factors", ())),
        explanation=str(data.get("explanation", "")),
    )


def redecided_to_dict(one: Redecided) -> dict[str, Any]:
    """One re-decided referral as a JSON object (a line of triage's NDJSON)."""
    return {
        "referral_id": one.referral_id,
        "received_at": one.received_at.isoformat(),
        "decided_at": one.decided_at.isoformat(),
        "stored": _outcome_to_dict(one.stored),
        "draft": _outcome_to_dict(one.draft),
        "concern_codes": list(one.concern_codes),
        "age_years": one.age_years,
        "postcode_district": one.postcode_district,
        "suspected_codes": list(one.suspected_codes),
        "in_period": one.in_period,
    }


def redecided_from_dict(data: Mapping[str, Any]) -> Redecided:
    """The inverse of `redecided_to_dict`; a KeyError, ValueError or TypeError names
    what is missing or wrong."""
    age = data.get("age_years")
    return Redecided(
        referral_id=str(data["referral_id"]),
        received_at=datetime.fromisoformat(data["received_at"]),
        decided_at=datetime.fromisoformat(data["decided_at"]),
        stored=_outcome_from_dict(data["stored"]),
        draft=_outcome_from_dict(data["draft"]),
        concern_codes=tuple(data.get("concern_codes", ())),
        age_years=None if age is None else int(age),
        postcode_district=data.get("postcode_district"),
        suspected_codes=tuple(data.get("suspected_codes", ())),
        in_period=bool(data["in_period"]),
    )


def compared_to_dict(one: Compared) -> dict[str, Any]:
    """One referral's two decisions as a JSON object (a line of routing's NDJSON)."""
    return {
        "referral_id": one.referral_id,
        "received_at": one.received_at.isoformat(),
        "decided_at": one.decided_at.isoformat(),
        "stored": _outcome_to_dict(one.stored),
        "draft": _outcome_to_dict(one.draft),
    }


def compared_from_dict(data: Mapping[str, Any]) -> Compared:
    """The inverse of `compared_to_dict`."""
    return Compared(
        referral_id=str(data["referral_id"]),
        received_at=datetime.fromisoformat(data["received_at"]),
        decided_at=datetime.fromisoformat(data["decided_at"]),
        stored=_outcome_from_dict(data["stored"]),
        draft=_outcome_from_dict(data["draft"]),
    )
