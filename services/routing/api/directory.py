"""The agency directory over HTTP: read it and its versions (any key), change it or an
agency (`directory:write`; every change a new version), import Open Referral UK."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from services.routing.api.dependencies import AnyKey, DirectoryWrite, UoW
from services.routing.directory import Agency, DirectoryContent
from services.routing.schemas import DirectoryView, ImportView, VersionSummary
from services.routing.service import directory as service
from shared.pagination import (
    CURSOR,
    MAX_LIMIT,
    PageQuery,
    PageRequest,
    invalid_query,
    link_next,
    list_responses,
    pages_text,
)

router = APIRouter()


@router.get("/directory", summary="The agency directory as it stands (any authenticated key)")
async def get_directory(_: AnyKey, uow: UoW) -> DirectoryView:
    return await service.newest(uow=uow)


@router.put("/directory", summary="Replace the directory; the change becomes a new version")
async def put_directory(
    body: DirectoryContent, principal: DirectoryWrite, uow: UoW
) -> DirectoryView:
    return await service.replace(uow=uow, principal=principal, content=body)


# A page of versions ends at its last version's `seq` (a version's name is free text):
# the cursor's id is that number, as `str(seq)` writes it, and a BIGINT's at most.
_SEQ = re.compile(r"0|[1-9][0-9]{0,17}")


def _version_page(page: PageQuery) -> PageRequest:
    """The page of versions asked for: a cursor whose id is not a version's number
    (one no list of versions gave) is a 422 naming `cursor`, as any other bad cursor."""
    if page.after is not None and not _SEQ.fullmatch(page.after.id):
        raise invalid_query(
            CURSOR,
            "not a cursor this list gave: use the one from the previous page's Link "
            "header, or leave it out to start from the first page",
            "invalid_cursor",
        )
    return page


@router.get(
    "/directory/versions",
    summary="Every version of the directory, newest first",
    description=(
        "The versions of the directory, newest first (by `seq`, which grows with every "
        "version), each with who made it, how and when, and how many agencies it has.\n\n"
        + pages_text()
        + f" A `cursor` no list of versions gave, or a `limit` outside 1 to {MAX_LIMIT}, "
        "is a 422 naming the parameter."
    ),
    response_description="The directory's versions, one page",
    responses=list_responses(
        f"A `cursor` no list of versions gave, or a `limit` outside 1 to {MAX_LIMIT}"
    ),
)
async def list_versions(
    request: Request,
    response: Response,
    _: AnyKey,
    uow: UoW,
    page: Annotated[PageRequest, Depends(_version_page)],
) -> list[VersionSummary]:
    found = await service.history(uow=uow, page=page)
    link_next(request, response, found, page.limit)
    return found.items


@router.get(
    "/directory/versions/{version}",
    summary="One version of the directory, as a decision that names it saw it",
)
async def get_version(version: str, _: AnyKey, uow: UoW) -> DirectoryView:
    return await service.version(uow=uow, version=version)


@router.post(
    "/directory/agencies",
    status_code=201,
    summary="Add an agency; the change becomes a new version",
)
async def add_agency(body: Agency, principal: DirectoryWrite, uow: UoW) -> DirectoryView:
    return await service.add_agency(uow=uow, principal=principal, agency=body)


@router.put(
    "/directory/agencies/{agency_id}", summary="Change an agency; the change becomes a new version"
)
async def put_agency(
    agency_id: str, body: Agency, principal: DirectoryWrite, uow: UoW
) -> DirectoryView:
    return await service.change_agency(
        uow=uow, principal=principal, agency_id=agency_id, agency=body
    )


@router.delete(
    "/directory/agencies/{agency_id}",
    summary="Remove an agency with no open referrals; the change becomes a new version",
)
async def delete_agency(agency_id: str, principal: DirectoryWrite, uow: UoW) -> DirectoryView:
    return await service.remove_agency(uow=uow, principal=principal, agency_id=agency_id)


@router.post(
    "/directory/import/oruk",
    status_code=201,
    summary="Import agencies from Open Referral UK / HSDS 3 JSON; a new version",
    description=(
        "The body is ORUK / HSDS 3 JSON as published: a paginated service list, a "
        "service, an organization with its services, or an array of them. Each active "
        "service for children whose taxonomy terms map to concern codes (the directory's "
        "`taxonomy_concerns`, or terms of the `signpost-concern` taxonomy) becomes an "
        "agency `oruk-<service id>`, replacing one of the same id; the rest are listed "
        "under `skipped` with the reason."
    ),
)
async def import_from_oruk(
    principal: DirectoryWrite,
    uow: UoW,
    document: Annotated[Any, Body(description="ORUK / HSDS 3 JSON")],
    response_sla_hours: Annotated[int, Query(ge=1, le=24 * 14)] = 72,
) -> ImportView:
    return await service.import_oruk(
        uow=uow,
        document=document,
        response_sla_hours=response_sla_hours,
        changed_by=principal.actor,
    )
