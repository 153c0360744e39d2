"""The agency directory's use cases: numbered versions in routing's database, each
change (the API, an Open Referral UK import, a partnership's file) a new version, and
the current version cached per process until a newer one appears."""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from services.routing import repository
from services.routing.directory import Agency, Directory, DirectoryContent, load_directory
from services.routing.models import DirectoryVersion
from services.routing.oruk import Progress, agencies_from_oruk, merged
from services.routing.schemas import DirectoryView, ImportView, SkippedView, VersionSummary
from services.routing.service import SYSTEM
from shared.auth import Principal
from shared.clock import as_utc
from shared.pagination import Page, PageRequest, Position, page_of
from shared.problems import NotFound, Problem
from shared.text import ACCEPTED_EARLIER
from shared.uow import UnitOfWork


class DirectoryCache:
    """The current directory as this process last read it.

    Read before every routing decision: one cheap look at the newest version's number
    (once per unit of work, so once per batch of events), and the version itself only
    when it changed, so every replica sees a change at its next unit. One per running
    service (`directory_cache`)."""

    def __init__(self) -> None:
        self._seq: int | None = None
        self._directory: Directory | None = None

    async def current(self, uow: UnitOfWork) -> Directory:
        """The newest directory version, as `uow`'s transaction first saw it."""
        seq = await uow.read_once(
            "routing.directory_seq", lambda: repository.latest_version_seq(uow.session)
        )
        return await self.numbered(uow, seq)

    async def numbered(self, uow: UnitOfWork, seq: int | None) -> Directory:
        """Directory version `seq` (None: none was ever seeded)."""
        if seq is None:
            raise RuntimeError("the agency directory has not been seeded")
        if self._directory is None or self._seq != seq:
            row = await repository.version_numbered(uow.session, seq)
            assert row is not None
            self._directory, self._seq = as_directory(row), seq
        return self._directory


def directory_cache(state: MutableMapping[str, Any]) -> DirectoryCache:
    """The directory cache of a running service, kept in its state (`ServiceContext.state`):
    for the work done per referral (routing it, escalating it)."""
    cache = state.get("directory")
    if not isinstance(cache, DirectoryCache):
        cache = state["directory"] = DirectoryCache()
    return cache


async def current_directory(uow: UnitOfWork) -> Directory:
    """The newest directory version, read afresh (for a change a person asks for, which
    needs no cache)."""
    return await DirectoryCache().numbered(uow, await repository.latest_version_seq(uow.session))


class NothingToImport(Problem):
    """No service in an Open Referral UK document could become an agency."""

    def __init__(self, skipped: list[SkippedView], notes: list[str]) -> None:
        super().__init__(
            422,
            "Nothing to import",
            "No service in the document could become an agency.",
            type="nothing-to-import",
            skipped=[s.model_dump() for s in skipped],
        )
        self.skipped = skipped
        self.notes = notes


def _invalid(exc: ValueError) -> Problem:
    return Problem(422, "The directory is not valid", str(exc), type="invalid-directory")


def as_directory(row: DirectoryVersion) -> Directory:
    # A stored version was checked when it was stored: a later release's stricter text
    # rules must not make it unreadable (every routing decision reads it).
    return Directory.model_validate(
        {**row.document, "version": row.version}, context=ACCEPTED_EARLIER
    )


def _view(row: DirectoryVersion) -> DirectoryView:
    return DirectoryView.model_validate(
        {
            **as_directory(row).model_dump(),
            "seq": row.seq,
            "source": row.source,
            "changed_by": row.changed_by,
            "note": row.note,
            "created_at": as_utc(row.created_at),
        },
        context=ACCEPTED_EARLIER,
    )


def _slug(area: str) -> str:
    words = re.findall(r"[a-z0-9]+", area.lower())
    return "-".join(words[:3])[:40] or "directory"


class VersionTaken(Exception):
    """The file's version is stored already (another replica seeded it meanwhile)."""


async def _save_version(
    uow: UnitOfWork,
    content: DirectoryContent,
    *,
    source: str,
    changed_by: str,
    note: str,
    version: str | None = None,
    keep_name: bool = False,
) -> DirectoryVersion:
    """Store `content` as the newest version.

    A directory loaded from a file keeps the file's own `version` when it is not yet
    taken; every other change is named `<area>-<n>`, n being its sequence number. With
    `keep_name` (seeding from a file) a taken `version` is VersionTaken, never a copy
    under another name: replicas starting together store the file once.
    """
    session, at = uow.session, uow.now()
    number = (await repository.latest_version_seq(session) or 0) + 1
    free = version and await repository.version_named(session, version) is None
    name = version if free else None
    if name is None and keep_name:
        raise VersionTaken(version)
    if name is None:
        name = f"{_slug(content.area)}-{number}"
        if await repository.version_named(session, name) is not None:
            name = f"{name}-{int(at.timestamp())}"
    # `content` is a checked model already (its text checked as it came in).
    document = DirectoryContent.model_validate(
        content.model_dump(exclude={"version"}), context=ACCEPTED_EARLIER
    ).model_dump(mode="json")
    row = DirectoryVersion(
        version=name,
        area=content.area,
        source=source,
        changed_by=changed_by,
        note=note,
        created_at=at,
        document=document,
    )
    return await repository.add_version(session, row)


async def _change(
    uow: UnitOfWork, content: DirectoryContent, *, principal: Principal, source: str, note: str
) -> DirectoryView:
    row = await _save_version(uow, content, source=source, changed_by=principal.actor, note=note)
    return _view(row)


async def _change_agencies(
    uow: UnitOfWork,
    current: Directory,
    agencies: Sequence[Agency],
    *,
    principal: Principal,
    note: str,
) -> DirectoryView:
    """A new version of `current` with `agencies` in place of its own."""
    try:
        content = current.with_agencies(agencies)
    except ValueError as exc:
        raise _invalid(exc) from exc
    return await _change(uow, content, principal=principal, source="agency", note=note)


async def seed(*, uow: UnitOfWork, path: Path | None) -> None:
    """Store the directory file at `path` (or the demo) when the database has none.

    Later starts keep what the API made, except that a DIRECTORY_PATH file whose
    `version` is new becomes the newest version (a partnership editing its file).
    A bad file stops the service at start, not mid-flow.
    """
    from_file = load_directory(path)
    latest = await repository.latest_version_seq(uow.session)
    if latest is not None and (
        path is None or await repository.version_named(uow.session, from_file.version) is not None
    ):
        return
    await _save_version(
        uow,
        from_file,
        source="seed" if latest is None else "file",
        changed_by=SYSTEM,
        note=f"loaded from {path or 'the demo directory'}",
        version=from_file.version,
        keep_name=True,
    )


async def newest(*, uow: UnitOfWork) -> DirectoryView:
    """The directory as it stands."""
    seq = await repository.latest_version_seq(uow.session)
    row = await repository.version_numbered(uow.session, seq) if seq is not None else None
    if row is None:
        raise RuntimeError("the agency directory has not been seeded")
    return _view(row)


def _summary(row: DirectoryVersion) -> VersionSummary:
    return VersionSummary(
        version=row.version,
        seq=row.seq or 0,
        area=row.area,
        source=row.source,
        changed_by=row.changed_by,
        note=row.note,
        created_at=as_utc(row.created_at),
        agencies=len(row.document.get("agencies", [])),
    )


def _ends_at(row: DirectoryVersion) -> Position:
    """Where a page of versions ends: its last version's number (a version's name is
    free text, never a cursor's id)."""
    return Position(at=as_utc(row.created_at), id=str(row.seq))


async def history(*, uow: UnitOfWork, page: PageRequest) -> Page[VersionSummary]:
    """The versions of the directory, newest first (by `seq`), a page at a time; a
    page ends at its last version's `seq`, so `page.after.id` must be one (digits)."""
    rows = await repository.versions(uow.session, page)
    return page_of(rows, page.limit, _ends_at).map(_summary)


async def version(*, uow: UnitOfWork, version: str) -> DirectoryView:
    """One version of the directory, as a decision that names it saw it."""
    row = await repository.version_named(uow.session, version)
    if row is None:
        raise NotFound("Directory version")
    return _view(row)


async def replace(
    *, uow: UnitOfWork, principal: Principal, content: DirectoryContent
) -> DirectoryView:
    """Replace the whole directory: a new version."""
    return await _change(uow, content, principal=principal, source="api", note="directory replaced")


async def add_agency(*, uow: UnitOfWork, principal: Principal, agency: Agency) -> DirectoryView:
    """Add an agency the directory does not have yet: a new version."""
    current = await current_directory(uow)
    if current.agency(agency.id) is not None:
        raise Problem(
            409, "Conflict", f"An agency {agency.id!r} exists already.", type="agency-exists"
        )
    return await _change_agencies(
        uow, current, [*current.agencies, agency], principal=principal, note=f"added {agency.id}"
    )


async def change_agency(
    *, uow: UnitOfWork, principal: Principal, agency_id: str, agency: Agency
) -> DirectoryView:
    """Change one agency (`agency` keeps its id): a new version."""
    current = await current_directory(uow)
    if current.agency(agency_id) is None:
        raise NotFound("Agency")
    if agency.id != agency_id:
        raise Problem(
            422, "The agency is not valid", "The body's id must be the path's.", type="id-mismatch"
        )
    agencies = [agency if a.id == agency_id else a for a in current.agencies]
    return await _change_agencies(
        uow, current, agencies, principal=principal, note=f"changed {agency_id}"
    )


async def remove_agency(*, uow: UnitOfWork, principal: Principal, agency_id: str) -> DirectoryView:
    """Remove an agency that holds no open referral, or a pathway's destination (never
    the hub or the MASH): a new version. (A pathway with no destination left is told to
    the hub, who make the notification.)"""
    current = await current_directory(uow)
    agency = current.agency(agency_id)
    if agency is None:
        raise NotFound("Agency")
    if agency.kind not in ("agency", "pathway"):
        raise Problem(
            409, "Conflict", f"The {agency.kind} cannot be removed.", type="agency-required"
        )
    open_now = await repository.open_referrals(uow.session)
    if holding := open_now.get(agency_id, 0):
        raise Problem(
            409,
            "Conflict",
            f"{agency.name} holds {holding} open referral(s): the hub reassigns them first.",
            type="agency-has-referrals",
        )
    agencies = [a for a in current.agencies if a.id != agency_id]
    return await _change_agencies(
        uow, current, agencies, principal=principal, note=f"removed {agency_id}"
    )


async def import_oruk(
    *,
    uow: UnitOfWork,
    document: Any,
    response_sla_hours: int,
    changed_by: str,
    progress: Progress | None = None,
) -> ImportView:
    """Merge the agencies an Open Referral UK / HSDS 3 document describes into the
    newest directory as a new version; NothingToImport when no service could become
    an agency. `progress` hears how many of the document's services have been read."""
    current = await current_directory(uow)
    try:
        result = agencies_from_oruk(
            document,
            taxonomy_concerns=current.taxonomy_concerns,
            response_sla_hours=response_sla_hours,
            progress=progress,
        )
        skipped = [
            SkippedView(service_id=s.service_id, name=s.name, reason=s.reason)
            for s in result.skipped
        ]
        if not result.agencies:
            raise NothingToImport(skipped, result.notes)
        row = await _save_version(
            uow,
            merged(current, result.agencies),
            source="oruk-import",
            changed_by=changed_by,
            note=f"imported {len(result.agencies)} service(s) from Open Referral UK",
        )
    except ValueError as exc:
        raise _invalid(exc) from exc
    return ImportView(
        version=row.version,
        imported=[a.id for a in result.agencies],
        skipped=skipped,
        notes=result.notes,
    )
