"""Triage's consumer: referral.received, as it comes off the bus, is decided in the unit
of work the consumer gives the handler, and referral.triaged is recorded in it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from services.triage import definition
from services.triage.models import TriageDecision
from shared.clock import Clock
from shared.db import Database
from shared.envelope import event_data, from_record, new_event, to_record
from shared.events import EventType, ReferralTriaged, Topic
from tests.services.conftest import service_context
from tests.services.triage.helpers import NOW, received


async def test_a_received_referral_is_triaged_in_the_consumer_s_unit_of_work(
    db: Database, tmp_path: Path
) -> None:
    ctx = service_context(definition, db.url, tmp_path, clock=Clock(NOW))
    [subscription] = definition.subscriptions(ctx)
    assert (subscription.group, list(subscription.topics)) == (
        "triage",
        [Topic.REFERRAL_RECEIVED],
    )
    referral = received("ref_1", "sub_a", reported_at=NOW - timedelta(hours=1))
    sent = new_event(
        type=EventType.REFERRAL_RECEIVED,
        source="/signpost/intake/test",
        subject=referral.referral_id,
        partitionkey=referral.subject_key,
        data=referral,
        time=NOW,
    )
    try:
        async with ctx.units.open() as uow:
            await subscription.handler(uow, from_record(to_record(sent)))
            [triaged] = uow.recorded
            await uow.complete()
    finally:
        await ctx.db.dispose()

    assert triaged.get_type() == EventType.REFERRAL_TRIAGED
    assert triaged.get_source() == ctx.source
    assert event_data(triaged, ReferralTriaged).policy_id == "demoshire"  # the default
    async with db.session() as session:
        [row] = (await session.exec(select(TriageDecision))).all()
    assert (row.referral_id, row.partition_key, row.decided_at) == ("ref_1", "sub_a", NOW)
