"""Triage's tables: the subject index (child, household), one decision per referral
with its explanation, every practitioner override beside the original, and the
threshold policy versions drafted, simulated and approved through the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Subject(SQLModel, table=True):
    """A child as triage knows them, across reports and sources.

    `key` is pseudonymous: the subject key intake gave the first report about the
    child (a keyed hash), never a name.
    """

    __tablename__ = "triage_subject"

    key: str = Field(primary_key=True, max_length=64)
    household_key: str | None = Field(default=None, index=True, max_length=64)
    created_at: datetime


class SubjectIdentity(SQLModel, table=True):
    """How one report named its child: what later reports are matched against."""

    __tablename__ = "triage_subject_identity"

    referral_id: str = Field(primary_key=True, max_length=40)
    subject_key: str = Field(index=True, max_length=64)
    given_name: str = Field(max_length=100)
    family_name: str = Field(max_length=100)
    date_of_birth: date = Field(index=True)
    postcode: str | None = Field(default=None, index=True, max_length=8)
    upn: str | None = Field(default=None, index=True, max_length=13)
    # [{given_name, family_name, date_of_birth?}]: household members and children present.
    members: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))


class TriageDecision(SQLModel, table=True):
    """The policy's decision for one referral, kept as decided; `level` and `priority`
    are as they stand after any override (the original stays in `decided_level`)."""

    __tablename__ = "triage_decision"

    referral_id: str = Field(primary_key=True, max_length=40)
    subject_key: str = Field(index=True, max_length=64)
    # The key the referral's events are partitioned by (intake's), reused by overrides.
    partition_key: str = Field(max_length=64)
    household_key: str | None = Field(default=None, index=True, max_length=64)
    level: int
    priority: str = Field(max_length=8)
    decided_level: int
    decided_priority: str = Field(max_length=8)
    level_name: str = Field(max_length=80)
    score: int = 0
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    factors: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    rules: list[str] = Field(sa_column=Column(JSON, nullable=False))
    rationale: str
    policy_id: str = Field(default="", max_length=40)
    policy_version: str = Field(max_length=40)
    concern_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    member_flags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    immediate_risk: bool = False
    reported_at: datetime = Field(index=True)
    received_at: datetime
    decided_at: datetime
    decide_by: datetime | None = None
    revision: int = 0
    # What the triaged event needs again when an override re-emits it.
    source_kind: str = Field(max_length=16)
    referrer_organisation: str = Field(max_length=64)
    child_age_years: int | None = None
    postcode_district: str | None = Field(default=None, max_length=4)
    # [{subject_key, reason, referral_ids}]: earlier records perhaps about this child,
    # found when it was decided and not counted. None: decided before they were kept.
    possible_matches: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    # [{code, terms}]: concerns the narrative names that the report's codes do not
    # (narrative.suspected_concerns). Any: the decision needs a practitioner's review;
    # the level is never changed by them. None: decided before they were looked for.
    suspected_concerns: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class TriageOverride(SQLModel, table=True):
    """A hub practitioner's change of level, with who, when and why (a rationale, and
    a reason code when one was given)."""

    __tablename__ = "triage_override"

    id: str = Field(primary_key=True, max_length=40)
    referral_id: str = Field(index=True, max_length=40)
    revision: int
    from_level: int
    to_level: int
    priority: str = Field(max_length=8)
    rationale: str
    # An `OverrideReason` code; None: none given (or made before codes were kept).
    reason_code: str | None = Field(default=None, max_length=40)
    by_client_id: str = Field(max_length=40)
    by_name: str = Field(max_length=200)
    by_organisation: str = Field(max_length=100)
    at: datetime
    decide_by: datetime | None = None


class TriageOverrideRequest(SQLModel, table=True):
    """A practitioner's request to lower a referral from the policy's statutory level,
    waiting for a second person: who asked, when and why, and who approved or refused
    it (or that the requester withdrew it). Approved, it names the override it became.

    `requested_by` and `decided_by` are `Principal.actor`: the organisation for a
    system's key, `<organisation>/<person id>` for a person."""

    __tablename__ = "triage_override_request"

    id: str = Field(primary_key=True, max_length=40)
    referral_id: str = Field(index=True, max_length=40)
    # The decision's revision it was asked against: approved only while it still stands.
    revision: int
    from_level: int
    to_level: int
    rationale: str
    # An `OverrideReason` code, carried onto the override an approval makes.
    reason_code: str | None = Field(default=None, max_length=40)
    requested_by: str = Field(max_length=100)
    requested_by_name: str = Field(max_length=200)
    requested_at: datetime
    status: str = Field(max_length=10)  # pending, approved, refused, withdrawn
    decided_by: str | None = Field(default=None, max_length=100)
    decided_by_name: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = None
    decision_note: str | None = None
    override_id: str | None = Field(default=None, max_length=40)


class MatchVerdict(SQLModel, table=True):
    """A practitioner's confirm or split of a referral's link to a child, with who, when
    and why, and the identities it is about: the one the referral named the child by
    (`identity_id`, a `SubjectIdentity`'s referral id) against the child's identities as
    they stood (`other_identity_ids`). Later reports are matched with it
    (`matching.Verdicts`); past decisions stand as decided."""

    __tablename__ = "triage_match_verdict"

    id: str = Field(primary_key=True, max_length=40)
    subject_key: str = Field(index=True, max_length=64)
    referral_id: str = Field(index=True, max_length=40)
    identity_id: str = Field(index=True, max_length=40)
    other_identity_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    verdict: str = Field(max_length=8)  # confirm, split
    rationale: str
    by_person_id: str = Field(max_length=40)
    by_name: str = Field(max_length=200)
    at: datetime


class PolicyVersion(SQLModel, table=True):
    """A threshold policy drafted through the API, and what became of it: approved by a
    second person to take effect from `activates_at` (with the simulation they saw), or
    withdrawn. The file policy (TRIAGE_POLICY_PATH) is in force until an approved
    version's time comes; the newest approved version whose time has come is.

    `drafted_by`, `approved_by` and `withdrawn_by` are `Principal.actor`: the
    organisation for a system's key, `<organisation>/<person id>` for a person."""

    __tablename__ = "triage_policy_version"
    __table_args__ = (
        UniqueConstraint("policy_id", "version", name="uq_triage_policy_version_policy_version"),
    )

    id: str = Field(primary_key=True, max_length=40)
    # The document's own id and version (`ThresholdPolicy.id`, `.version`).
    policy_id: str = Field(max_length=64)
    version: str = Field(max_length=40)
    # The policy as drafted (checked then: valid and sound).
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(max_length=10)  # draft, approved, withdrawn
    drafted_by: str = Field(max_length=100)
    drafted_by_name: str = Field(max_length=200)
    drafted_at: datetime
    approved_by: str | None = Field(default=None, max_length=100)
    approved_by_name: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = None
    activates_at: datetime | None = None
    # The simulation the approver saw (a `PolicySimulation` of this version).
    approved_simulation_id: str | None = Field(default=None, max_length=40)
    withdrawn_by: str | None = Field(default=None, max_length=100)
    withdrawn_by_name: str | None = Field(default=None, max_length=200)
    withdrawn_at: datetime | None = None


class PolicySimulation(SQLModel, table=True):
    """What a drafted version would have done to the referrals received in a period, as
    the console summed it (`shared.simulation.Difference.summary()`) and recorded it for
    the approver to see: who ran it, when, over which period and directory version."""

    __tablename__ = "triage_policy_simulation"

    id: str = Field(primary_key=True, max_length=40)
    version_id: str = Field(index=True, max_length=40)
    # The period's first UK date and the date it ends before (`shared.measures.Period`).
    period_start: date
    period_end: date
    # The directory version the referrals were routed by (None: none was stored).
    directory_version: str | None = Field(default=None, max_length=64)
    # The summary as JSON text: a few MB for a year's changed referrals, read only when
    # one simulation is opened.
    summary: str = Field(sa_column=Column(Text, nullable=False))
    simulated_by: str = Field(max_length=100)
    simulated_by_name: str = Field(max_length=200)
    simulated_at: datetime


class PolicyAct(SQLModel, table=True):
    """The audit trail of policy versions: one row per act (drafted, simulated, approved,
    withdrawn), with who, when, and what it concerned (`detail`: the simulation's id,
    the time a version activates...)."""

    __tablename__ = "triage_policy_act"

    id: str = Field(primary_key=True, max_length=40)
    version_id: str = Field(index=True, max_length=40)
    act: str = Field(max_length=10)
    by: str = Field(max_length=100)
    by_name: str = Field(max_length=200)
    at: datetime
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
