"""The directory's use cases: the per-process cache reads a version once and sees a
newer one in its next unit of work; each running service keeps its own."""

from __future__ import annotations

from typing import Any

import pytest

from services.routing.service.directory import (
    DirectoryCache,
    NothingToImport,
    current_directory,
    directory_cache,
    import_oruk,
    remove_agency,
)
from shared.runtime import ServiceContext
from tests.services.routing.conftest import PARTNERSHIP


async def test_the_cache_reads_a_version_once_and_a_newer_one_in_the_next_unit(
    ctx: ServiceContext,
) -> None:
    cache = DirectoryCache()
    async with ctx.units.begin() as uow:
        first = await cache.current(uow)
        assert await cache.current(uow) is first  # not read again
    async with ctx.units.begin() as uow:
        assert await cache.current(uow) is first
        await remove_agency(uow=uow, principal=PARTNERSHIP, agency_id="asb-unit")
        # A unit (a consumer's batch) keeps the version it first saw.
        assert await cache.current(uow) is first
    async with ctx.units.begin() as uow:
        newer = await cache.current(uow)
    assert (first.version, newer.version) == ("demo-2026-12-1", "demoshire-2")
    assert "asb-unit" not in {a.id for a in newer.agencies}


def test_each_running_service_keeps_its_own_cache() -> None:
    one: dict[str, Any] = {}
    other: dict[str, Any] = {}
    assert directory_cache(one) is directory_cache(one)
    assert directory_cache(one) is not directory_cache(other)


async def test_an_import_with_nothing_usable_says_what_it_skipped_and_changes_nothing(
    ctx: ServiceContext,
) -> None:
    adults_only = {
        "id": "svc-debt",
        "name": "Adult Debt Advice",
        "status": "active",
        "minimum_age": 18,
    }
    with pytest.raises(NothingToImport) as raised:
        async with ctx.units.begin() as uow:
            await import_oruk(
                uow=uow, document=adults_only, response_sla_hours=72, changed_by="test"
            )
    assert [(s.service_id, s.name) for s in raised.value.skipped] == [
        ("svc-debt", "Adult Debt Advice")
    ]
    assert raised.value.status == 422 and raised.value.type == "nothing-to-import"
    async with ctx.units.begin() as uow:
        assert (await current_directory(uow)).version == "demo-2026-12-1"


async def test_a_version_stored_before_the_text_rules_stays_readable_and_editable(
    ctx: ServiceContext,
) -> None:
    """An older release stored what ORUK published (a line break in a name) and did not
    check text; that version must still route referrals and take edits."""
    from sqlmodel import select

    from services.routing.models import DirectoryVersion

    async with ctx.units.begin() as uow:
        row = (await uow.session.exec(select(DirectoryVersion))).one()
        document = dict(row.document)
        document["agencies"] = [
            {**a, "name": a["name"].replace(" ", "\n", 1)} if a["id"] == "asb-unit" else a
            for a in document["agencies"]
        ]
        row.document = document
        uow.session.add(row)
    async with ctx.units.begin() as uow:
        directory = await current_directory(uow)
        assert "\n" in (directory.agency("asb-unit") or directory.agencies[0]).name
        changed = await remove_agency(uow=uow, principal=PARTNERSHIP, agency_id="school-nursing")
    assert "school-nursing" not in {a.id for a in changed.agencies}
