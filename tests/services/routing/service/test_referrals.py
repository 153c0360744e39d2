"""Routing decisions in one unit of work (a consumer's batch): the agencies' loads are
counted once per unit and follow each decision the unit makes, so a batch never fills
an agency past its capacity."""

from __future__ import annotations

from services.routing.models import RoutingDecision
from services.routing.service.directory import DirectoryCache, change_agency, current_directory
from services.routing.service.referrals import _count_move, record_routing
from shared.runtime import ServiceContext
from tests.services.routing.conftest import PARTNERSHIP, triaged_event


async def decision_in(ctx: ServiceContext, referral_id: str) -> RoutingDecision:
    async with ctx.db.session() as session:
        row = await session.get(RoutingDecision, referral_id)
    assert row is not None
    return row


async def test_a_batch_counts_its_own_decisions_against_an_agencys_capacity(
    ctx: ServiceContext,
) -> None:
    async with ctx.units.begin() as uow:
        da = (await current_directory(uow)).agency("da-support")
        assert da is not None
        await change_agency(
            uow=uow,
            principal=PARTNERSHIP,
            agency_id="da-support",
            agency=da.model_copy(update={"capacity": 1}),
        )
    directories = DirectoryCache()
    async with ctx.units.begin() as uow:  # one batch of two domestic abuse referrals
        for referral_id in ("ref_first", "ref_second"):
            assert await record_routing(
                uow=uow, directories=directories, triaged=triaged_event(referral_id)
            )
    first, second = [await decision_in(ctx, r) for r in ("ref_first", "ref_second")]
    assert (first.destination_kind, first.destination_id) == ("agency", "da-support")
    # The first took da-support's one place: the second goes to the hub.
    assert second.destination_kind == "hub"


def test_a_referral_moved_or_closed_moves_its_count() -> None:
    loads = {"da-support": 3, "housing": 1}
    _count_move(loads, None, ("da-support", "requested"))
    assert loads == {"da-support": 4, "housing": 1}
    _count_move(loads, ("da-support", "requested"), ("housing", "requested"))
    assert loads == {"da-support": 3, "housing": 2}
    _count_move(loads, ("housing", "requested"), ("housing", "completed"))
    assert loads == {"da-support": 3, "housing": 1}
    _count_move(loads, None, (None, "completed"))  # universal advice holds no place
    assert loads == {"da-support": 3, "housing": 1}
