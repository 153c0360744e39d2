"""Routing's REST API: the agency directory (versioned, importable from Open Referral
UK), the referrals each agency holds, their lifecycle, and the hub's reassignments
and overrides. Every change is one transaction with the events it implies."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import col, select

from services.routing import service
from services.routing.directory import Agency, Directory, DirectoryContent
from services.routing.lifecycle import (
    DECLINE_REASONS,
    OUTCOMES,
    DeclineReason,
    OutcomeCode,
    allowed_actions,
    valid_outcome,
)
from services.routing.models import DirectoryVersion, RoutingDecision, RoutingStep
from services.routing.store import (
    as_directory,
    current_directory,
    import_oruk,
    save_version,
    version_named,
    versions,
)
from shared.auth import Principal, requires
from shared.clock import as_utc
from shared.problems import NotFound, Problem
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1", tags=["routing"])


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "routing")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
AnyKey = Annotated[Principal, requires()]
DirectoryWrite = Annotated[Principal, requires("directory:write")]
ReferralsRead = Annotated[Principal, requires("referrals:read")]
ReferralsWrite = Annotated[Principal, requires("referrals:write")]

Rationale = Annotated[
    str,
    Field(
        min_length=service.MIN_RATIONALE,
        max_length=4000,
        description="Why: recorded with the change and shown in the routing record.",
    ),
]

# ---------------------------------------------------------------- the directory


class DirectoryView(Directory):
    seq: int
    source: str
    changed_by: str
    note: str
    created_at: datetime


class VersionSummary(BaseModel):
    version: str
    seq: int
    area: str
    source: str
    changed_by: str
    note: str
    created_at: datetime
    agencies: int


def _directory_view(row: DirectoryVersion) -> DirectoryView:
    return DirectoryView.model_validate(
        {
            **as_directory(row).model_dump(),
            "seq": row.seq,
            "source": row.source,
            "changed_by": row.changed_by,
            "note": row.note,
            "created_at": as_utc(row.created_at),
        }
    )


async def _newest(ctx: ServiceContext) -> DirectoryView:
    async with ctx.db.session() as session:
        row = (await versions(session))[0]
    return _directory_view(row)


async def _change(
    ctx: ServiceContext, content: DirectoryContent, *, principal: Principal, source: str, note: str
) -> DirectoryView:
    async with ctx.db.session() as session:
        directory = await save_version(
            session,
            content,
            source=source,
            changed_by=principal.organisation,
            note=note,
            at=ctx.clock.now(),
        )
        await session.commit()
        row = await version_named(session, directory.version)
    assert row is not None
    return _directory_view(row)


def _invalid(exc: ValueError) -> Problem:
    return Problem(422, "The directory is not valid", str(exc), type="invalid-directory")


@router.get(
    "/directory",
    response_model=DirectoryView,
    summary="The agency directory as it stands (any authenticated key)",
)
async def get_directory(_: AnyKey, ctx: Ctx) -> DirectoryView:
    return await _newest(ctx)


@router.put(
    "/directory",
    response_model=DirectoryView,
    summary="Replace the directory; the change becomes a new version",
)
async def put_directory(
    body: DirectoryContent, principal: DirectoryWrite, ctx: Ctx
) -> DirectoryView:
    return await _change(ctx, body, principal=principal, source="api", note="directory replaced")


@router.get(
    "/directory/versions",
    response_model=list[VersionSummary],
    summary="Every version of the directory, newest first",
)
async def list_versions(_: AnyKey, ctx: Ctx) -> list[VersionSummary]:
    async with ctx.db.session() as session:
        rows = await versions(session)
    return [
        VersionSummary(
            version=r.version,
            seq=r.seq or 0,
            area=r.area,
            source=r.source,
            changed_by=r.changed_by,
            note=r.note,
            created_at=as_utc(r.created_at),
            agencies=len(r.document.get("agencies", [])),
        )
        for r in rows
    ]


@router.get(
    "/directory/versions/{version}",
    response_model=DirectoryView,
    summary="One version of the directory, as a decision that names it saw it",
)
async def get_version(version: str, _: AnyKey, ctx: Ctx) -> DirectoryView:
    async with ctx.db.session() as session:
        row = await version_named(session, version)
    if row is None:
        raise NotFound("Directory version")
    return _directory_view(row)


async def _current_content(ctx: ServiceContext) -> Directory:
    async with ctx.db.session() as session:
        return await current_directory(ctx, session)


@router.post(
    "/directory/agencies",
    status_code=201,
    response_model=DirectoryView,
    summary="Add an agency; the change becomes a new version",
)
async def add_agency(body: Agency, principal: DirectoryWrite, ctx: Ctx) -> DirectoryView:
    current = await _current_content(ctx)
    if current.agency(body.id) is not None:
        raise Problem(
            409, "Conflict", f"An agency {body.id!r} exists already.", type="agency-exists"
        )
    try:
        content = DirectoryContent.model_validate(
            {
                **current.model_dump(exclude={"version"}),
                "agencies": [*current.model_dump()["agencies"], body.model_dump()],
            }
        )
    except ValueError as exc:
        raise _invalid(exc) from exc
    return await _change(
        ctx, content, principal=principal, source="agency", note=f"added {body.id}"
    )


@router.put(
    "/directory/agencies/{agency_id}",
    response_model=DirectoryView,
    summary="Change an agency; the change becomes a new version",
)
async def put_agency(
    agency_id: str, body: Agency, principal: DirectoryWrite, ctx: Ctx
) -> DirectoryView:
    current = await _current_content(ctx)
    if current.agency(agency_id) is None:
        raise NotFound("Agency")
    if body.id != agency_id:
        raise Problem(
            422, "The agency is not valid", "The body's id must be the path's.", type="id-mismatch"
        )
    agencies = [
        body.model_dump() if a.id == agency_id else a.model_dump() for a in current.agencies
    ]
    try:
        content = DirectoryContent.model_validate(
            {**current.model_dump(exclude={"version"}), "agencies": agencies}
        )
    except ValueError as exc:
        raise _invalid(exc) from exc
    return await _change(
        ctx, content, principal=principal, source="agency", note=f"changed {agency_id}"
    )


@router.delete(
    "/directory/agencies/{agency_id}",
    response_model=DirectoryView,
    summary="Remove an agency with no open referrals; the change becomes a new version",
)
async def delete_agency(agency_id: str, principal: DirectoryWrite, ctx: Ctx) -> DirectoryView:
    current = await _current_content(ctx)
    agency = current.agency(agency_id)
    if agency is None:
        raise NotFound("Agency")
    if agency.kind != "agency":
        raise Problem(
            409, "Conflict", f"The {agency.kind} cannot be removed.", type="agency-required"
        )
    async with ctx.db.session() as session:
        holding = (await service.open_referrals(session)).get(agency_id, 0)
    if holding:
        raise Problem(
            409,
            "Conflict",
            f"{agency.name} holds {holding} open referral(s): the hub reassigns them first.",
            type="agency-has-referrals",
        )
    agencies = [a.model_dump() for a in current.agencies if a.id != agency_id]
    content = DirectoryContent.model_validate(
        {**current.model_dump(exclude={"version"}), "agencies": agencies}
    )
    return await _change(
        ctx, content, principal=principal, source="agency", note=f"removed {agency_id}"
    )


class SkippedView(BaseModel):
    service_id: str
    name: str
    reason: str


class ImportView(BaseModel):
    version: str = Field(description="The directory version the import created.")
    imported: list[str] = Field(description="Ids of the agencies added or replaced.")
    skipped: list[SkippedView]
    notes: list[str]


@router.post(
    "/directory/import/oruk",
    status_code=201,
    response_model=ImportView,
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
    ctx: Ctx,
    document: Annotated[Any, Body(description="ORUK / HSDS 3 JSON")],
    response_sla_hours: Annotated[int, Query(ge=1, le=24 * 14)] = 72,
) -> ImportView:
    async with ctx.db.session() as session:
        try:
            directory, result = await import_oruk(
                session,
                document,
                response_sla_hours=response_sla_hours,
                changed_by=principal.organisation,
                at=ctx.clock.now(),
            )
        except ValueError as exc:
            raise _invalid(exc) from exc
        if directory is None:
            raise Problem(
                422,
                "Nothing to import",
                "No service in the document could become an agency.",
                type="nothing-to-import",
                skipped=[asdict(s) for s in result.skipped],
            )
        await session.commit()
    return ImportView(
        version=directory.version,
        imported=[a.id for a in result.agencies],
        skipped=[SkippedView(**asdict(s)) for s in result.skipped],
        notes=result.notes,
    )


# ---------------------------------------------------------------- referrals


class DestinationView(BaseModel):
    kind: str
    id: str | None
    organisation: str | None
    name: str | None


class ReferralView(BaseModel):
    """A referral as its destination sees it: ids, level and status, no personal data."""

    referral_id: str
    status: str
    level: int
    priority: str
    destination: DestinationView
    respond_by: datetime | None
    routed_at: datetime
    updated_at: datetime | None
    reason_code: str | None
    allowed_actions: list[str]


class CandidateView(BaseModel):
    agency_id: str
    name: str
    suitable: bool
    reason: str


class StepView(BaseModel):
    at: datetime
    status: str
    destination_kind: str | None
    destination_id: str | None
    reason_code: str | None
    by: str
    summary: str
    rationale: str | None
    directory_version: str | None


class RoutingRecord(ReferralView):
    """Where a referral went and why, in plain words, with every later step."""

    reason_codes: list[str]
    explanation: str = Field(description="Why it went where it went, in plain words.")
    considered: list[CandidateView]
    directory_version: str
    history: list[StepView]


def _referral_view(row: RoutingDecision) -> ReferralView:
    return ReferralView(
        referral_id=row.referral_id,
        status=row.status,
        level=row.level,
        priority=row.priority,
        destination=DestinationView(
            kind=row.destination_kind,
            id=row.destination_id,
            organisation=row.destination_organisation,
            name=row.destination_name,
        ),
        respond_by=as_utc(row.respond_by) if row.respond_by else None,
        routed_at=as_utc(row.routed_at),
        updated_at=as_utc(row.updated_at) if row.updated_at else None,
        reason_code=row.reason_code,
        allowed_actions=list(allowed_actions(row.status)) if row.destination_id else [],
    )


def _record(row: RoutingDecision, steps: list[RoutingStep]) -> RoutingRecord:
    return RoutingRecord(
        **_referral_view(row).model_dump(),
        reason_codes=row.reason_codes,
        explanation=row.explanation,
        considered=[
            CandidateView(
                agency_id=str(c["agency_id"]),
                name=str(c.get("name") or c["agency_id"]),
                suitable=bool(c["suitable"]),
                reason=str(c["reason"]),
            )
            for c in row.considered
        ],
        directory_version=row.directory_version,
        history=[
            StepView(
                at=as_utc(s.at),
                status=s.status,
                destination_kind=s.destination_kind,
                destination_id=s.destination_id,
                reason_code=s.reason_code,
                by=s.by,
                summary=s.summary,
                rationale=s.rationale,
                directory_version=s.directory_version,
            )
            for s in steps
        ],
    )


@router.get(
    "/referrals",
    response_model=list[ReferralView],
    summary="Referrals addressed to your organisation (the hub: every referral)",
)
async def list_referrals(
    principal: ReferralsRead,
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ReferralView]:
    query = select(RoutingDecision).order_by(col(RoutingDecision.routed_at).desc()).limit(limit)
    if principal.kind not in service.HUB_KINDS:
        query = query.where(RoutingDecision.destination_organisation == principal.organisation)
    if status is not None:
        query = query.where(RoutingDecision.status == status)
    async with ctx.db.session() as session:
        rows = (await session.exec(query)).all()
    return [_referral_view(r) for r in rows]


async def _record_of(ctx: ServiceContext, referral_id: str, principal: Principal) -> RoutingRecord:
    async with ctx.db.session() as session:
        row = await session.get(RoutingDecision, referral_id)
        if row is None or not service.may_see(principal, row):
            raise NotFound("Referral")
        steps = await service.steps_of(session, referral_id)
    return _record(row, steps)


@router.get(
    "/referrals/{referral_id}/routing",
    response_model=RoutingRecord,
    summary="A referral's routing record: where it went and why, in plain words",
)
async def get_routing(referral_id: str, principal: ReferralsRead, ctx: Ctx) -> RoutingRecord:
    return await _record_of(ctx, referral_id, principal)


class DeclineRequest(BaseModel):
    reason_code: DeclineReason = Field(description=f"One of: {', '.join(DECLINE_REASONS)}.")
    note: str | None = Field(default=None, max_length=2000)


class CloseRequest(BaseModel):
    outcome: Literal["completed", "failed"]
    outcome_code: OutcomeCode = Field(
        description="completed: "
        + ", ".join(OUTCOMES["completed"])
        + "; failed: "
        + ", ".join(OUTCOMES["failed"])
    )
    note: str | None = Field(default=None, max_length=2000)


async def _act(ctx: ServiceContext, **kwargs: Any) -> RoutingRecord:
    async with ctx.db.session() as session:
        row = await service.act(ctx, session, **kwargs)
        await session.commit()
    ctx.published()
    return await _record_of(ctx, row.referral_id, kwargs["principal"])


@router.post(
    "/referrals/{referral_id}/accept", response_model=RoutingRecord, summary="Accept a referral"
)
async def accept(referral_id: str, principal: ReferralsWrite, ctx: Ctx) -> RoutingRecord:
    return await _act(ctx, referral_id=referral_id, principal=principal, action="accept")


@router.post(
    "/referrals/{referral_id}/decline",
    response_model=RoutingRecord,
    summary="Decline a referral with a reason; it goes to the hub at once",
)
async def decline(
    referral_id: str, body: DeclineRequest, principal: ReferralsWrite, ctx: Ctx
) -> RoutingRecord:
    async with ctx.db.session() as session:
        row = await service.act(
            ctx,
            session,
            referral_id=referral_id,
            principal=principal,
            action="decline",
            reason_code=body.reason_code,
            note=body.note,
        )
        await session.commit()
        steps = await service.steps_of(session, referral_id)
    ctx.published()
    # The referral is the hub's now; the agency that declined sees where it went.
    return _record(row, steps)


@router.post(
    "/referrals/{referral_id}/start",
    response_model=RoutingRecord,
    summary="Start working with the family",
)
async def start(referral_id: str, principal: ReferralsWrite, ctx: Ctx) -> RoutingRecord:
    return await _act(ctx, referral_id=referral_id, principal=principal, action="start")


@router.post(
    "/referrals/{referral_id}/close",
    response_model=RoutingRecord,
    summary="Close a referral as completed or failed, with an outcome code",
)
async def close(
    referral_id: str, body: CloseRequest, principal: ReferralsWrite, ctx: Ctx
) -> RoutingRecord:
    if not valid_outcome(body.outcome, body.outcome_code):
        raise Problem(
            422,
            "The request is not valid",
            f"{body.outcome_code!r} is not an outcome code for {body.outcome}; use one of: "
            + ", ".join(OUTCOMES[body.outcome]),
            type="validation",
        )
    return await _act(
        ctx,
        referral_id=referral_id,
        principal=principal,
        action="close",
        outcome=body.outcome,
        reason_code=body.outcome_code,
        note=body.note,
    )


class ReassignRequest(BaseModel):
    agency_id: str = Field(min_length=1, max_length=64)
    rationale: Rationale


class OverrideRequest(BaseModel):
    destination: Literal["mash", "hub", "universal"] = Field(
        description="mash: up to children's social care; hub: to the hub; universal: no referral."
    )
    rationale: Rationale


@router.post(
    "/referrals/{referral_id}/reassign",
    response_model=RoutingRecord,
    summary="The hub sends a referral to an agency of its choosing, with a rationale",
)
async def reassign(
    referral_id: str, body: ReassignRequest, principal: ReferralsWrite, ctx: Ctx
) -> RoutingRecord:
    async with ctx.db.session() as session:
        await service.reassign(
            ctx,
            session,
            referral_id=referral_id,
            principal=principal,
            agency_id=body.agency_id,
            rationale=body.rationale.strip(),
        )
        await session.commit()
    ctx.published()
    return await _record_of(ctx, referral_id, principal)


@router.post(
    "/referrals/{referral_id}/override",
    response_model=RoutingRecord,
    summary="The hub overrides a referral's destination (MASH, hub or universal), with a rationale",
)
async def override(
    referral_id: str, body: OverrideRequest, principal: ReferralsWrite, ctx: Ctx
) -> RoutingRecord:
    async with ctx.db.session() as session:
        await service.override(
            ctx,
            session,
            referral_id=referral_id,
            principal=principal,
            destination=body.destination,
            rationale=body.rationale.strip(),
        )
        await session.commit()
    ctx.published()
    return await _record_of(ctx, referral_id, principal)
