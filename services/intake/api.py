"""Intake's REST API: the front door for police and school systems."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.intake.models import IdempotencyRecord, JourneyStep, Report
from services.intake.subjects import subject_key
from shared.auth import Principal, requires
from shared.db import table_of
from shared.envelope import new_event
from shared.events import EventType, ReferralReceived
from shared.outbox import OutboxMessage, outbox_row
from shared.problems import NotFound, Problem
from shared.report import ConcernReport, vocabulary
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1", tags=["intake"])


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "intake")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
ReportsWrite = Annotated[Principal, requires("reports:write")]
ReportsRead = Annotated[Principal, requires("reports:read")]


class Accepted(BaseModel):
    referral_id: str
    status: str
    status_url: str


class Step(BaseModel):
    status: str
    at: datetime
    summary: str


class DestinationView(BaseModel):
    kind: str
    name: str


class ReportStatus(BaseModel):
    referral_id: str
    status: str
    source_reference: str
    received_at: datetime
    level: int | None
    priority: str | None
    destination: DestinationView | None
    journey: list[Step]


@router.post(
    "/reports",
    status_code=202,
    response_model=Accepted,
    summary="Submit a concern report",
    responses={
        401: {"description": "Missing or invalid API key"},
        403: {"description": "The key may not submit for this organisation"},
        409: {"description": "Idempotency-Key reused with a different body"},
        422: {"description": "Field errors, each with its location"},
    },
)
async def submit_report(
    report: ConcernReport,
    principal: ReportsWrite,
    ctx: Ctx,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> Any:
    """Accepted (202) only after the report and its event are durably committed together."""
    if report.source.organisation != principal.organisation:
        raise Problem(
            403,
            "Forbidden",
            "source.organisation must be the organisation this API key belongs to.",
            type="wrong-organisation",
        )
    body_hash = hashlib.sha256(report.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None:
        replay = await _replay(ctx, principal, idempotency_key, body_hash)
        if replay is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return replay

    referral_id = "ref_" + uuid.uuid4().hex
    now = datetime.now(UTC)
    key = subject_key(
        secret=ctx.settings.pseudonym_secret,
        given_name=report.child.given_name,
        family_name=report.child.family_name,
        date_of_birth=report.child.date_of_birth,
    )
    accepted = Accepted(
        referral_id=referral_id, status="received", status_url=f"/v1/reports/{referral_id}"
    )
    # Core inserts in one transaction: the report, its first journey step, the
    # idempotency answer and the outbox row commit together or not at all.
    try:
        async with ctx.db.engine.begin() as conn:
            await conn.execute(
                insert(table_of(Report)).values(
                    referral_id=referral_id,
                    client_id=principal.client_id,
                    organisation=report.source.organisation,
                    source_kind=report.source.kind,
                    source_reference=report.source.reference,
                    subject_key=key,
                    payload=report.model_dump(mode="json"),
                    status="received",
                    received_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                insert(table_of(JourneyStep)).values(
                    referral_id=referral_id,
                    status="received",
                    at=now,
                    summary="Your report was received.",
                )
            )
            if idempotency_key is not None:
                await conn.execute(
                    insert(table_of(IdempotencyRecord)).values(
                        client_id=principal.client_id,
                        key=idempotency_key,
                        request_sha256=body_hash,
                        status_code=202,
                        response=accepted.model_dump(mode="json"),
                        created_at=now,
                    )
                )
            event = new_event(
                type=EventType.REFERRAL_RECEIVED,
                source=ctx.source,
                subject=referral_id,
                partitionkey=key,
                data=ReferralReceived(
                    referral_id=referral_id,
                    subject_key=key,
                    client_id=principal.client_id,
                    received_at=now,
                    report=report,
                ),
            )
            await conn.execute(insert(table_of(OutboxMessage)).values(**outbox_row(event)))
        committed = True
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        committed = False
    if not committed:
        # Outside the first session: SQLite runs on one connection (see shared.db).
        replay = (
            await _replay(ctx, principal, idempotency_key, body_hash)
            if idempotency_key is not None
            else None
        )
        if replay is None:
            raise Problem(409, "Conflict", "The report conflicts with one being stored.")
        response.headers["Idempotent-Replayed"] = "true"
        return replay
    ctx.published()
    response.headers["Location"] = accepted.status_url
    return accepted


async def _replay(
    ctx: ServiceContext, principal: Principal, key: str, body_hash: str
) -> dict[str, Any] | None:
    async with ctx.db.session() as session:
        record = await session.get(IdempotencyRecord, (principal.client_id, key))
    if record is None:
        return None
    if record.request_sha256 != body_hash:
        raise Problem(
            409,
            "Conflict",
            "This Idempotency-Key was already used with a different body.",
            type="idempotency-conflict",
        )
    return record.response


@router.get(
    "/reports/{referral_id}",
    response_model=ReportStatus,
    summary="Follow a report you submitted: received, triaged, routed, and what next",
)
async def report_status(referral_id: str, principal: ReportsRead, ctx: Ctx) -> ReportStatus:
    """Only the submitting client sees its reports (others get 404, not 403)."""
    async with ctx.db.session() as session:
        report = await session.get(Report, referral_id)
        if report is None or report.client_id != principal.client_id:
            raise NotFound("Report")
        steps = (
            await session.exec(
                select(JourneyStep)
                .where(JourneyStep.referral_id == referral_id)
                .order_by(col(JourneyStep.at), col(JourneyStep.id))
            )
        ).all()
    destination = (
        DestinationView(kind=report.destination_kind, name=report.destination_name or "")
        if report.destination_kind
        else None
    )
    return ReportStatus(
        referral_id=report.referral_id,
        status=report.status,
        source_reference=report.source_reference,
        received_at=report.received_at,
        level=report.level,
        priority=report.priority,
        destination=destination,
        journey=[Step(status=s.status, at=s.at, summary=s.summary) for s in steps],
    )


@router.get("/vocabulary", summary="The published concern vocabulary, with labels")
async def get_vocabulary() -> dict[str, object]:
    return vocabulary()
