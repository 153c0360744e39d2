"""Triage's public answers and requests: a referral's threshold decision explained, with
any practitioner overrides, and the override a hub practitioner asks for."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.clock import as_utc
from shared.text import CheckedText

# An override's rationale is read with the decision for as long as the referral is kept:
# a few words ("worried") do not say why.
MIN_RATIONALE = 20

# A stored time as an aware UTC datetime (SQLite hands them back naive).
UtcTime = Annotated[datetime, AfterValidator(as_utc)]


class FactorView(BaseModel):
    code: str
    label: str
    weight: int | None = Field(description="Null for a statutory indicator or a rule.")
    domain: str = Field(description="Assessment triangle domain, or age / history.")
    kind: str
    source: str


class DecisionView(BaseModel):
    """What the policy decided, kept as decided."""

    level: int
    level_name: str
    priority: str
    score: int
    decide_by: UtcTime | None
    factors: list[FactorView]
    rules: list[str]
    rationale: str
    decided_at: UtcTime


class OverrideView(BaseModel):
    id: str
    from_level: int
    to_level: int
    priority: str
    rationale: str
    by_name: str
    by_organisation: str
    at: UtcTime
    decide_by: UtcTime | None


class PolicyView(BaseModel):
    id: str
    version: str


class PossibleMatchView(BaseModel):
    """An earlier record perhaps about the same child: found, not counted."""

    subject_key: str = Field(description="The pseudonymous key of the child on record.")
    referral_ids: list[str] = Field(
        description="That child's referrals: the reports compared, and those the policy "
        "would have looked back over."
    )
    reason: str = Field(description="What agrees and what is only alike, in words.")


class SuspectedConcernView(BaseModel):
    """A concern the narrative names that the report's codes do not."""

    code: str = Field(description="The vocabulary code its terms belong to.")
    terms: list[str] = Field(description="The vocabulary synonyms found in the narrative.")


class TriageView(BaseModel):
    referral_id: str
    level: int = Field(description="The level as it stands (after any override).")
    level_name: str
    priority: str
    decide_by: UtcTime | None
    policy: PolicyView
    explanation: str = Field(description="The decision and any overrides, in words.")
    decision: DecisionView
    overrides: list[OverrideView]
    possible_matches: list[PossibleMatchView] = Field(
        default_factory=list,
        description=(
            "Earlier records perhaps about this child (names only alike, a transposed "
            "date of birth, another district...), for a practitioner to confirm. Never "
            "counted: their reports are not this decision's history."
        ),
    )
    needs_review: bool = Field(
        default=False,
        description=(
            "The narrative names concerns the codes do not (`suspected_concerns`): the "
            "hub reviews the referral; false once a practitioner has overridden the level."
        ),
    )
    suspected_concerns: list[SuspectedConcernView] = Field(
        default_factory=list,
        description="Concerns the narrative names that the report's codes do not.",
    )


class OverrideRequest(CheckedText):
    """The practitioner is the caller's (recorded from the API key, or the person token
    the console sent: their id and name), never the body's: an unknown field is refused."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"rationale"})

    level: int = Field(ge=1, le=5, description="The level the practitioner sets.")
    rationale: str = Field(
        min_length=MIN_RATIONALE,
        max_length=4000,
        description="Why: recorded with the override and shown with the decision.",
    )
