"""The front door for police and school systems: submit reports (one, or a batch),
list the organisation's reports and follow each one's journey, read the concern
vocabulary."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.openapi.models import Example

from services.intake import service
from services.intake.api.dependencies import Ctx, IdempotencyKey, ReportsRead, ReportsWrite, UoW
from services.intake.api.limits import LimitedBodyRoute, body_limit
from services.intake.batch import CSV_COLUMNS, csv_rows, json_rows
from services.intake.resubmission import batch_sha256
from services.intake.rules import check
from services.intake.schemas import (
    Accepted,
    BatchResult,
    ReportStatus,
    ReportSummary,
    VocabularyDocument,
    problem_responses,
)
from services.intake.settings import IntakeSettings, settings_of
from shared.auth import NO_KEY
from shared.events import ReferralState
from shared.pagination import LINK_HEADER, PageQuery, link_next, time_range
from shared.problems import Problem
from shared.report import ConcernReport, vocabulary

router = APIRouter(prefix="/v1", tags=["intake"], route_class=LimitedBodyRoute)

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"


def _examples() -> dict[str, Example]:
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {
        path.stem: Example(
            summary=path.stem.replace("-", " ").capitalize(), value=json.loads(path.read_text())
        )
        for path in sorted(EXAMPLES_DIR.glob("*.json"))
    }


def _answer(response: Response, answer: service.Answer) -> dict[str, Any]:
    response.status_code = answer.status_code
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer.body


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
        "parsing; each API key has a rate limit (429 with `Retry-After`).\n\n"
        "**Who may submit.** Only police and school keys: `source.kind` must be the "
        "key's kind (403 `wrong-source-kind`) and `source.organisation` its "
        "organisation (403 `wrong-organisation`).\n\n"
        "**Strict input.** Text refuses control characters and bidirectional overrides "
        "(422 naming the field; free text such as `narrative` keeps tab, CR and LF); "
        "booleans are JSON `true` / `false` only; a body that gives a key twice in one "
        "object is a 400 (`duplicate-key`, with its `pointer`)."
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
    answer = await service.submit_report(
        units=ctx.units,
        principal=principal,
        report=report,
        idempotency_key=idempotency_key,
        pseudonym_secret=settings_of(ctx).pseudonym_secret,
    )
    body = _answer(response, answer)
    response.headers["Location"] = body["status_url"]
    return body


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
        "API key's (a row claiming another is that row's error); `school.urn` defaults "
        "to `source.organisation`. Empty cells are absent fields; boolean columns take "
        "`true` or `false` in any case. Cells are stored exactly as given. Household "
        "members and police details need the JSON form. A JSON body that gives a key "
        "twice in one object is refused whole (400 `duplicate-key`).\n\n"
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
                        "maxItems": IntakeSettings.model_fields["intake_max_batch_rows"].default,
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
    settings = settings_of(ctx)
    max_rows = settings.intake_max_batch_rows
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
    answer = await service.submit_batch(
        units=ctx.units,
        principal=principal,
        rows=rows,
        request_sha256=batch_sha256(media, body),
        idempotency_key=idempotency_key,
        pseudonym_secret=settings.pseudonym_secret,
    )
    return _answer(response, answer)


def _report_filter(
    status: Annotated[
        ReferralState | None,
        Query(
            description="Only reports at this status (any other value is a 422 naming `status`)."
        ),
    ] = None,
    received_from: Annotated[
        str | None,
        Query(
            description="Only reports received at or after this: a date (`2026-11-30`, "
            "from midnight UTC) or a date and time with its offset "
            "(`2026-11-30T09:00:00Z`, `2026-11-30T09:00:00+00:00`).",
            examples=["2026-11-30", "2026-11-30T09:00:00Z"],
        ),
    ] = None,
    received_to: Annotated[
        str | None,
        Query(
            description="Only reports received before this (exclusive), in the same "
            "forms; before `received_from` is a 422.",
            examples=["2026-12-01"],
        ),
    ] = None,
    reference: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Only reports under this `source.reference` of yours (exactly): "
            "each version of a resubmitted report.",
        ),
    ] = None,
) -> service.ReportFilter:
    since, until = time_range(("received_from", received_from), ("received_to", received_to))
    return service.ReportFilter(
        status=status, received_from=since, received_to=until, reference=reference
    )


_LIST_RESPONSES = problem_responses(401, 403, 422, 429)
_LIST_RESPONSES[422] = {
    **_LIST_RESPONSES[422],
    "description": "A query parameter that is not one it could be (an unknown `status`, "
    "a date that is not one or a range ending before it starts, a `cursor` no list "
    "gave, a `limit` outside 1 to 200): each error names its parameter",
}


@router.get(
    "/reports",
    response_model=list[ReportSummary],
    summary="List your organisation's reports, newest first",
    description=(
        "The reports your organisation raised (any key or person of the organisation, "
        "of the kind that raised them: police or school), newest first by `received_at` "
        "then `referral_id`, each with where it stands and its `outcome` sentence; "
        "never the child's personal data. Filter by `status`, `received_from` "
        "(inclusive) / `received_to` (exclusive) and `reference`; a filter value that "
        "is not one it could be is a 422 naming the parameter, never an empty list.\n\n"
        "**Pages.** At most `limit` (1 to 200, default 50) a page. When there are more, "
        'the `Link` header gives the next page (`rel="next"`), with an opaque `cursor` '
        "and the same filters; the last page has no `Link`. The order is stable, so "
        "following the links lists every report once, reports received meanwhile "
        "appearing only on a fresh first page."
    ),
    response_description="Your organisation's reports, one page",
    responses={200: {"headers": LINK_HEADER}, **_LIST_RESPONSES},
)
async def list_reports(
    request: Request,
    response: Response,
    principal: ReportsRead,
    uow: UoW,
    filters: Annotated[service.ReportFilter, Depends(_report_filter)],
    page: PageQuery,
) -> list[ReportSummary]:
    found = await service.list_reports(uow=uow, principal=principal, filters=filters, page=page)
    link_next(request, response, found, page.limit)
    return found.items


@router.get(
    "/reports/{referral_id}",
    response_model=ReportStatus,
    summary="Follow a report of your organisation's: received, triaged, routed, and what next",
    description=(
        "The journey of a report, phrased for the referrer: received, triaged, routed, "
        "then the receiving agency's accepted, declined or closed, with an `outcome` "
        'sentence ("no further action" and "universal services advised" included). '
        "Every key and person of the organisation that raised the report (of its kind: "
        "police or school) sees it, whichever of them submitted it; others get 404."
    ),
    responses=problem_responses(401, 403, 404, 429),
)
async def report_status(referral_id: str, principal: ReportsRead, uow: UoW) -> ReportStatus:
    return await service.report_status(uow=uow, principal=principal, referral_id=referral_id)


# The vocabulary holds no personal data and is the same for every caller, so it may be
# cached (`shared.headers` exempts it from `no-store`); `no-cache` makes a cache, or a
# school MIS, revalidate on every use, so a newly published version is seen at once,
# and the strong `ETag` makes that revalidation a 304 with no body.
VOCABULARY_CACHE_CONTROL = "no-cache"


@cache
def vocabulary_document() -> tuple[bytes, str]:
    """The vocabulary as served (compact JSON) and its strong ETag, a SHA-256 of it."""
    body = json.dumps(vocabulary(), ensure_ascii=False, separators=(",", ":")).encode()
    return body, f'"{hashlib.sha256(body).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` (RFC 9110 s13.1.2): `*`, or a list of tags compared weakly."""
    if if_none_match is None:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


@router.get(
    "/vocabulary",
    openapi_extra=NO_KEY,
    summary="The published concern vocabulary (v2): codes, labels, guidance, synonyms",
    description=(
        "Every concern code a report may carry, with its label, assessment-triangle "
        "`domain`, the one-line `guidance` a referrer sees, search `synonyms` and its "
        "`source`; a code with a statutory route of its own names its `pathway`; a "
        "code kept only for earlier senders is `deprecated` and names its "
        "`replaced_by`. The answer carries a strong `ETag`: send it back in "
        "`If-None-Match` and an unchanged vocabulary is a 304 with no body."
    ),
    response_model=None,
    responses={
        200: {
            "description": "The vocabulary, version 2026-12-v2",
            "model": VocabularyDocument,
            "headers": {
                "ETag": {
                    "description": "A strong hash of the document",
                    "schema": {"type": "string"},
                }
            },
        },
        304: {"description": "Not modified: the `If-None-Match` tag is current"},
    },
)
async def get_vocabulary(
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    body, etag = vocabulary_document()
    headers = {"ETag": etag, "Cache-Control": VOCABULARY_CACHE_CONTROL}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
