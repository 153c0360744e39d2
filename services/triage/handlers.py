"""Triage consumes referral.received, decides the level, and emits referral.triaged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.triage.models import TriageDecision
from services.triage.rules import CUMULATIVE_WINDOW_DAYS, age_on, decide
from shared.consuming import Subscription
from shared.envelope import event_data, new_event
from shared.events import EventType, ReferralReceived, ReferralTriaged, Topic
from shared.outbox import stage
from shared.runtime import ServiceContext


def make_handler(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    async def triage(session: AsyncSession, event: BaseCloudEvent) -> None:
        received = event_data(event, ReferralReceived)
        report = received.report
        window_start = report.reported_at - timedelta(days=CUMULATIVE_WINDOW_DAYS)
        recent = (
            await session.exec(
                select(func.count())
                .select_from(TriageDecision)
                .where(
                    TriageDecision.subject_key == received.subject_key,
                    col(TriageDecision.reported_at) >= window_start,
                    col(TriageDecision.reported_at) <= report.reported_at,
                    # Earlier versions of the same report are one concern, not several.
                    col(TriageDecision.referral_id).not_in(
                        [received.referral_id, *received.supersedes]
                    ),
                )
            )
        ).one()
        codes = [c.code for c in report.concerns]
        decision = decide(
            concern_codes=codes, immediate_risk=report.immediate_risk, recent_concerns=int(recent)
        )
        now = datetime.now(UTC)
        session.add(
            TriageDecision(
                referral_id=received.referral_id,
                subject_key=received.subject_key,
                level=decision.level,
                priority=decision.priority,
                reasons=decision.reasons,
                policy_version=decision.policy_version,
                concern_codes=codes,
                reported_at=report.reported_at,
                decided_at=now,
            )
        )
        stage(
            session,
            new_event(
                type=EventType.REFERRAL_TRIAGED,
                source=ctx.source,
                subject=received.referral_id,
                partitionkey=received.subject_key,
                data=ReferralTriaged(
                    referral_id=received.referral_id,
                    subject_key=received.subject_key,
                    level=decision.level,
                    priority=decision.priority,
                    concern_codes=codes,
                    immediate_risk=report.immediate_risk,
                    reasons=decision.reasons,
                    policy_version=decision.policy_version,
                    decided_at=now,
                    source_kind=report.source.kind,
                    referrer_organisation=report.source.organisation,
                    child_age_years=age_on(report.child.date_of_birth, report.reported_at.date()),
                    postcode_district=report.child.address.postcode.split(" ")[0],
                ),
            ),
        )

    return triage


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(group="triage", topics=[Topic.REFERRAL_RECEIVED], handler=make_handler(ctx))
    ]
