"""Intake follows each referral's journey from the events the other services emit,
so the referrer can see what happened (the feedback loop)."""

from __future__ import annotations

from functools import partial

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy.orm import defer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import JourneyStep, Report
from shared.clock import Clock, as_utc
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import EventType, ReferralRouted, ReferralStatus, ReferralTriaged, Topic
from shared.runtime import ServiceContext

_ORDER = ["received", "triaged", "routed"]

_DESTINATION_PHRASE = {
    "mash": "children's social care (the MASH), who will decide on statutory action",
    "hub": "the early intervention hub, who will agree the right support",
    "agency": "{name}, who are best placed to help",
}
UNIVERSAL_OUTCOME = "No further action by agencies: universal services advised."

# Why an agency declined or closed a referral, in the referrer's words.
_REASON_PHRASE = {
    "no_capacity": "they have no capacity just now",
    "not_eligible": "the child is not eligible for their service",
    "unable_to_contact": "they could not contact the family",
    "client_refused": "the family declined support",
    "no_longer_needed": "support is no longer needed",
    "already_supported": "the family is already supported",
    "no_further_action": "no further action is needed",
    "outside_catchment": "the family lives outside their area",
    "not_appropriate": "their service cannot meet these needs",
    "got_help": "support was given",
    "no_longer_interested": "the family is no longer interested",
    "couldnt_get_help": "the family could not get the help they needed",
    "no_response_within_sla": "they did not answer in time",
}

# The hub moved the referral on: the old destination's "cancelled" is not an ending.
_MOVED_BY_HUB = {"reassigned_by_hub", "overridden_by_hub"}


def routed_summary(kind: str, name: str) -> str:
    """Where the referral went, phrased for the referrer."""
    if kind == "universal":
        return UNIVERSAL_OUTCOME
    return f"Passed to {_DESTINATION_PHRASE[kind].format(name=name)}."


def status_summary(status: str, destination: str | None, reason_code: str | None) -> str:
    """A lifecycle step of the receiving agency, phrased for the referrer."""
    who = destination or "The receiving agency"
    if status == "cancelled" and reason_code in _MOVED_BY_HUB:
        return f"The hub moved the referral from {who} to better-placed support."
    if status == "requested" and reason_code == "no_response_within_sla":
        return f"The agency asked first did not answer in time: {who} has been asked instead."
    reason = _REASON_PHRASE.get(reason_code or "")
    because = f" because {reason}" if reason else ""
    phrases = {
        "requested": f"{who} has been asked to take the referral.",
        "accepted": f"Accepted by {who}, who will contact the family.",
        "in-progress": f"{who} is working with the family.",
        "rejected": f"Declined by {who}{because}; the hub will look for the right support.",
        "completed": f"Closed by {who}: support completed{because}.",
        "failed": f"Closed by {who} without support going ahead{because}.",
        "cancelled": f"Closed: the referral was withdrawn{because}; no further action.",
    }
    return phrases.get(status, f"Status: {status}.")


def _advance(report: Report, status: str) -> None:
    # Events for one referral can arrive from several topics; never step backwards.
    current = _ORDER.index(report.status) if report.status in _ORDER else len(_ORDER)
    target = _ORDER.index(status) if status in _ORDER else len(_ORDER)
    if target >= current:
        report.status = status


async def follow_journey(session: AsyncSession, event: BaseCloudEvent, *, clock: Clock) -> None:
    referral_id = event.get_subject()
    # The report's payload (the personal data) is not needed to follow its journey.
    report = (
        await session.exec(
            select(Report).where(Report.referral_id == referral_id).options(defer(Report.payload))  # type: ignore[arg-type]
        )
    ).first()
    if report is None:
        return  # not one of ours (another intake deployment)
    # The journey is ordered by when each step happened, not by when intake heard of
    # it: triaged and routed arrive on different topics, in either order.
    now = event.get_time() or clock.now()
    kind = event.get_type()
    if kind == EventType.REFERRAL_TRIAGED:
        triaged = event_data(event, ReferralTriaged)
        report.level, report.priority = triaged.level, triaged.priority
        _advance(report, "triaged")
        summary = f"Assessed at level {triaged.level} ({triaged.priority})."
        status = "triaged"
    elif kind == EventType.REFERRAL_ROUTED:
        routed = event_data(event, ReferralRouted)
        since = report.destination_routed_at
        if since is None or as_utc(since) <= routed.routed_at:
            # The latest destination, and the one who may read the report: an older
            # routing arriving late never hands it back to an agency it has left.
            destination = routed.destination
            report.destination_kind, report.destination_name = destination.kind, destination.name
            universal = destination.kind == "universal"
            report.destination_organisation = None if universal else destination.organisation
            report.destination_routed_at = routed.routed_at
        _advance(report, "routed")
        summary = routed_summary(routed.destination.kind, routed.destination.name)
        status = "routed"
    elif kind == EventType.REFERRAL_STATUS:
        changed = event_data(event, ReferralStatus)
        report.status = changed.status
        # The status event names its own destination: the routed event that named the
        # latest one travels on another topic and may not have arrived yet.
        name = changed.destination.name if changed.destination else report.destination_name
        summary = status_summary(changed.status, name, changed.reason_code)
        status = changed.status
    else:
        return
    report.updated_at = now
    session.add(report)
    session.add(
        JourneyStep(
            referral_id=report.referral_id,
            status=status,
            at=now,
            summary=summary,
            ce_id=event.get_id(),
        )
    )


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            group="intake-journey",
            topics=[Topic.REFERRAL_TRIAGED, Topic.REFERRAL_ROUTED, Topic.REFERRAL_STATUS],
            handler=partial(follow_journey, clock=ctx.clock),
        )
    ]
