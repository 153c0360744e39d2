"""On PostgreSQL, counting each destination's open referrals reads the open ones, not
every referral routed before."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from services.routing import repository
from services.routing.service.directory import directory_cache
from services.routing.service.referrals import record_routing
from tests.conftest import rows_read
from tests.services.routing.conftest import START, replica, triaged_event

pytestmark = pytest.mark.postgres


async def test_counting_open_referrals_reads_the_open_ones_not_the_closed_before_them(
    postgres_url: str, tmp_path: Path
) -> None:
    ctx = await replica(postgres_url, tmp_path / "routing")
    closed = 3000
    try:
        async with ctx.units.begin() as uow:
            directories = directory_cache(ctx.state)
            for referral_id, level in (("a", 2), ("b", 2), ("c", 3)):
                triaged = triaged_event(referral_id, level=level)
                await record_routing(uow=uow, directories=directories, triaged=triaged)
        async with ctx.db.engine.begin() as conn:
            # A year of referrals that were routed and closed.
            await conn.execute(
                text(
                    "INSERT INTO routing_decision (referral_id, subject_key, level, priority,"
                    " destination_kind, destination_id, reason_codes, considered,"
                    " directory_version, status, routed_at)"
                    " SELECT 'closed_' || g, 'subject_' || g, 2, 'routine', 'agency',"
                    " 'da-support', '[]', '[]', 'v1', 'completed', :at"
                    " FROM generate_series(1, :closed) g"
                ),
                {"at": START, "closed": closed},
            )
        async with ctx.db.engine.connect() as conn:
            read = await rows_read(conn, repository._OPEN_REFERRALS)
        assert read < 100, f"the count read {read} rows for 3 open among {closed} closed"
        async with ctx.units.begin() as uow:
            assert await repository.open_referrals(uow.session) == {"da-support": 2, "hub": 1}
    finally:
        await ctx.db.dispose()
