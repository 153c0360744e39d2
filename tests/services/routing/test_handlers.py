"""Routing's start and its consumer's seeding of the agency directory: replicas that
start together store the shipped directory once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select

from services.routing.directory import load_directory
from services.routing.handlers import on_start
from services.routing.models import DirectoryVersion
from services.routing.service.directory import current_directory, replace
from tests.services.routing.conftest import PARTNERSHIP, replica


@pytest.mark.postgres
async def test_replicas_starting_together_store_the_shipped_directory_once(
    postgres_url: str, tmp_path: Path
) -> None:
    replicas = [
        await replica(postgres_url, tmp_path / name, seeded=False) for name in ("a", "b", "c")
    ]
    try:
        await asyncio.gather(*(on_start(ctx) for ctx in replicas))
        async with replicas[0].db.session() as session:
            versions = (await session.exec(select(DirectoryVersion))).all()
        assert [(v.version, v.source) for v in versions] == [(load_directory(None).version, "seed")]
    finally:
        for ctx in replicas:
            await ctx.db.dispose()


async def test_a_later_start_keeps_the_version_a_change_made(tmp_path: Path) -> None:
    ctx = await replica(f"sqlite:///{tmp_path / 'routing.db'}", tmp_path / "routing")
    try:
        async with ctx.units.begin() as uow:
            current = await current_directory(uow)
            agencies = [a for a in current.agencies if a.id != "asb-unit"]
            await replace(uow=uow, principal=PARTNERSHIP, content=current.with_agencies(agencies))
        await on_start(ctx)
        async with ctx.units.begin() as uow:
            newest = await current_directory(uow)
        assert newest.version == "demoshire-2"
        assert "asb-unit" not in {a.id for a in newest.agencies}
    finally:
        await ctx.db.dispose()
