"""Triage consumes referral.received, decides the level, and emits referral.triaged."""

from __future__ import annotations

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent
from sqlmodel.ext.asyncio.session import AsyncSession

from services.triage.policy import ThresholdPolicy, load_policy
from services.triage.service import triage
from shared.consuming import Subscription
from shared.envelope import event_data, new_event
from shared.events import EventType, ReferralReceived, ReferralTriaged, Topic
from shared.outbox import stage
from shared.runtime import ServiceContext


def policy_of(ctx: ServiceContext) -> ThresholdPolicy:
    """The area's threshold policy, loaded once (a bad file stops the service at start)."""
    policy = ctx.state.get("policy")
    if policy is None:
        policy = load_policy(ctx.settings.triage_policy_path)
        ctx.state["policy"] = policy
    assert isinstance(policy, ThresholdPolicy)
    return policy


def triaged_cloudevent(ctx: ServiceContext, data: ReferralTriaged, partitionkey: str) -> CloudEvent:
    """referral.triaged, keyed like every other event about the referral."""
    return new_event(
        type=EventType.REFERRAL_TRIAGED,
        source=ctx.source,
        subject=data.referral_id,
        partitionkey=partitionkey,
        data=data,
        time=ctx.clock.now(),
    )


def make_handler(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    async def on_received(session: AsyncSession, event: BaseCloudEvent) -> None:
        received = event_data(event, ReferralReceived)
        row, triaged = await triage(
            session, policy=policy_of(ctx), received=received, now=ctx.clock.now()
        )
        stage(session, triaged_cloudevent(ctx, triaged, row.partition_key))

    return on_received


async def on_start(ctx: ServiceContext) -> None:
    policy_of(ctx)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(group="triage", topics=[Topic.REFERRAL_RECEIVED], handler=make_handler(ctx))
    ]
