"""The agency directory over HTTP: read it and its versions (any key), change it or an
agency (`directory:write`; every change a new version), import Open Referral UK."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from services.routing.api.dependencies import AnyKey, DirectoryWrite, UoW
from services.routing.directory import Agency, DirectoryContent
from services.routing.schemas import DirectoryView, ImportView, VersionSummary
from services.routing.service import directory as service

router = APIRouter()


@router.get("/directory", summary="The agency directory as it stands (any authenticated key)")
async def get_directory(_: AnyKey, uow: UoW) -> DirectoryView:
    return await service.newest(uow=uow)


@router.put("/directory", summary="Replace the directory; the change becomes a new version")
async def put_directory(
    body: DirectoryContent, principal: DirectoryWrite, uow: UoW
) -> DirectoryView:
    return await service.replace(uow=uow, principal=principal, content=body)


@router.get("/directory/versions", summary="Every version of the directory, newest first")
async def list_versions(_: AnyKey, uow: UoW) -> list[VersionSummary]:
    return await service.history(uow=uow)


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
