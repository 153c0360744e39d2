"""Intake's REST API: the front door for police and school systems."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response, Security
from fastapi.openapi.models import Example
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from services.intake.batch import CSV_COLUMNS, csv_rows, json_rows
from services.intake.limits import LimitedBodyRoute, TokenBuckets, body_limit, rate_limited
from services.intake.models import IdempotencyRecord, JourneyStep, Report, ReportVersion
from services.intake.rules import check
from services.intake.schemas import (
    Accepted,
    BatchResult,
    DestinationView,
    ReportStatus,
    RowAccepted,
    RowRejected,
    Step,
    problem_responses,
)
from services.intake.submission import Receipt, report_sha256, store_report
from shared.auth import Principal, authenticate
from shared.db import table_of
from shared.problems import NotFound, Problem
from shared.report import ConcernReport, vocabulary
from shared.runtime import ServiceContext, context_of
from shared.settings import Settings

router = APIRouter(prefix="/v1", tags=["intake"], route_class=LimitedBodyRoute)

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
# A concurrent request can win a race (same Idempotency-Key, or a resubmission of the
# same reference); the loser re-reads and answers from what the winner stored.
_ATTEMPTS = 3


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "intake")


Ctx = Annotated[ServiceContext, Depends(_ctx)]


def _buckets(ctx: ServiceContext) -> TokenBuckets:
    buckets = ctx.state.get("rate_limit")
    if buckets is None:
        buckets = TokenBuckets(
            rate_per_minute=ctx.settings.intake_rate_per_minute, burst=ctx.settings.intake_burst
        )
        ctx.state["rate_limit"] = buckets
    assert isinstance(buckets, TokenBuckets)
    return buckets


def _client(scope: str) -> Callable[..., Awaitable[Principal]]:
    # The scope is a default value, not an annotation: annotations are strings here
    # (postponed evaluation) and could not see this function's `scope`.
    async def limited(
        ctx: Ctx, principal: Principal = Security(authenticate, scopes=[scope])
    ) -> Principal:
        wait = _buckets(ctx).take(principal.client_id)
        if wait > 0:
            raise rate_limited(wait)
        return principal

    return limited


ReportsWrite = Annotated[Principal, Depends(_client("reports:write"))]
ReportsRead = Annotated[Principal, Depends(_client("reports:read"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry safely: the same key and body replay the first answer; "
        "the same key with another body is a 409.",
    ),
]


def _examples() -> dict[str, Example]:
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {
        path.stem: Example(
            summary=path.stem.replace("-", " ").capitalize(), value=json.loads(path.read_text())
        )
        for path in sorted(EXAMPLES_DIR.glob("*.json"))
    }


def _authorise(principal: Principal, report: ConcernReport) -> None:
    if report.source.organisation != principal.organisation:
        raise Problem(
            403,
            "Forbidden",
            "source.organisation must be the organisation this API key belongs to.",
            type="wrong-organisation",
        )


Write = Callable[[AsyncConnection, datetime], Awaitable[tuple[int, dict[str, Any]]]]


async def _write_once(
    ctx: ServiceContext,
    principal: Principal,
    response: Response,
    idempotency_key: str | None,
    request_sha256: str,
    write: Write,
) -> dict[str, Any]:
    """Run `write` in one transaction with the Idempotency-Key's record, or replay the
    answer stored under that key."""
    for _ in range(_ATTEMPTS):
        if idempotency_key is not None:
            record = await _replay(ctx, principal, idempotency_key, request_sha256)
            if record is not None:
                response.headers["Idempotent-Replayed"] = "true"
                response.status_code = record.status_code
                return record.response
        now = ctx.clock.now()
        try:
            async with ctx.db.engine.begin() as conn:
                status, answer = await write(conn, now)
                if idempotency_key is not None:
                    await conn.execute(
                        insert(table_of(IdempotencyRecord)).values(
                            client_id=principal.client_id,
                            key=idempotency_key,
                            request_sha256=request_sha256,
                            status_code=status,
                            response=answer,
                            created_at=now,
                        )
                    )
        except IntegrityError:
            continue
        ctx.published()
        response.status_code = status
        return answer
    raise Problem(409, "Conflict", "The report conflicts with one being stored; retry.")


async def _replay(
    ctx: ServiceContext, principal: Principal, key: str, request_sha256: str
) -> IdempotencyRecord | None:
    async with ctx.db.session() as session:
        record = await session.get(IdempotencyRecord, (principal.client_id, key))
    if record is not None and record.request_sha256 != request_sha256:
        raise Problem(
            409,
            "Conflict",
            "This Idempotency-Key was already used with a different body.",
            type="idempotency-conflict",
        )
    return record


def _accepted(receipt: Receipt) -> Accepted:
    return Accepted(
        referral_id=receipt.referral_id,
        status=receipt.status,
        status_url=receipt.status_url,
        duplicate_of=receipt.duplicate_of,
        supersedes=receipt.supersedes,
    )


@router.post(
    "/reports",
    status_code=202,
    response_model=Accepted,
    summary="Submit a concern report",
    description=(
        "Answers 202 only after the report and its event are durably committed together.\n\n"
        "**Resubmissions.** A report whose `source.reference` this organisation already "
        "used is linked, not double-counted: if it is the same as the latest report "
        "under that reference, nothing new is stored and the answer carries that "
        "report's `referral_id` and `duplicate_of`; if it differs, it is stored as a new "
        "referral whose answer names the one it `supersedes`, and the concern is counted "
        "once downstream.\n\n"
        "**Idempotency.** With `Idempotency-Key`, the same key and body replay the first "
        "answer (header `Idempotent-Replayed: true`); the same key with another body is "
        "a 409.\n\n"
        "**Limits.** Bodies over 256 KiB (configurable) are refused with 413 before "
        "parsing; each API key has a rate limit (429 with `Retry-After`)."
    ),
    response_description="Received (or recognised as a resubmission)",
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429),
)
@body_limit("intake_max_report_bytes")
async def submit_report(
    report: Annotated[ConcernReport, Body(openapi_examples=_examples())],
    principal: ReportsWrite,
    ctx: Ctx,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    check(report, now=ctx.clock.now())
    _authorise(principal, report)

    async def write(conn: AsyncConnection, now: datetime) -> tuple[int, dict[str, Any]]:
        receipt = await store_report(conn, ctx=ctx, principal=principal, report=report, now=now)
        return 202, _accepted(receipt).model_dump(mode="json")

    answer = await _write_once(
        ctx, principal, response, idempotency_key, report_sha256(report), write
    )
    response.headers["Location"] = answer["status_url"]
    return answer


_CSV_EXAMPLE = (
    "source.reference,reported_at,child.given_name,child.family_name,child.date_of_birth,"
    "child.address.postcode,concerns,school.upn,school.dsl.name,school.dsl.role,"
    "school.dsl.email,school.attendance_percent\n"
    "CPOMS-90211,2026-11-26T15:05:00Z,Leo,Sample,2014-09-02,EX4 6PX,"
    "absence_truancy;young_carer,G878200125010,Jo Teacher,Designated Safeguarding Lead,"
    "dsl@demo-primary.sch.uk,81.5\n"
)


@router.post(
    "/reports/batch",
    response_model=BatchResult,
    summary="Submit many reports at once (school systems)",
    description=(
        "The body is either a JSON array of reports (`application/json`, the same shape "
        "as POST /v1/reports) or a CSV file (`text/csv`, UTF-8, raw body). The answer "
        "lists every row: `accepted` (with its referral, stored exactly as POST "
        "/v1/reports would, resubmission rules included) or `errors` (each field error "
        "with its location; `loc` and `pointer` start at the row). Valid rows are kept "
        "even when others fail; `rows` = accepted + errors. 1 to 500 rows "
        "(configurable); bodies over 8 MiB are refused with 413.\n\n"
        "**CSV columns** are the report's dotted field paths; the header names them in "
        "any order: " + ", ".join(f"`{c}`" for c in CSV_COLUMNS) + ". `concerns` holds "
        "codes separated by `;`. `source.kind` and `source.organisation` default to the "
        "API key's; `school.urn` defaults to `source.organisation`. Empty cells are "
        "absent fields. Household members and police details need the JSON form.\n\n"
        "`Idempotency-Key` covers the whole batch."
    ),
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 429),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": Settings.model_fields["intake_max_batch_rows"].default,
                        "items": {"$ref": "#/components/schemas/ConcernReport"},
                    }
                },
                "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
            },
        }
    },
)
@body_limit("intake_max_batch_bytes")
async def submit_batch(
    request: Request,
    principal: ReportsWrite,
    ctx: Ctx,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    body = await request.body()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    max_rows = ctx.settings.intake_max_batch_rows
    if media == "application/json" or media.endswith("+json"):
        rows = json_rows(body, principal, max_rows, now=ctx.clock.now())
    elif media == "text/csv":
        rows = csv_rows(body, principal, max_rows, now=ctx.clock.now())
    else:
        raise Problem(
            415,
            "Unsupported media type",
            "Send application/json (an array of reports) or text/csv.",
            type="unsupported-media-type",
        )

    async def write(conn: AsyncConnection, now: datetime) -> tuple[int, dict[str, Any]]:
        accepted = []
        for index, report in rows.valid:
            receipt = await store_report(conn, ctx=ctx, principal=principal, report=report, now=now)
            accepted.append(RowAccepted(row=index, **_accepted(receipt).model_dump()))
        result = BatchResult(
            rows=rows.count,
            accepted=accepted,
            errors=[RowRejected.model_validate({"row": i, "errors": e}) for i, e in rows.invalid],
        )
        return 200, result.model_dump(mode="json")

    digest = hashlib.sha256(b"batch\n" + media.encode() + b"\n" + body).hexdigest()
    return await _write_once(ctx, principal, response, idempotency_key, digest, write)


def _outcome(steps: list[Step]) -> str:
    return steps[-1].summary if steps else "Your report was received."


@router.get(
    "/reports/{referral_id}",
    response_model=ReportStatus,
    summary="Follow a report you submitted: received, triaged, routed, and what next",
    description=(
        "The journey of a report, phrased for the referrer: received, triaged, routed, "
        "then the receiving agency's accepted, declined or closed, with an `outcome` "
        'sentence ("no further action" and "universal services advised" included). '
        "Only the client that submitted the report sees it; others get 404."
    ),
    responses=problem_responses(401, 403, 404, 429),
)
async def report_status(referral_id: str, principal: ReportsRead, ctx: Ctx) -> ReportStatus:
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
        version = await session.get(ReportVersion, referral_id)
        later = (
            await session.exec(
                select(ReportVersion.referral_id).where(ReportVersion.supersedes == referral_id)
            )
        ).first()
    destination = (
        DestinationView(kind=report.destination_kind, name=report.destination_name or "")
        if report.destination_kind
        else None
    )
    journey = [Step(status=s.status, at=s.at, summary=s.summary) for s in steps]
    return ReportStatus(
        referral_id=report.referral_id,
        status=report.status,
        outcome=_outcome(journey),
        source_reference=report.source_reference,
        received_at=report.received_at,
        level=report.level,
        priority=report.priority,
        destination=destination,
        supersedes=(version.supersedes or None) if version is not None else None,
        superseded_by=later,
        journey=journey,
    )


@router.get("/vocabulary", summary="The published concern vocabulary, with labels")
async def get_vocabulary() -> dict[str, object]:
    return vocabulary()
