"""What routing's API reads and answers: directory versions and imports, referrals as
their destination sees them, their routing records, the requests agencies and the hub
send to move a referral on, and the lines of a policy simulation. No personal data
about the child."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from services.routing.directory import Directory
from services.routing.lifecycle import DECLINE_REASONS, OUTCOMES, DeclineReason, OutcomeCode
from shared.events import Priority
from shared.people import MAX_NAME, PERSON_ID
from shared.simulation import Outcome, Redecided
from shared.text import CheckedText

MIN_RATIONALE = 10

Rationale = Annotated[
    str,
    Field(
        min_length=MIN_RATIONALE,
        max_length=4000,
        description="Why: recorded with the change and shown in the routing record.",
    ),
]

# ---------------------------------------------------------------- the directory


class DirectoryView(Directory):
    seq: int
    source: str
    changed_by: str = Field(
        description="Who changed it: an organisation (a system's API key), "
        "`<organisation>/<person id>` (a person, through the console), or `signpost`."
    )
    note: str
    created_at: datetime


class VersionSummary(BaseModel):
    version: str
    seq: int
    area: str
    source: str
    changed_by: str = Field(
        description="Who changed it: an organisation (a system's API key), "
        "`<organisation>/<person id>` (a person, through the console), or `signpost`."
    )
    note: str
    created_at: datetime
    agencies: int


class SkippedView(BaseModel):
    service_id: str
    name: str
    reason: str


class ImportView(BaseModel):
    version: str = Field(description="The directory version the import created.")
    imported: list[str] = Field(description="Ids of the agencies added or replaced.")
    skipped: list[SkippedView]
    notes: list[str]


# ---------------------------------------------------------------- referrals


class DestinationView(BaseModel):
    kind: str
    id: str | None
    organisation: str | None
    name: str | None


class AssignedView(BaseModel):
    """The person of the addressed organisation who has the referral."""

    person_id: str
    name: str
    at: datetime = Field(description="Since when they have it.")


# The two deadlines an integrator meets, named apart: this one is routing's, for the
# receiving agency.
RESPOND_BY = (
    "Routing's deadline, for the receiving agency: when the destination must accept or "
    "decline the referral while it is requested (its directory response time); when it "
    "passes unanswered, the referral escalates to the hub. Null once answered. Not "
    "triage's decide_by, the hub's deadline for the threshold decision."
)


class ReferralView(BaseModel):
    """A referral as its destination sees it: ids, level and status, who there has it,
    no personal data about the child."""

    referral_id: str
    status: str
    level: int
    priority: str
    destination: DestinationView
    respond_by: datetime | None = Field(description=RESPOND_BY)
    routed_at: datetime
    updated_at: datetime | None
    reason_code: str | None
    allowed_actions: list[str]
    assigned_to: AssignedView | None = Field(
        description="Who in the addressed organisation has it (claimed or given to them); "
        "null while it waits in the organisation's queue."
    )


class CandidateView(BaseModel):
    agency_id: str
    name: str
    suitable: bool
    reason: str


class StepView(BaseModel):
    at: datetime
    status: str
    destination_kind: str | None
    destination_id: str | None
    reason_code: str | None
    by: str = Field(
        description="Who acted: an organisation (a system's API key), "
        "`<organisation>/<person id>` (a person, through the console; the summary names "
        "them), or `signpost` (routing itself)."
    )
    summary: str
    rationale: str | None
    directory_version: str | None


class PathwayView(BaseModel):
    """A statutory pathway the referral was told to, beside its own destination."""

    pathway: str = Field(description="prevent, private_fostering or children_missing_education.")
    label: str
    concern_codes: list[str] = Field(description="The report's codes that need it.")
    destination: DestinationView
    reason_code: str = Field(
        description="statutory_pathway; pathway_destination_missing: the hub was told, to "
        "make the notification."
    )
    explanation: str
    notified_at: datetime
    directory_version: str


class RoutingRecord(ReferralView):
    """Where a referral went and why, in plain words, with every later step."""

    reason_codes: list[str]
    explanation: str = Field(description="Why it went where it went, in plain words.")
    considered: list[CandidateView]
    directory_version: str
    history: list[StepView]
    pathways: list[PathwayView] = Field(
        default=[],
        description=(
            "Every statutory pathway it was told to (a Prevent referral, a private "
            "fostering or children missing education notification), whatever its level."
        ),
    )


class ActionRequest(CheckedText):
    """A request to move a referral on. Who asks is the API key's, never the body's:
    an unknown field (a `by`, an `organisation`) is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"note", "rationale"})


class DeclineRequest(ActionRequest):
    reason_code: DeclineReason = Field(description=f"One of: {', '.join(DECLINE_REASONS)}.")
    note: str | None = Field(default=None, max_length=2000)


class CloseRequest(ActionRequest):
    outcome: Literal["completed", "failed"]
    outcome_code: OutcomeCode = Field(
        description="completed: "
        + ", ".join(OUTCOMES["completed"])
        + "; failed: "
        + ", ".join(OUTCOMES["failed"])
    )
    note: str | None = Field(default=None, max_length=2000)


class ReassignRequest(ActionRequest):
    agency_id: str = Field(min_length=1, max_length=64)
    rationale: Rationale


class OverrideRequest(ActionRequest):
    destination: Literal["mash", "hub", "universal"] = Field(
        description="mash: up to children's social care; hub: to the hub; universal: no referral."
    )
    rationale: Rationale


class CancelRequest(ActionRequest):
    """The hub cancels an open referral: no referral is made, universal services are
    advised (the same as overriding its destination to `universal`)."""

    rationale: Rationale


class AssignRequest(ActionRequest):
    """Give a referral to a colleague in the addressed organisation, as the console
    names them (the console knows its people; routing records what it is told)."""

    person_id: str = Field(pattern=PERSON_ID.pattern, description="The colleague's person id.")
    person_name: str = Field(min_length=1, max_length=MAX_NAME)


# ---------------------------------------------------------------- the policy simulator
# `POST /v1/simulations/reroute` reads NDJSON: a first line `{"about": ...}`, then one
# referral triage decided again per line (`shared.simulation.redecided_to_dict`).

SimulationCode = Annotated[str, Field(min_length=1, max_length=64)]


class SimulatedOutcome(CheckedText):
    """One decision on a referral as triage's lines carry it (`shared.simulation.Outcome`)."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"explanation"})

    level: int = Field(ge=1, le=5)
    priority: Priority
    destination: str = Field(max_length=200, description="Empty: left for routing to fill in.")
    decide_by: AwareDatetime | None = None
    score: int = 0
    rules: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    factors: list[SimulationCode] = []
    explanation: str = Field(default="", max_length=100_000)

    def outcome(self) -> Outcome:
        return Outcome(
            level=self.level,
            priority=self.priority,
            destination=self.destination,
            decide_by=self.decide_by,
            score=self.score,
            rules=tuple(self.rules),
            factors=tuple(self.factors),
            explanation=self.explanation,
        )


class SimulatedReferral(CheckedText):
    """One referral as triage decided it and as the draft decides it, with what routing
    needs to route it again (`shared.simulation.Redecided`): a line after the first."""

    model_config = ConfigDict(extra="forbid")

    referral_id: str = Field(min_length=1, max_length=40)
    received_at: AwareDatetime
    decided_at: AwareDatetime
    stored: SimulatedOutcome
    draft: SimulatedOutcome
    concern_codes: list[SimulationCode] = []
    age_years: int | None = Field(default=None, ge=0, le=150)
    postcode_district: str | None = Field(default=None, max_length=8)
    suspected_codes: list[SimulationCode] = []
    in_period: StrictBool = Field(
        description="False for an earlier referral the period's history needs (not routed again)."
    )

    def redecided(self) -> Redecided:
        return Redecided(
            referral_id=self.referral_id,
            received_at=self.received_at,
            decided_at=self.decided_at,
            stored=self.stored.outcome(),
            draft=self.draft.outcome(),
            concern_codes=tuple(self.concern_codes),
            age_years=self.age_years,
            postcode_district=self.postcode_district,
            suspected_codes=tuple(self.suspected_codes),
            in_period=self.in_period,
        )


class SimulationAbout(CheckedText):
    """What is simulated: the period's start, the policy's top level, and a draft
    directory to route by (null: each referral by the directory version it was)."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime = Field(description="The period's start.")
    top_level: int = Field(ge=4, le=5, description="The live policy's top (statutory) level.")
    directory: dict[str, Any] | None = Field(
        default=None,
        description="A draft directory: the directory's JSON, with or without a `version` "
        "(a draft is called `draft`, whatever it says).",
    )


class SimulationHeader(CheckedText):
    """The first line of a simulation's NDJSON."""

    model_config = ConfigDict(extra="forbid")

    about: SimulationAbout
