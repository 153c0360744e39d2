"""Routing consumes referral.triaged, picks the destination, emits referral.routed."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.routing.decide import route
from services.routing.directory import Directory, load_directory
from services.routing.models import RoutingDecision
from shared.consuming import Subscription
from shared.envelope import event_data, new_event
from shared.events import Destination, EventType, ReferralRouted, ReferralTriaged, Topic
from shared.outbox import stage
from shared.runtime import ServiceContext

OPEN_STATUSES = ("requested", "accepted", "in-progress")


def directory_of(ctx: ServiceContext) -> Directory:
    directory = ctx.state.get("directory")
    if directory is None:
        directory = load_directory(ctx.settings.directory_path)
        ctx.state["directory"] = directory
    assert isinstance(directory, Directory)
    return directory


async def _open_referrals(session: AsyncSession) -> dict[str, int]:
    rows = (
        await session.exec(
            select(RoutingDecision.destination_id, func.count())
            .where(col(RoutingDecision.status).in_(OPEN_STATUSES))
            .where(col(RoutingDecision.destination_id).is_not(None))
            .group_by(RoutingDecision.destination_id)
        )
    ).all()
    return {str(agency_id): int(count) for agency_id, count in rows}


def make_handler(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    async def route_referral(session: AsyncSession, event: BaseCloudEvent) -> None:
        triaged = event_data(event, ReferralTriaged)
        earlier = await session.get(RoutingDecision, triaged.referral_id)
        if earlier is not None and earlier.triage_revision >= triaged.revision:
            return  # routed already on this or a later triage decision
        directory = directory_of(ctx)
        routing = route(
            level=triaged.level,
            concern_codes=triaged.concern_codes,
            age=triaged.child_age_years,
            postcode_district=triaged.postcode_district,
            open_referrals=await _open_referrals(session),
            directory=directory,
            top_level=triaged.top_level or 4,
        )
        now = datetime.now(UTC)
        agency = routing.destination
        respond_by = now + timedelta(hours=agency.response_sla_hours) if agency else None
        if earlier is not None:
            # Re-triaged (an override): this decision replaces the earlier one.
            await session.delete(earlier)
            await session.flush()
        session.add(
            RoutingDecision(
                triage_revision=triaged.revision,
                referral_id=triaged.referral_id,
                subject_key=triaged.subject_key,
                level=triaged.level,
                priority=triaged.priority,
                destination_kind=routing.destination_kind,
                destination_id=agency.id if agency else None,
                reason_codes=routing.reason_codes,
                considered=[asdict(c) for c in routing.considered],
                directory_version=directory.version,
                status="requested" if agency else "completed",
                routed_at=now,
                respond_by=respond_by,
            )
        )
        destination = (
            Destination(
                kind=routing.destination_kind,
                id=agency.id,
                organisation=agency.organisation,
                name=agency.name,
            )
            if agency
            else Destination(
                kind="universal", id="universal", organisation="none", name="Universal services"
            )
        )
        stage(
            session,
            new_event(
                type=EventType.REFERRAL_ROUTED,
                source=ctx.source,
                subject=triaged.referral_id,
                partitionkey=triaged.subject_key,
                data=ReferralRouted(
                    referral_id=triaged.referral_id,
                    destination=destination,
                    level=triaged.level,
                    priority=triaged.priority,
                    reason_codes=routing.reason_codes,
                    directory_version=directory.version,
                    routed_at=now,
                    referrer_organisation=triaged.referrer_organisation,
                    respond_by=respond_by,
                ),
            ),
        )

    return route_referral


async def on_start(ctx: ServiceContext) -> None:
    directory_of(ctx)  # a bad directory file stops the service at start, not mid-flow


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(group="routing", topics=[Topic.REFERRAL_TRIAGED], handler=make_handler(ctx))
    ]
