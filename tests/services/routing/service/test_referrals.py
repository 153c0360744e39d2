"""Routing decisions in one unit of work (a consumer's batch): the agencies' loads are
counted once per unit and follow each decision the unit makes, so a batch never fills
an agency past its capacity; a new decision's rows are held until the unit completes,
and a later event of the same unit about the same referral still finds them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel import select as orm_select

from services.routing import repository
from services.routing.models import (
    RoutingDeadline,
    RoutingDecision,
    RoutingPathway,
    RoutingStep,
)
from services.routing.service.directory import DirectoryCache, change_agency, current_directory
from services.routing.service.referrals import _count_move, prepare_routing, record_routing
from shared.db import table_of
from shared.events import ReferralTriaged
from shared.outbox import OutboxMessage
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork
from tests.conftest import statements_run
from tests.services.routing.conftest import PARTNERSHIP, triaged_event

ROUTING_TABLES = (RoutingDecision, RoutingStep, RoutingDeadline, RoutingPathway)


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


# ---------------------------------------------------------------- held rows


async def rows_in_unit(uow: UnitOfWork, referral_id: str) -> dict[str, int]:
    """How many rows of each routing table the unit's own transaction sees for a
    referral (what a read in the unit would find)."""
    conn = await uow.connection()
    counts: dict[str, int] = {}
    for model in ROUTING_TABLES:
        table = table_of(model)
        query = select(func.count()).where(table.c.referral_id == referral_id)
        counts[table.name] = int(await conn.scalar(query) or 0)
    return counts


async def stored(ctx: ServiceContext, model: Any, referral_id: str | None = None) -> list[Any]:
    """A table's committed rows (of one referral when given), in the order written (by
    its key)."""
    query = orm_select(model).order_by(*table_of(model).primary_key.columns)
    if referral_id is not None:
        query = query.where(col(model.referral_id) == referral_id)
    async with ctx.db.session() as session:
        return list((await session.exec(query)).all())


def with_pathway(referral_id: str, **update: Any) -> ReferralTriaged:
    """A triaged domestic abuse referral that also needs a Prevent referral."""
    return triaged_event(referral_id).model_copy(
        update={"concern_codes": ["domestic_abuse", "radicalisation"], **update}
    )


async def test_a_later_triage_revision_in_the_same_batch_routes_the_referral_again(
    ctx: ServiceContext,
) -> None:
    directories = DirectoryCache()
    async with ctx.units.begin() as uow:  # one batch: the triage, then an override
        assert await record_routing(
            uow=uow, directories=directories, triaged=triaged_event("ref_x")
        )
        x_again = triaged_event("ref_x", level=4, revision=1)
        assert await record_routing(uow=uow, directories=directories, triaged=x_again)
        # The first revision again (a redelivery): routed already on a later one.
        stale = triaged_event("ref_x", revision=0)
        assert not await record_routing(uow=uow, directories=directories, triaged=stale)

    async with ctx.db.session() as session:
        decisions = (await session.exec(orm_select(RoutingDecision))).all()
        staged = (await session.exec(orm_select(OutboxMessage))).all()
    assert [(d.referral_id, d.destination_id, d.triage_revision) for d in decisions] == [
        ("ref_x", "mash", 1)
    ]
    steps = await stored(ctx, RoutingStep, "ref_x")
    assert [(s.destination_id, s.status) for s in steps] == [
        ("da-support", "requested"),
        ("mash", "requested"),
    ]
    assert steps[1].summary.startswith("Routed again after a new triage decision (revision 1).")
    # The first destination's clock, held in the batch, was found and stopped.
    deadlines = await stored(ctx, RoutingDeadline, "ref_x")
    assert [(d.destination_id, d.state) for d in deadlines] == [("da-support", "resolved")]
    # referral.routed twice, referral.status cancelled nobody (it was only requested).
    assert len(staged) == 2


async def test_a_batch_read_ahead_asks_once_which_referrals_were_routed_before(
    ctx: ServiceContext,
) -> None:
    """The consumer's read-ahead locks and reads a batch's routing records in one
    statement; a referral never routed then costs no read of its own, and one routed
    before (or earlier in the batch) is still routed again, not twice."""
    directories = DirectoryCache()
    async with ctx.units.begin() as uow:
        assert await record_routing(
            uow=uow, directories=directories, triaged=triaged_event("ref_old")
        )

    def selects(statements: list[str]) -> int:
        """The reads of whether each referral was routed."""
        return sum("routing_decision.referral_id IN" in s for s in statements)

    async with ctx.units.begin() as uow:
        with statements_run(ctx.db.engine.sync_engine) as statements:
            await prepare_routing(uow=uow, referral_ids=["ref_a", "ref_old", "ref_b"])
            assert selects(statements) == 1
            for triaged in (triaged_event("ref_a"), triaged_event("ref_b")):
                assert await record_routing(uow=uow, directories=directories, triaged=triaged)
            assert selects(statements) == 1  # never routed: nothing more to ask
        old_again = triaged_event("ref_old", level=4, revision=1)
        assert await record_routing(uow=uow, directories=directories, triaged=old_again)
        a_again = triaged_event("ref_a", level=4, revision=1)
        assert await record_routing(uow=uow, directories=directories, triaged=a_again)
    for referral_id, destination in (
        ("ref_old", "mash"),
        ("ref_a", "mash"),
        ("ref_b", "da-support"),
    ):
        [row] = await stored(ctx, RoutingDecision, referral_id)
        assert row.destination_id == destination, referral_id


async def test_a_new_decisions_rows_are_written_when_its_unit_completes(
    ctx: ServiceContext,
) -> None:
    directories = DirectoryCache()
    nothing = {table_of(model).name: 0 for model in ROUTING_TABLES}
    async with ctx.units.open() as uow:
        assert await record_routing(
            uow=uow, directories=directories, triaged=with_pathway("ref_new")
        )
        assert await record_routing(
            uow=uow, directories=directories, triaged=triaged_event("ref_other")
        )
        # Held: not even this unit's own transaction sees them yet.
        assert await rows_in_unit(uow, "ref_new") == nothing
        assert await rows_in_unit(uow, "ref_other") == nothing
        # Held under the referral's key: touching another writes nothing.
        assert not await uow.write_inserts(touching=[repository.held_for("ref_unknown")])
        assert await rows_in_unit(uow, "ref_new") == nothing
        await uow.complete()

    for referral_id, pathways in (("ref_new", 1), ("ref_other", 0)):
        assert len(await stored(ctx, RoutingDecision, referral_id)) == 1, referral_id
        assert len(await stored(ctx, RoutingStep, referral_id)) == 1 + pathways
        assert len(await stored(ctx, RoutingPathway, referral_id)) == pathways
    other = await decision_in(ctx, "ref_other")
    assert (other.destination_id, other.status) == ("da-support", "requested")
    deadlines = await stored(ctx, RoutingDeadline, "ref_other")
    assert [(d.destination_id, d.state, d.due_at) for d in deadlines] == [
        ("da-support", "pending", other.respond_by)
    ]


async def test_a_unit_that_does_not_complete_writes_nothing_it_held(ctx: ServiceContext) -> None:
    directories = DirectoryCache()
    async with ctx.units.open() as uow:
        assert await record_routing(
            uow=uow, directories=directories, triaged=triaged_event("ref_gone")
        )
    for model in ROUTING_TABLES:
        assert await stored(ctx, model, "ref_gone") == []


async def test_a_referral_needing_a_statutory_pathway_gets_its_record_and_step(
    ctx: ServiceContext,
) -> None:
    directories = DirectoryCache()
    async with ctx.units.begin() as uow:
        assert await record_routing(uow=uow, directories=directories, triaged=with_pathway("ref_p"))
    row = await decision_in(ctx, "ref_p")
    told = await stored(ctx, RoutingPathway, "ref_p")
    assert [(p.pathway, p.destination_id, p.notified_at) for p in told] == [
        ("prevent", "prevent", row.routed_at)
    ]
    steps = await stored(ctx, RoutingStep, "ref_p")
    assert [(s.destination_kind, s.destination_id) for s in steps] == [
        (row.destination_kind, row.destination_id),
        ("pathway", "prevent"),
    ]
    assert steps[1].summary == told[0].explanation
    assert "Statutory pathways, told as well: Prevent referral" in row.explanation


async def test_a_pathway_told_earlier_in_the_batch_is_not_told_again(
    ctx: ServiceContext,
) -> None:
    directories = DirectoryCache()
    async with ctx.units.begin() as uow:
        assert await record_routing(uow=uow, directories=directories, triaged=with_pathway("ref_p"))
        again = with_pathway("ref_p", level=4, priority="red", revision=1)
        assert await record_routing(uow=uow, directories=directories, triaged=again)
    told = await stored(ctx, RoutingPathway, "ref_p")
    assert [p.pathway for p in told] == ["prevent"]
    steps = await stored(ctx, RoutingStep, "ref_p")
    assert [s.destination_id for s in steps][1:] == ["prevent", "mash"]


async def test_steps_keep_the_order_they_were_taken_in_across_a_batch(
    ctx: ServiceContext,
) -> None:
    directories = DirectoryCache()
    async with ctx.units.begin() as uow:
        assert await record_routing(
            uow=uow, directories=directories, triaged=triaged_event("ref_old")
        )
    async with ctx.units.begin() as uow:  # a new referral, then another routed again
        assert await record_routing(
            uow=uow, directories=directories, triaged=triaged_event("ref_new")
        )
        old_again = triaged_event("ref_old", level=4, revision=1)
        assert await record_routing(uow=uow, directories=directories, triaged=old_again)
    # The simulator replays steps in this order to know each agency's load.
    assert [(s.referral_id, s.destination_id) for s in await stored(ctx, RoutingStep)] == [
        ("ref_old", "da-support"),
        ("ref_new", "da-support"),
        ("ref_old", "mash"),
    ]
