"""On PostgreSQL, two notify replicas claiming due deliveries at the same moment never
claim the same one (FOR UPDATE SKIP LOCKED and a lease), a claim whose attempt was
never recorded (the replica died) becomes due again when its lease runs out, and a
claim reads what waits, not every delivery a subscription has had."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, col, select, update

from services.notify import definition, repository
from services.notify.loops import Dispatcher
from services.notify.models import Delivery, WebhookSubscription
from services.notify.settings import settings_of
from shared.clock import as_utc
from shared.db import table_of
from shared.outbox import InboxEntry, OutboxMessage
from shared.runtime import ServiceContext
from tests.conftest import rows_read
from tests.services.conftest import service_context

pytestmark = pytest.mark.postgres


def replica(url: str, tmp_path: Path, name: str) -> ServiceContext:
    return service_context(definition, url, tmp_path / name)


async def test_two_replicas_never_claim_the_same_delivery(
    postgres_url: str, tmp_path: Path
) -> None:
    contexts = [replica(postgres_url, tmp_path, n) for n in ("a", "b")]
    first, second = (Dispatcher(ctx) for ctx in contexts)
    try:
        models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
        await contexts[0].db.create_tables([table_of(m) for m in models])
        async with contexts[0].db.session() as session:
            session.add(
                WebhookSubscription(
                    id="sub_pg",
                    organisation="demoshire-hub",
                    client_kind="hub",
                    client_id="c",
                    url="http://127.0.0.1:9/hooks",
                    event_types=["org.signpost.referral.routed.v1"],
                    secret="whsec_" + "A" * 32,
                    created_at=datetime.now(UTC),
                )
            )
            for i in range(40):
                session.add(
                    Delivery(
                        id=f"msg_pg_{i}",
                        subscription_id="sub_pg",
                        referral_id=f"ref_pg_{i}",
                        event_type="org.signpost.referral.routed.v1",
                        body="{}",
                        next_attempt_at=datetime.now(UTC),
                        created_at=datetime.now(UTC),
                    )
                )
            await session.commit()

        claims = await asyncio.gather(
            *(d.claim_due(limit=15) for d in (first, second, first, second))
        )
        claimed = [d.id for batch in claims for d, _ in batch]
        assert len(claimed) == len(set(claimed)), "a delivery was claimed twice"
        assert len(claimed) == 40
        # A claim of more than one wave (concurrency 4 here) is leased for every wave
        # at the webhook timeout, not for one attempt.
        small = Dispatcher(contexts[0], concurrency=4)
        async with contexts[0].db.session() as session:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await session.exec(update(Delivery).values(next_attempt_at=past))
            await session.commit()
        started = datetime.now(UTC)
        assert len(await small.claim_due(limit=10)) == 10  # three waves of up to four
        await small.client.close()
        async with contexts[0].db.session() as session:
            leased = (await session.exec(select(Delivery.next_attempt_at))).all()
        timeout = settings_of(contexts[0]).webhook_timeout_seconds
        longest = max(as_utc(t) for t in leased) - started
        assert longest >= timedelta(seconds=3 * timeout)
        async with contexts[0].db.session() as session:
            await session.exec(update(Delivery).values(next_attempt_at=past))
            await session.commit()
        claims = await asyncio.gather(
            *(d.claim_due(limit=15) for d in (first, second, first, second))
        )
        assert sum(len(batch) for batch in claims) == 40
        # Leased: nobody claims them again while an attempt may be in flight...
        assert await first.claim_due() == [] and await second.claim_due() == []
        # ...and when the lease has run out unrecorded, they are due again.
        async with contexts[0].db.session() as session:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await session.exec(
                update(Delivery).where(col(Delivery.seq).is_not(None)).values(next_attempt_at=past)
            )
            await session.commit()
        assert len(await second.claim_due()) == 40
    finally:
        for dispatcher in (first, second):
            await dispatcher.client.close()
        for ctx in contexts:
            await ctx.db.dispose()


async def test_a_claim_reads_the_waiting_deliveries_not_every_one_sent_before(
    postgres_url: str, tmp_path: Path
) -> None:
    ctx = replica(postgres_url, tmp_path, "a")
    dispatcher = Dispatcher(ctx)
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    ctx.clock.set(now)
    sent = 3000
    try:
        models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
        await ctx.db.create_tables([table_of(m) for m in models])
        async with ctx.db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO subscription (id, organisation, client_kind, client_id, url,"
                    " event_types, secret, status, created_at) VALUES ('sub_hub',"
                    " 'demoshire-hub', 'hub', 'c', 'http://127.0.0.1:9/hooks', '[]',"
                    " 'whsec_x', 'active', :now)"
                ),
                {"now": now},
            )
            # A subscription's history: thousands delivered, four waiting (two of one
            # referral, one with no referral).
            await conn.execute(
                text(
                    "INSERT INTO delivery (id, subscription_id, referral_id, event_type, body,"
                    " status, attempts, next_attempt_at, created_at, replays)"
                    " SELECT 'msg_' || g, 'sub_hub', 'ref_' || g, 'e', repeat('x', 800),"
                    " 'delivered', 1, :then, :then, 0 FROM generate_series(1, :sent) g"
                ),
                {"then": now - timedelta(days=1), "sent": sent},
            )
            for id_, referral in (("w1", "ref_a"), ("w2", "ref_a"), ("w3", "ref_b"), ("w4", None)):
                await conn.execute(
                    text(
                        "INSERT INTO delivery (id, subscription_id, referral_id, event_type,"
                        " body, status, attempts, next_attempt_at, created_at, replays)"
                        " VALUES (:id, 'sub_hub', :referral, 'e', '{}', 'pending', 0, :now,"
                        " :now, 0)"
                    ),
                    {"id": id_, "referral": referral, "now": now},
                )

        async with ctx.db.engine.connect() as conn:
            read = await rows_read(conn, repository._DUE_HEADS, {"now": now, "limit": 500})
        assert read < 100, f"the claim read {read} rows for 4 waiting among {sent} sent"

        claimed = await dispatcher.claim_due()
        # The oldest waiting delivery of each pair, and nothing sent before.
        assert sorted(d.id for d, _ in claimed) == ["w1", "w3", "w4"]
    finally:
        await dispatcher.close()
        await ctx.db.dispose()
