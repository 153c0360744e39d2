"""The agency directory in routing's database: numbered versions, the current one
cached per process until a newer version appears."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.routing.directory import Directory, DirectoryContent, load_directory
from services.routing.models import DirectoryVersion
from services.routing.oruk import Imported, agencies_from_oruk, merged
from shared.db import Database, table_of
from shared.runtime import ServiceContext

log = logging.getLogger(__name__)


def _slug(area: str) -> str:
    words = re.findall(r"[a-z0-9]+", area.lower())
    return "-".join(words[:3])[:40] or "directory"


# Read before every routing decision: one cached statement, without flushing the session
# (versions are only written by `save_version`, which flushes).
_LATEST_SEQ = core_select(func.max(table_of(DirectoryVersion).c.seq))


async def _latest_seq(session: AsyncSession) -> int | None:
    seq = await (await session.connection()).scalar(_LATEST_SEQ)
    return int(seq) if seq is not None else None


async def version_named(session: AsyncSession, version: str) -> DirectoryVersion | None:
    return (
        await session.exec(select(DirectoryVersion).where(DirectoryVersion.version == version))
    ).first()


async def versions(session: AsyncSession) -> list[DirectoryVersion]:
    """Every version, newest first."""
    return list(
        (
            await session.exec(select(DirectoryVersion).order_by(col(DirectoryVersion.seq).desc()))
        ).all()
    )


def as_directory(row: DirectoryVersion) -> Directory:
    return Directory.model_validate({**row.document, "version": row.version})


async def newest_directory(session: AsyncSession) -> Directory:
    """The newest directory version, read afresh."""
    seq = await _latest_seq(session)
    row = await session.get(DirectoryVersion, seq) if seq is not None else None
    if row is None:
        raise RuntimeError("the agency directory has not been seeded")
    return as_directory(row)


async def import_oruk(
    session: AsyncSession,
    document: Any,
    *,
    response_sla_hours: int,
    changed_by: str,
    at: datetime,
) -> tuple[Directory | None, Imported]:
    """Merge the agencies an ORUK / HSDS 3 document describes into the newest
    directory as a new version (none when no service could become an agency)."""
    current = await newest_directory(session)
    result = agencies_from_oruk(
        document,
        taxonomy_concerns=current.taxonomy_concerns,
        response_sla_hours=response_sla_hours,
    )
    if not result.agencies:
        return None, result
    directory = await save_version(
        session,
        merged(current, result.agencies),
        source="oruk-import",
        changed_by=changed_by,
        note=f"imported {len(result.agencies)} service(s) from Open Referral UK",
        at=at,
    )
    return directory, result


async def current_directory(ctx: ServiceContext, session: AsyncSession) -> Directory:
    """The newest directory version (every replica sees a change at its next read)."""
    seq = await _latest_seq(session)
    if seq is None:
        raise RuntimeError("the agency directory has not been seeded")
    cached = ctx.state.get("directory")
    if isinstance(cached, Directory) and ctx.state.get("directory_seq") == seq:
        return cached
    row = await session.get(DirectoryVersion, seq)
    assert row is not None
    directory = as_directory(row)
    ctx.state["directory"], ctx.state["directory_seq"] = directory, seq
    return directory


async def save_version(
    session: AsyncSession,
    content: DirectoryContent,
    *,
    source: str,
    changed_by: str,
    note: str = "",
    version: str | None = None,
    at: datetime,
) -> Directory:
    """Store `content` as the newest version (in the caller's transaction).

    A directory loaded from a file keeps the file's own `version` when it is not yet
    taken; every other change is named `<area>-<n>`, n being its sequence number.
    """
    number = (await _latest_seq(session) or 0) + 1
    name = version if version and await version_named(session, version) is None else None
    if name is None:
        name = f"{_slug(content.area)}-{number}"
        if await version_named(session, name) is not None:
            name = f"{name}-{int(at.timestamp())}"
    document = DirectoryContent.model_validate(content.model_dump(exclude={"version"})).model_dump(
        mode="json"
    )
    session.add(
        DirectoryVersion(
            version=name,
            area=content.area,
            source=source,
            changed_by=changed_by,
            note=note,
            created_at=at,
            document=document,
        )
    )
    await session.flush()
    return Directory.model_validate({**document, "version": name})


async def seed_directory(ctx: ServiceContext) -> None:
    """First start: store the shipped demo directory (or DIRECTORY_PATH) as version 1."""
    await seed(ctx.db, ctx.settings.directory_path, at=ctx.clock.now())


async def seed(db: Database, path: Path | None, *, at: datetime) -> None:
    """Store the directory file at `path` (or the demo) when the database has none.

    Later starts keep what the API made, except that a DIRECTORY_PATH file whose
    `version` is new becomes the newest version (a partnership editing its file).
    A bad file stops the service at start, not mid-flow.
    """
    from_file = load_directory(path)
    async with db.session() as session:
        latest = await _latest_seq(session)
        if latest is not None and (
            path is None or await version_named(session, from_file.version) is not None
        ):
            return
        await save_version(
            session,
            from_file,
            source="seed" if latest is None else "file",
            changed_by="signpost",
            note=f"loaded from {path or 'the demo directory'}",
            version=from_file.version,
            at=at,
        )
        try:
            await session.commit()
        except IntegrityError:
            # Another replica seeded the same version first.
            log.info("directory already seeded by another replica")
