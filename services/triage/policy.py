"""A local area's threshold policy: versioned data, validated when it is loaded.

A policy file is JSON owned by the local safeguarding partnership. It names its
levels (4, or 5 in some areas) with their RAG priority and decision timescale,
places every concern code of the published vocabulary (statutory, weighted within the
assessment triangle, or informational with the reason it is not scored), and sets the
cumulative, age and household rules. A file that breaks a rule, or is unsound against
the safeguarding guidance (`soundness.py`: a code left unhandled, a category of
significant harm that is not statutory, a single low-level indicator reaching the top
level), refuses to load with the line and the reason, so a partnership finds out from
`signpost policy check FILE`, not from a child's referral scored against half a policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.bank_holidays import Division
from shared.events import Priority

Domain = Literal["child_development", "parenting_capacity", "family_and_environment"]
DOMAINS: tuple[Domain, ...] = ("child_development", "parenting_capacity", "family_and_environment")
DOMAIN_LABEL: dict[str, str] = {
    "child_development": "the child's developmental needs",
    "parenting_capacity": "parenting capacity",
    "family_and_environment": "family and environment",
}
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MemberFlag = Literal[
    "offending", "mental_health", "substance_misuse", "domestic_abuse_perpetrator",
    "domestic_abuse_victim",
]  # fmt: skip
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Why a code is placed as it is, in words a practitioner and an inspector can check.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Weight = Annotated[int, Field(ge=1, le=100)]

DEFAULT_POLICY = Path(__file__).resolve().parent / "policies" / "demoshire.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelSpec(_Strict):
    """One level of the continuum of need and how fast it must be decided."""

    level: int = Field(ge=1, le=5)
    name: str = Field(min_length=1, max_length=80)
    priority: Priority
    response: str = Field(min_length=1, max_length=200, description="What this level gets.")
    # None: no decision clock (universal services, nothing is shared).
    decide_within_hours: float | None = Field(default=None, gt=0, le=24 * 14)
    clock: Literal["working_hours", "round_the_clock"] = "working_hours"


class WorkingHours(_Strict):
    timezone: str = "Europe/London"
    start: time = time(9, 0)
    end: time = time(17, 0)
    days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri"], min_length=1)


class ScoreBand(_Strict):
    """A total weight at or above `min_score` meets at least `level`."""

    min_score: int = Field(ge=1)
    level: int = Field(ge=2, le=5)


class RepeatConcerns(_Strict):
    """Several reports about one child within a window raise the level (Devon PPN rule)."""

    kind: Literal["repeat_concerns"]
    name: str = Field(min_length=1, max_length=80)
    reports: int = Field(ge=2, le=20, description="This report and earlier ones, together.")
    within_days: int = Field(ge=1, le=730)
    min_level: int = Field(ge=2, le=5)


class RecentlyKnown(_Strict):
    """A child decided at a high level recently stays visible at that level."""

    kind: Literal["recently_known"]
    name: str = Field(min_length=1, max_length=80)
    previous_level_at_least: int = Field(ge=2, le=5)
    within_days: int = Field(ge=1, le=730)
    min_level: int = Field(ge=2, le=5)


CumulativeRule = Annotated[RepeatConcerns | RecentlyKnown, Field(discriminator="kind")]


class AgeModifier(_Strict):
    """Extra weight for a young child who has at least one weighted concern."""

    name: str = Field(min_length=1, max_length=80)
    label: str = Field(min_length=1, max_length=120)
    under_age: int = Field(ge=1, le=18, description="Applies while the child is younger.")
    add: Weight


class MemberFlagWeight(_Strict):
    label: str = Field(min_length=1, max_length=120)
    domain: Domain
    weight: Weight


class HouseholdRules(_Strict):
    """Factors that count for every child in the household."""

    within_days: int = Field(ge=1, le=730)
    # Concern codes that describe the household, not one child: reported about any
    # child of the household, they count for each of its children.
    shared_codes: list[Code] = Field(default_factory=list)
    # What a report says about a household member, as a weighted factor.
    member_flags: dict[MemberFlag, MemberFlagWeight] = Field(default_factory=dict)


class ThresholdPolicy(_Strict):
    """A local area's continuum of need, as data."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    version: str = Field(min_length=1, max_length=40)
    area: str = Field(min_length=1, max_length=120)
    # Whose bank holidays stop the working-hours clocks. Required: a partnership in
    # Scotland or Northern Ireland must not get England's holidays by leaving it out.
    calendar: Division
    extra_closed_days: list[date] = Field(
        default_factory=list, description="Local closures (e.g. council days at Christmas)."
    )
    working_hours: WorkingHours = WorkingHours()
    levels: list[LevelSpec] = Field(min_length=4, max_length=5)
    immediate_risk_is_statutory: bool = True
    statutory: list[Code] = Field(min_length=1)
    weights: dict[Domain, dict[Code, Weight]]
    # Codes deliberately not scored, each with the reason: recorded on the report, they
    # add nothing to the level.
    informational: dict[Code, Reason] = Field(default_factory=dict)
    # Why a code is placed as it is (every statutory code of a shipped policy has one),
    # citing the guidance or threshold document it follows.
    notes: dict[Code, Reason] = Field(default_factory=dict)
    score_bands: list[ScoreBand] = Field(min_length=1)
    cumulative: list[CumulativeRule] = Field(default_factory=list)
    age_modifiers: list[AgeModifier] = Field(default_factory=list)
    household: HouseholdRules

    @property
    def top_level(self) -> int:
        return max(spec.level for spec in self.levels)

    @property
    def tag(self) -> str:
        """The policy's id and version, as decisions record it."""
        return f"{self.id}@{self.version}"

    def level(self, level: int) -> LevelSpec:
        return next(spec for spec in self.levels if spec.level == level)

    def weight_of(self, code: str) -> tuple[Domain, int] | None:
        for domain, weights in self.weights.items():
            if code in weights:
                return domain, weights[code]
        return None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.working_hours.timezone)


Loc = tuple[str | int, ...]


def semantic_errors(policy: ThresholdPolicy) -> list[tuple[Loc, str]]:
    """The rules that compare parts of a policy, each at the location at fault (how each
    concern code is placed is a soundness rule: `soundness.py`)."""
    errors: list[tuple[Loc, str]] = []
    levels = [spec.level for spec in policy.levels]
    if levels != list(range(1, len(levels) + 1)):
        errors.append((("levels",), "levels must be numbered 1, 2, ... in order, without gaps"))
    top = max(levels)
    for i, spec in enumerate(policy.levels):
        if spec.level > 1 and spec.decide_within_hours is None:
            errors.append(
                (("levels", i, "decide_within_hours"), "every level above 1 needs a timescale")
            )
    if policy.levels[-1].priority != "red":
        errors.append((("levels", len(levels) - 1, "priority"), "the top level must be red"))
    previous = 0
    for i, band in enumerate(policy.score_bands):
        if band.level >= top:
            errors.append(
                (("score_bands", i, "level"), "only statutory indicators reach the top level")
            )
        if band.min_score <= previous:
            errors.append((("score_bands", i, "min_score"), "bands must rise in min_score"))
        previous = band.min_score
    for i, rule in enumerate(policy.cumulative):
        if rule.min_level >= top:
            errors.append(
                (("cumulative", i, "min_level"), "only statutory indicators reach the top level")
            )
    for i, code in enumerate(policy.household.shared_codes):
        if policy.weight_of(code) is None:
            errors.append(
                (("household", "shared_codes", i), f"{code!r} needs a weight to count as shared")
            )
    try:
        ZoneInfo(policy.working_hours.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append((("working_hours", "timezone"), "not a known IANA time zone"))
    if policy.working_hours.end <= policy.working_hours.start:
        errors.append((("working_hours", "end"), "the working day must end after it starts"))
    return errors


@dataclass(frozen=True)
class PolicyProblem:
    line: int
    location: str
    reason: str

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"line {self.line}{where}: {self.reason}"


class PolicyError(ValueError):
    """A policy file that must not be used, with every problem found in it."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


def parse_policy(text: str, *, source: str = "<policy>") -> ThresholdPolicy:
    """A valid and sound policy from JSON text, or PolicyError with each line and reason."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(source, [PolicyProblem(exc.lineno, "", exc.msg)]) from None
    try:
        policy = ThresholdPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = [
            PolicyProblem(line_of(text, tuple(err["loc"])), dotted(tuple(err["loc"])), err["msg"])
            for err in exc.errors()
        ]
        raise PolicyError(source, problems) from None
    # Imported here: soundness decides sample reports with `scoring`, which needs this module.
    from services.triage.soundness import located_soundness_problems

    found = semantic_errors(policy) + located_soundness_problems(policy)
    if found:
        raise PolicyError(
            source, [PolicyProblem(line_of(text, loc), dotted(loc), why) for loc, why in found]
        )
    return policy


def load_policy(path: Path | None = None) -> ThresholdPolicy:
    """The policy in `path` (default: the Demoshire example), validated."""
    path = path or DEFAULT_POLICY
    return parse_policy(path.read_text(encoding="utf-8"), source=str(path))


def dotted(loc: Loc) -> str:
    """A location as the check prints it: `weights.child_development.bullying`."""
    return ".".join(str(part) for part in loc)


def line_of(text: str, loc: Loc) -> int:
    """The line in `text` (JSON) where the value at `loc` sits.

    Walks the document with the standard decoder, following the path; where the path
    ends early (a missing field, a key pydantic invented) it answers the line of the
    deepest object that exists, which is where the fix goes.
    """
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    for part in loc:
        found: int | None = None
        if pos < len(text) and text[pos] == "{":
            i = _skip(text, pos + 1)
            while i < len(text) and text[i] == '"':
                key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                i = _skip(text, _skip(text, i) + 1)  # past the colon
                if key == str(part):
                    found = i
                    break
                i = _past_value(decoder, text, i)
        elif pos < len(text) and text[pos] == "[" and isinstance(part, int):
            i = _skip(text, pos + 1)
            index = 0
            while i < len(text) and text[i] != "]":
                if index == part:
                    found = i
                    break
                i = _past_value(decoder, text, i)
                index += 1
        if found is None:
            break
        pos = found
    return text.count("\n", 0, pos) + 1


def _past_value(decoder: json.JSONDecoder, text: str, i: int) -> int:
    """Where the next member starts after the JSON value at `i` (past any comma)."""
    _, i = decoder.raw_decode(text, i)
    i = _skip(text, i)
    if i < len(text) and text[i] == ",":
        i = _skip(text, i + 1)
    return i


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i
