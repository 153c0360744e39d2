"""The event contract: CloudEvents types, topics and the pydantic models of their data.

Within a `.v1` type only additive changes are allowed; a breaking change is a new type.
`referral.received`, `referral.triaged` and `encompass.notice` are internal topics. The
partner-facing topics (`referral.routed`, `referral.status`, `referral.pathway`,
`encompass.alert`) carry no personal data: ids, destination, level, priority, deadlines
and reason codes only.

Any event may also carry the CloudEvents Distributed Tracing extension (`traceparent`,
`tracestate`; see shared.tracing): optional, so an event without it is as valid as ever.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.report import ConcernReport, Whereabouts


class EventType(StrEnum):
    REFERRAL_RECEIVED = "org.signpost.referral.received.v1"
    REFERRAL_TRIAGED = "org.signpost.referral.triaged.v1"
    REFERRAL_ROUTED = "org.signpost.referral.routed.v1"
    REFERRAL_STATUS = "org.signpost.referral.status.v1"
    REFERRAL_PATHWAY = "org.signpost.referral.pathway.v1"
    NOTIFICATION_DELIVERY = "org.signpost.notification.delivery.v1"
    ENCOMPASS_NOTICE = "org.signpost.encompass.notice.v1"
    ENCOMPASS_ALERT = "org.signpost.encompass.alert.v1"


class Topic(StrEnum):
    REFERRAL_RECEIVED = "referral.received"
    REFERRAL_TRIAGED = "referral.triaged"
    REFERRAL_ROUTED = "referral.routed"
    REFERRAL_STATUS = "referral.status"
    REFERRAL_PATHWAY = "referral.pathway"
    NOTIFICATION_DELIVERY = "notification.delivery"
    ENCOMPASS_NOTICE = "encompass.notice"
    ENCOMPASS_ALERT = "encompass.alert"


TOPIC_OF: dict[EventType, Topic] = {
    EventType.REFERRAL_RECEIVED: Topic.REFERRAL_RECEIVED,
    EventType.REFERRAL_TRIAGED: Topic.REFERRAL_TRIAGED,
    EventType.REFERRAL_ROUTED: Topic.REFERRAL_ROUTED,
    EventType.REFERRAL_STATUS: Topic.REFERRAL_STATUS,
    EventType.REFERRAL_PATHWAY: Topic.REFERRAL_PATHWAY,
    EventType.NOTIFICATION_DELIVERY: Topic.NOTIFICATION_DELIVERY,
    EventType.ENCOMPASS_NOTICE: Topic.ENCOMPASS_NOTICE,
    EventType.ENCOMPASS_ALERT: Topic.ENCOMPASS_ALERT,
}

PARTNER_FACING: frozenset[EventType] = frozenset(
    {
        EventType.REFERRAL_ROUTED,
        EventType.REFERRAL_STATUS,
        EventType.REFERRAL_PATHWAY,
        EventType.ENCOMPASS_ALERT,
    }
)

# Sent by webhook only to the one organisation it is addressed to, cut down to what the
# area's sharing policy lets that kind of partner see. Its topic is internal: it
# carries personal data about children in every school of the area.
ADDRESSED: frozenset[EventType] = frozenset({EventType.ENCOMPASS_NOTICE})

# Every event type a webhook subscription may ask for.
WEBHOOK_TYPES: frozenset[EventType] = PARTNER_FACING | ADDRESSED


def dlq_topic(topic: str) -> str:
    """The dead-letter twin of a topic."""
    return f"{topic}.dlq"


def all_topics() -> list[str]:
    """Every topic Signpost uses, dead-letter twins included."""
    names = [t.value for t in Topic]
    return names + [dlq_topic(n) for n in names]


Level = int
Priority = Literal["red", "amber", "green", "blue"]
# `pathway`: a statutory route of its own (Prevent, private fostering, children missing
# education), told alongside wherever the referral itself goes (referral.pathway).
DestinationKind = Literal["agency", "hub", "mash", "universal", "pathway"]
ReferralState = Literal[
    "received",
    "triaged",
    "routed",
    "requested",
    "accepted",
    "rejected",
    "in-progress",
    "completed",
    "failed",
    "cancelled",
]


class ReasonCode(StrEnum):
    """Why a referral went where it went, or moved on: the codes partners read on
    `referral.routed` (`reason_codes`) and `referral.status` (`reason_code`)."""

    # Routing's decision (referral.routed).
    STATUTORY_LEVEL = "statutory_level"
    MULTI_AGENCY_LEVEL = "multi_agency_level"
    NEEDS_SPAN_AGENCIES = "needs_span_agencies"
    NO_SINGLE_AGENCY_SUITABLE = "no_single_agency_suitable"
    SINGLE_AGENCY_BEST_PLACED = "single_agency_best_placed"
    UNIVERSAL_SERVICES_ADVISED = "universal_services_advised"
    # Triage found the narrative naming concerns its codes do not: the hub reviews it.
    NEEDS_REVIEW = "needs_review"
    # A statutory pathway (referral.pathway): told to the pathway's own destination, or
    # to the hub to make the notification when the directory has none for the child.
    STATUTORY_PATHWAY = "statutory_pathway"
    PATHWAY_DESTINATION_MISSING = "pathway_destination_missing"
    # Moved on by the hub or by the clock.
    OVERRIDDEN_BY_HUB = "overridden_by_hub"
    REASSIGNED_BY_HUB = "reassigned_by_hub"
    DECLINED_BY_AGENCY = "declined_by_agency"
    NO_RESPONSE_WITHIN_SLA = "no_response_within_sla"
    # An agency's reason for declining.
    NO_CAPACITY = "no_capacity"
    NOT_ELIGIBLE = "not_eligible"
    OUTSIDE_CATCHMENT = "outside_catchment"
    ALREADY_SUPPORTED = "already_supported"
    NOT_APPROPRIATE = "not_appropriate"
    # How a referral closed (completed or failed).
    GOT_HELP = "got_help"
    NO_FURTHER_ACTION = "no_further_action"
    NO_LONGER_NEEDED = "no_longer_needed"
    UNABLE_TO_CONTACT = "unable_to_contact"
    CLIENT_REFUSED = "client_refused"
    NO_LONGER_INTERESTED = "no_longer_interested"
    COULDNT_GET_HELP = "couldnt_get_help"


class EventData(BaseModel):
    """Base of every event's data: unknown fields from newer producers are kept."""

    model_config = ConfigDict(extra="allow")


class ReferralReceived(EventData):
    """Internal: a report as accepted by intake. Carries personal data; never partner-facing."""

    referral_id: str
    subject_key: str
    client_id: str
    received_at: AwareDatetime
    report: ConcernReport
    # Earlier versions of this report (same organisation and source.reference), newest
    # first: consumers count the concern once, not once per version.
    supersedes: list[str] = Field(default_factory=list)


class TriageOverrideNote(EventData):
    """A hub practitioner changed the level of a referral, and why."""

    original_level: Level = Field(ge=1, le=5, description="The policy's own decision.")
    from_level: Level = Field(ge=1, le=5)
    rationale: str
    by_organisation: str
    overridden_at: AwareDatetime


class ReferralTriaged(EventData):
    """Internal: the threshold decision for one referral.

    A referral is triaged again when a practitioner overrides its level: the same
    referral_id with a higher `revision` and `override` set; consumers keep the
    highest revision.
    """

    referral_id: str
    subject_key: str
    level: Level = Field(ge=1, le=5)
    priority: Priority
    concern_codes: list[str]
    immediate_risk: bool
    reasons: list[str]
    policy_version: str
    decided_at: AwareDatetime
    source_kind: Literal["police", "school"]
    referrer_organisation: str
    child_age_years: int | None = None
    postcode_district: str | None = None
    # Added by the threshold-policy issue (all optional: older producers omit them).
    decide_by: AwareDatetime | None = Field(
        default=None,
        description="Triage's deadline, for the hub: when the threshold decision on this "
        "referral is due under the policy. Not the agency's respond_by (referral.routed).",
    )
    level_name: str | None = None
    top_level: Level | None = Field(
        default=None, ge=4, le=5, description="The policy's top level (4 or 5)."
    )
    policy_id: str | None = None
    rationale: str | None = None
    revision: int = Field(default=0, ge=0)
    override: TriageOverrideNote | None = None
    # Added by the routing issue: the child's local authority (GSS code), when known,
    # for agencies whose catchment is a local authority.
    local_authority_code: str | None = None
    # Added by vocabulary v2 (issue 13): the narrative names concerns the codes do not.
    needs_review: bool = Field(
        default=False,
        description=(
            "The narrative names concerns the report's codes do not (`suspected_codes`): "
            "routing sends the referral to the hub to review, its level unchanged. False "
            "on a practitioner's override, which is that review."
        ),
    )
    suspected_codes: list[str] = Field(default_factory=list)
    # Added by the measures issue (16): when intake received the report, so routing can
    # count the time from receipt to the agency's accept from its own tables.
    received_at: AwareDatetime | None = Field(
        default=None, description="When intake received the report (older producers omit it)."
    )


class Destination(EventData):
    kind: DestinationKind
    id: str
    organisation: str
    name: str


class ReferralRouted(EventData):
    """Partner-facing: where a referral went and why, as codes. No personal data."""

    referral_id: str
    destination: Destination
    level: Level = Field(ge=1, le=5)
    priority: Priority
    reason_codes: list[ReasonCode]
    directory_version: str
    routed_at: AwareDatetime
    referrer_organisation: str
    respond_by: datetime | None = Field(
        default=None,
        description="Routing's deadline, for the destination: when it must accept or "
        "decline; then the referral escalates to the hub. Not triage's decide_by.",
    )


class ReferralStatus(EventData):
    """Partner-facing: a step in a referral's lifecycle. No personal data."""

    referral_id: str
    status: ReferralState
    destination_id: str | None = None
    reason_code: ReasonCode | None = None
    occurred_at: AwareDatetime
    referrer_organisation: str
    # Added by the closed-loop issue (optional: older producers omit them). The
    # destination the status is about, so the agency it concerns is told too.
    destination: Destination | None = None
    respond_by: AwareDatetime | None = Field(
        default=None,
        description="Routing's deadline, for the destination: when it must accept or "
        "decline (requested); then the referral escalates to the hub. Not triage's decide_by.",
    )


class ReferralPathway(EventData):
    """Partner-facing: a referral told to a statutory pathway of its own (a Prevent
    referral, a private fostering notification, a children missing education
    notification), alongside wherever the referral itself went. No personal data: the
    pathway's destination reads the report through the API, audited."""

    referral_id: str
    pathway: str = Field(
        description="prevent, private_fostering or children_missing_education (see "
        "`pathway` in GET /v1/vocabulary)."
    )
    destination: Destination
    level: Level = Field(ge=1, le=5)
    priority: Priority
    reason_code: ReasonCode = Field(
        description="statutory_pathway; pathway_destination_missing when the directory "
        "has no destination for this pathway covering the child, so the hub is asked to "
        "make the notification."
    )
    directory_version: str
    notified_at: AwareDatetime
    referrer_organisation: str


class NotificationDelivery(EventData):
    """An attempt outcome of a webhook delivery (for operators and dashboards)."""

    delivery_id: str
    subscription_id: str
    organisation: str
    event_type: str
    referral_id: str | None = None
    outcome: Literal["delivered", "retrying", "parked"]
    attempts: int
    response_status: int | None = None
    occurred_at: AwareDatetime


class EncompassChild(EventData):
    """The child a school (or the local authority) is told about."""

    given_name: str
    family_name: str
    date_of_birth: date | None = None
    present: bool | None = Field(
        default=None,
        description="True: the police list the child as present at the incident; "
        "null: the report does not say.",
    )
    whereabouts: Whereabouts | None = Field(
        default=None, description="Where the child was during the incident, when present."
    )
    voice_of_the_child: str | None = None


class EncompassIncident(EventData):
    """That a domestic abuse incident happened, when and where: never the narrative."""

    police_reference: str = Field(description="The police incident reference.")
    occurred_at: AwareDatetime
    location: str
    location_postcode: str | None = None
    circumstances: str | None = Field(
        default=None, description="What the police wrote for the school, if anything."
    )


class EncompassNotice(EventData):
    """Internal: Operation Encompass. A police-reported domestic abuse incident involving
    a child of school age, which the child's school (or, for a home-educated child, the
    local authority) must hear of before the next school day starts.

    Carries personal data: on its topic it is internal; by webhook each recipient is
    sent only what the area's sharing policy grants its kind of partner.
    """

    notice_id: str
    referral_id: str
    referrer_organisation: str
    referrer_reference: str
    school_urn: str | None = None
    home_educated: bool = False
    child: EncompassChild
    incident: EncompassIncident
    received_at: AwareDatetime
    supersedes: list[str] = Field(
        default_factory=list,
        description="Earlier versions of the police report (their referral ids), newest first.",
    )
    # Set by notify on what it sends: who the notice is addressed to, and by when.
    recipient_organisation: str | None = None
    notify_by: AwareDatetime | None = Field(
        default=None, description="The start of the recipient's next school day."
    )


class EncompassAlert(EventData):
    """Partner-facing: an Operation Encompass notice has not reached its recipient by the
    start of the school day, or has no way to reach it. Ids only: whoever acts on it
    (the hub, the police) telephones the school with the notice id."""

    notice_id: str
    referral_id: str
    referrer_organisation: str
    recipient_organisation: str
    recipient_kind: Literal["school", "local_authority"]
    school_urn: str | None = None
    reason: Literal["deadline_missed", "no_subscription"] = Field(
        description=(
            "deadline_missed: not delivered or acknowledged before the school day started. "
            "no_subscription: the recipient has no active webhook subscription for notices."
        )
    )
    notify_by: AwareDatetime
    received_late: bool = Field(
        description="The police report reached Signpost after the deadline had passed."
    )
    notified_at: AwareDatetime | None = Field(
        default=None,
        description="When the notice did reach its recipient, if it did (after the deadline).",
    )
    raised_at: AwareDatetime


DATA_MODEL: dict[EventType, type[EventData]] = {
    EventType.REFERRAL_RECEIVED: ReferralReceived,
    EventType.REFERRAL_TRIAGED: ReferralTriaged,
    EventType.REFERRAL_ROUTED: ReferralRouted,
    EventType.REFERRAL_STATUS: ReferralStatus,
    EventType.REFERRAL_PATHWAY: ReferralPathway,
    EventType.NOTIFICATION_DELIVERY: NotificationDelivery,
    EventType.ENCOMPASS_NOTICE: EncompassNotice,
    EventType.ENCOMPASS_ALERT: EncompassAlert,
}
