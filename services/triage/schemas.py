"""Triage's public answers and requests: a referral's threshold decision explained, with
any practitioner overrides, and the override a hub practitioner asks for; and the
threshold policy versions drafted, simulated and approved through the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.clock import as_utc
from shared.override_reasons import OverrideReason, described
from shared.text import CheckedText

# An override's rationale is read with the decision for as long as the referral is kept:
# a few words ("worried") do not say why.
MIN_RATIONALE = 20

# A stored time as an aware UTC datetime (SQLite hands them back naive).
UtcTime = Annotated[datetime, AfterValidator(as_utc)]

# Why a level was changed, as a view shows it: null when none was given.
REASON_SHOWN = "Why the level was changed, as a code (`OverrideReason`); null when none was given."


class FactorView(BaseModel):
    code: str
    label: str
    weight: int | None = Field(description="Null for a statutory indicator or a rule.")
    domain: str = Field(description="Assessment triangle domain, or age / history.")
    kind: str
    source: str


# The two deadlines an integrator meets, named apart: this one is triage's, for the hub.
DECIDE_BY = (
    "Triage's deadline, for the hub: when the threshold decision on this referral is "
    "due under the policy (working hours of the area's week; round the clock for red; "
    "none for universal services). Not the receiving agency's deadline: that is "
    "routing's respond_by."
)


class DecisionView(BaseModel):
    """What the policy decided, kept as decided."""

    level: int
    level_name: str
    priority: str
    score: int
    decide_by: UtcTime | None = Field(description=DECIDE_BY)
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
    reason_code: str | None = Field(default=None, description=REASON_SHOWN)
    by_name: str
    by_organisation: str
    at: UtcTime
    decide_by: UtcTime | None = Field(description=DECIDE_BY)
    requested_by_name: str | None = Field(
        default=None,
        description=(
            "Who asked for it, when it lowered the statutory level: a second person "
            "(`by_name`) approved it."
        ),
    )


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
    decide_by: UtcTime | None = Field(description=DECIDE_BY)
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
    reason_code: OverrideReason | None = Field(
        default=None,
        description=(
            "Why, as a code (optional; the partnership counts overrides by it). A step "
            "down from the statutory level keeps it until a second person approves, and "
            "the override made then carries it. One of:\n\n" + described()
        ),
    )


OverrideRequestStatus = Literal["pending", "approved", "refused", "withdrawn"]


class OverrideRequestView(BaseModel):
    """A request to lower a referral from the statutory level, and what became of it."""

    id: str
    referral_id: str
    from_level: int
    to_level: int
    rationale: str
    reason_code: str | None = Field(default=None, description=REASON_SHOWN)
    requested_by: str = Field(
        description="Who asked: an organisation (a system's key) or `<organisation>/<person id>`."
    )
    requested_by_name: str
    requested_at: UtcTime
    status: OverrideRequestStatus
    decided_by: str | None
    decided_by_name: str | None
    decided_at: UtcTime | None
    decision_note: str | None
    override_id: str | None = Field(description="The override an approval made.")
    stale: bool = Field(
        description=(
            "Pending, but the decision has changed since it was asked: it can no longer "
            "be approved (refuse or withdraw it, and ask again)."
        )
    )


class DecisionNote(CheckedText):
    """An approval or a withdrawal: who decides is the caller, never the body's."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"note"})

    note: str = Field(default="", max_length=4000, description="Optional: kept with the request.")


class RefusalNote(CheckedText):
    """A refusal says why, to the practitioner who asked and to whoever reads it later."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"note"})

    note: str = Field(
        min_length=MIN_RATIONALE,
        max_length=4000,
        description="Why the level stays: kept with the request.",
    )


# ---- a child's chronology, and practitioners' verdicts on its matches ---------------


class MatchView(BaseModel):
    """How a referral's naming of the child agrees with the child's other records, as
    matching judges it (practitioners' verdicts first). No names: the evidence is in
    words."""

    outcome: Literal["same", "possible", "different"] = Field(
        description="same: counted as this child; possible: perhaps, never counted; "
        "different: not this child (a practitioner split it)."
    )
    doubts: list[str] = Field(
        description='The confidence: what is only alike or missing ("family name only '
        'alike", "day and month transposed"...). Empty: nothing is in doubt.'
    )
    score: float | None = Field(
        description="Matching's score, to rank candidates against one another (about 1 "
        "for full agreement, 2 for a pupil number or a practitioner's confirm); null "
        "when the report named the child exactly as an earlier one did."
    )
    reason: str = Field(description="What agrees and what is only alike, in words.")


class MatchVerdictView(BaseModel):
    """A practitioner's confirm or split, with who, when and why."""

    id: str
    verdict: Literal["confirm", "split"]
    rationale: str
    by_name: str
    at: UtcTime


class ChronologyEntry(BaseModel):
    """One referral in a child's chronology: what was decided, and how surely it is this
    child's."""

    referral_id: str
    received_at: UtcTime
    reported_at: UtcTime
    source_kind: str = Field(description="police, school or other: who reported it.")
    level: int = Field(description="The level as it stands (after any override).")
    level_name: str
    priority: str
    concern_codes: list[str]
    counted: bool = Field(description="Counted as this child's (their history in later decisions).")
    match: MatchView | None = Field(
        description="Null for the report the child was first known by, with no other "
        "record to compare it with."
    )
    verdict: MatchVerdictView | None = Field(
        description="The latest practitioner's verdict on this referral's link."
    )


class ChildView(BaseModel):
    """A child's chronology across sources: which referrals belong together, never who
    the child is (the report, read through intake and recorded, holds that)."""

    subject_id: str = Field(description="The child's pseudonymous key.")
    referrals: list[ChronologyEntry] = Field(
        description="Counted (same) and perhaps this child's (possible) referrals, and "
        "those a practitioner split from the child; newest first."
    )


class ChildOfReferral(BaseModel):
    """Which child a referral is counted as, to open their chronology."""

    referral_id: str
    subject_id: str


class MatchVerdictRequest(CheckedText):
    """A practitioner's word on a referral's link to this child. Who gives it is the
    caller (a person), never the body's: an unknown field is refused."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"rationale"})

    referral_id: str = Field(min_length=1, max_length=40)
    verdict: Literal["confirm", "split"] = Field(
        description="confirm: the same child, counted; split: not this child."
    )
    rationale: str = Field(
        min_length=MIN_RATIONALE,
        max_length=4000,
        description="Why: recorded with the verdict and shown in the chronology.",
    )


class WorkingWeekView(BaseModel):
    """The area's working week from the active threshold policy: when working-hours
    clocks run. The console counts a deadline's working time left by it."""

    policy: PolicyView
    calendar: str = Field(description="Whose bank holidays: england-and-wales, scotland…")
    timezone: str = Field(description="IANA time zone of the working day, e.g. Europe/London")
    opens: str = Field(description="Local time the working day starts, HH:MM")
    closes: str = Field(description="Local time the working day ends, HH:MM")
    weekdays: list[int] = Field(description="Working weekdays, Monday = 0")
    closed_days: list[str] = Field(description="The area's own closure days (ISO dates)")


# ---- threshold policy versions: drafted, simulated, approved from a date -------------

PolicyVersionState = Literal["draft", "approved", "withdrawn"]
PolicyActKind = Literal["drafted", "simulated", "approved", "withdrawn"]
# Who acted, as a policy version records it.
ACTOR = "An organisation (a system's key) or `<organisation>/<person id>` (a person)."


class PolicyActView(BaseModel):
    """One act on a policy version, as the audit trail keeps it."""

    id: str
    act: PolicyActKind
    by: str = Field(description=ACTOR)
    by_name: str
    at: UtcTime
    detail: dict[str, Any] = Field(
        description="What the act concerned: `policy` (drafted: its id@version); "
        "`simulation_id`, `from`, `to`, `directory_version` (simulated); `simulation_id` "
        "and `activates_at` (approved: the simulation the approver saw); `was` and any "
        "`note` (withdrawn)."
    )


class PolicySimulationView(BaseModel):
    """A simulation recorded with a policy version: who ran it, when, over which period
    (without its summary: `GET .../simulations/{id}` has it)."""

    id: str
    version_id: str
    period_from: date = Field(description="The first UK date of the period (inclusive).")
    period_to: date = Field(description="The UK date the period ends before (exclusive).")
    directory_version: str | None = Field(
        description="The directory version the referrals were routed by (`draft` for a "
        "draft directory; null: none was stored)."
    )
    simulated_by: str = Field(description=ACTOR)
    simulated_by_name: str
    simulated_at: UtcTime


class PolicySimulationDetail(PolicySimulationView):
    """A recorded simulation with its summary, as the console computed it."""

    summary: dict[str, Any] = Field(
        description="`shared.simulation.Difference.summary()` as recorded: counts, the "
        "transition matrices, the safety review, agency load, drivers and the changed "
        "referrals (ids, levels, destinations and reasons; never a child's details)."
    )


class PolicyVersionItem(BaseModel):
    """A threshold policy version and where it stands."""

    id: str
    policy: PolicyView = Field(description="The document's own id and version.")
    area: str
    state: PolicyVersionState = Field(
        description="draft: waiting for a simulation and a second person's approval; "
        "approved: decides referrals from `activates_at`; withdrawn: never will."
    )
    in_force: bool = Field(
        description="This version decides the referrals received now (the newest approved "
        "version whose `activates_at` has passed)."
    )
    drafted_by: str = Field(description=ACTOR)
    drafted_by_name: str
    drafted_at: UtcTime
    approved_by: str | None = Field(default=None, description=ACTOR)
    approved_by_name: str | None = None
    approved_at: UtcTime | None = None
    activates_at: UtcTime | None = Field(
        default=None, description="When an approved version takes effect."
    )
    approved_simulation_id: str | None = Field(
        default=None, description="The simulation the approver saw."
    )
    withdrawn_by: str | None = Field(default=None, description=ACTOR)
    withdrawn_by_name: str | None = None
    withdrawn_at: UtcTime | None = None


class PolicyVersionView(PolicyVersionItem):
    """A threshold policy version whole: its document, its audit trail (oldest first)
    and the simulations recorded with it (newest first, without their summaries)."""

    document: dict[str, Any] = Field(description="The policy as drafted.")
    acts: list[PolicyActView]
    simulations: list[PolicySimulationView]


class PolicyInForce(BaseModel):
    """The threshold policy that decides the referrals received now."""

    policy: PolicyView
    version_id: str | None = Field(
        description="The approved version in force; null: the file policy (TRIAGE_POLICY_PATH)."
    )
    since: UtcTime | None = Field(description="When it took effect; null for the file policy.")


class PolicyVersionList(BaseModel):
    """The file policy (the base), what is in force now, and every version, newest first."""

    file_policy: PolicyView = Field(
        description="The policy of TRIAGE_POLICY_PATH: in force until an approved version is."
    )
    in_force: PolicyInForce
    versions: list[PolicyVersionItem]


class PolicyPeriod(CheckedText):
    """A period of received referrals, as the partnership measures take it: `from` the
    start of one UK date to the start of another (`to`, exclusive)."""

    model_config = ConfigDict(extra="forbid")

    from_: str = Field(
        alias="from", max_length=10, description="The period's first UK date (YYYY-MM-DD)."
    )
    to: str = Field(max_length=10, description="The UK date the period ends before (YYYY-MM-DD).")


class _SummaryPart(CheckedText):
    """A part of a recorded simulation: every field typed and bounded, nothing else
    (the console and triage ship together)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    multiline = frozenset({"stored_explanation", "draft_explanation"})


class SimulatedAbout(_SummaryPart):
    draft_policy: str = Field(max_length=110)
    live_policy: str = Field(max_length=110)
    from_: str = Field(alias="from", max_length=10)
    to: str = Field(max_length=10)
    directory_version: str | None = Field(default=None, max_length=64)


class SimulatedChanges(_SummaryPart):
    level: int = Field(ge=0)
    priority: int = Field(ge=0)
    destination: int = Field(ge=0)


class LevelTransition(_SummaryPart):
    from_: int = Field(alias="from", ge=1, le=5)
    to: int = Field(ge=1, le=5)
    referrals: int = Field(ge=0)


class DestinationTransition(_SummaryPart):
    from_: str = Field(alias="from", max_length=80)
    to: str = Field(max_length=80)
    referrals: int = Field(ge=0)


class SimulatedReferral(_SummaryPart):
    """One referral's two decisions, side by side (`shared.simulation.row_of`)."""

    referral_id: str = Field(max_length=40)
    received_at: datetime
    stored_level: int = Field(ge=1, le=5)
    draft_level: int = Field(ge=1, le=5)
    stored_priority: str = Field(max_length=10)
    draft_priority: str = Field(max_length=10)
    stored_destination: str = Field(max_length=80)
    draft_destination: str = Field(max_length=80)
    stored_score: int
    draft_score: int
    stored_rules: str = Field(max_length=4000)
    draft_rules: str = Field(max_length=4000)
    stored_explanation: str = Field(max_length=8000)
    draft_explanation: str = Field(max_length=8000)


class AgencyLoad(_SummaryPart):
    agency: str = Field(max_length=80)
    before: int = Field(ge=0)
    after: int = Field(ge=0)
    change: int
    capacity: int | None = None


class Driver(_SummaryPart):
    driver: str = Field(max_length=300)
    referrals: int = Field(ge=0)


class DeadlinesMissed(_SummaryPart):
    stored: int = Field(ge=0)
    draft: int = Field(ge=0)


class SimulationSummary(_SummaryPart):
    """`shared.simulation.Difference.summary()`, with what was simulated (`about`)."""

    about: SimulatedAbout
    referrals: int = Field(ge=0)
    changed: SimulatedChanges
    level_transitions: list[LevelTransition] = Field(max_length=25)
    destination_transitions: list[DestinationTransition] = Field(max_length=10_000)
    safety_review: list[SimulatedReferral] = Field(max_length=1_000_000)
    agency_load: list[AgencyLoad] = Field(max_length=10_000)
    drivers: list[Driver] = Field(max_length=10_000)
    deadlines_missed: DeadlinesMissed
    changed_referrals: list[SimulatedReferral] = Field(max_length=5000)
    changed_referrals_left_out: int = Field(ge=0)


class PolicySimulationCreate(PolicyPeriod):
    """A simulation the console ran (triage's `redecide`, routing's `reroute`, summed),
    recorded with the version for the approver to see. Who ran it is the caller."""

    directory_version: str | None = Field(
        default=None,
        max_length=64,
        description="The directory version the referrals were routed by (`draft` for a "
        "draft directory; null: none was stored).",
    )
    summary: SimulationSummary = Field(
        description="`shared.simulation.Difference.summary()` as the console computed it, "
        "with `about` (the draft's and the live policy's tags, the period, the directory)."
    )


def _this_millennium(value: datetime) -> datetime:
    """A time a policy can take effect at: in the years 2000 to 2999 (and so always one
    UTC can hold, whatever its offset)."""
    if not 2000 <= value.year <= 2999:
        raise ValueError("must be in the years 2000 to 2999")
    return value


class PolicyApproval(CheckedText):
    """A second person approves a simulated draft to take effect from a future time. Who
    approves is the caller (a person), never the body's."""

    model_config = ConfigDict(extra="forbid")

    simulation_id: str = Field(
        min_length=1, max_length=40, description="The simulation of this version the approver saw."
    )
    activates_at: Annotated[AwareDatetime, AfterValidator(_this_millennium)] = Field(
        description="When the version takes effect (ISO 8601 with an offset, in the years "
        "2000 to 2999): more than 60 seconds from now, so every triage replica has it first."
    )
