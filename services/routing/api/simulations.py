"""The policy simulator's routing half over HTTP (`POST /v1/simulations/reroute`): the
console sends triage's re-decided referrals as NDJSON and reads back each referral's
stored and draft destinations, as NDJSON. For the hub and administrators with
`policy:simulate`; read only (nothing is written, no event is recorded).

The whole body is read and checked before anything is routed: a line this route cannot
read is a 422 naming its line and field, a body over `MAX_BODY_BYTES` a 413."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from services.routing.api.dependencies import PolicySimulate, ReadOnlyUoW
from services.routing.directory import Directory
from services.routing.schemas import SimulatedReferral, SimulationHeader
from services.routing.service import simulation as service
from shared.problems import PROBLEM_JSON, Problem
from shared.simulation import NDJSON, Redecided, compared_to_dict

router = APIRouter()

# A year of a large county's referrals is tens of megabytes of NDJSON.
MAX_BODY_BYTES = 256 * 1024 * 1024
# The field errors a 422 lists (a body of bad lines is refused at the first few).
MAX_ERRORS = 20
# Compared lines sent in one chunk of the answer.
LINES_PER_CHUNK = 1000


class NdjsonResponse(StreamingResponse):
    media_type = NDJSON


@dataclass(frozen=True)
class RerouteRequest:
    """A simulation's body, read and checked: what is simulated, the draft directory
    (None: each referral by the directory version it was routed by), and triage's
    decisions in the order it made them."""

    start: datetime
    top_level: int
    directory: Directory | None
    redecided: list[Redecided]


def _too_large() -> Problem:
    return Problem(
        413,
        "Request body too large",
        f"The body must not exceed {MAX_BODY_BYTES} bytes.",
        type="body-too-large",
        max_bytes=MAX_BODY_BYTES,
    )


async def _lines(request: Request) -> AsyncIterator[bytes]:
    """The body's lines (without their line feed) as they arrive, refusing (413) a
    declared or streamed size over `MAX_BODY_BYTES` as soon as it is known."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, "Bad request", "Content-Length must be a number of bytes.")
        if int(declared) > MAX_BODY_BYTES:
            raise _too_large()
    size = 0
    pending = bytearray()
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        searched = len(pending)  # what is pending holds no line feed
        pending += chunk
        cut = 0
        while (end := pending.find(b"\n", max(searched, cut))) != -1:
            yield bytes(pending[cut:end])
            cut = end + 1
        del pending[:cut]
    yield bytes(pending)


_JSON_AT = re.compile(r" at line \d+ column (\d+)")


def _errors_of(
    line: int, exc: ValidationError, within: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """A line's pydantic errors as problem field errors, each naming its `line`, with
    `loc`, `pointer` and `field` within the line's JSON object (empty: the whole line)."""
    errors = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in (*within, *err["loc"])]
        message = err["msg"]
        if err["type"] == "json_invalid":
            why = str(err.get("ctx", {}).get("error", "")) or message
            message = "not JSON: " + _JSON_AT.sub(r" at column \1", why)
        errors.append(
            {
                "line": line,
                "loc": loc,
                "pointer": "".join(
                    "/" + part.replace("~", "~0").replace("/", "~1") for part in loc
                ),
                "field": ".".join(loc),
                "message": message,
                "type": err["type"],
            }
        )
    return errors


def _invalid(errors: list[dict[str, Any]]) -> Problem:
    named = "; ".join(
        f"line {e['line']}" + (f" {e['field']}" if e["field"] else "") + f": {e['message']}"
        for e in errors[:5]
    )
    return Problem(
        422,
        "The request is not valid",
        f"{len(errors)} error(s){' (the first ones)' if len(errors) >= MAX_ERRORS else ''}: "
        + named,
        type="validation",
        errors=errors,
    )


async def read_reroute(request: Request) -> RerouteRequest:
    """The body, NDJSON: line 1 `{"about": {...}}`, then one re-decided referral per
    non-empty line. Read whole (within `MAX_BODY_BYTES`) and checked before anything is
    routed; every error names its line."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != NDJSON:
        raise Problem(
            415,
            "Unsupported media type",
            f'Send {NDJSON}: line 1 {{"about": ...}}, then one referral per line.',
            type="unsupported-media-type",
        )
    errors: list[dict[str, Any]] = []
    header: SimulationHeader | None = None
    directory: Directory | None = None
    redecided: list[Redecided] = []
    number = 0
    async for text in _lines(request):
        number += 1
        if len(errors) >= MAX_ERRORS:
            continue  # read on: a body over the limit is still a 413
        if number == 1:
            header, directory = _header(text, errors)
            continue
        if not text.strip():
            continue
        try:
            redecided.append(SimulatedReferral.model_validate_json(text).redecided())
        except ValidationError as exc:
            errors += _errors_of(number, exc)
    if errors:
        raise _invalid(errors[:MAX_ERRORS])
    assert header is not None
    return RerouteRequest(
        start=header.about.start,
        top_level=header.about.top_level,
        directory=directory,
        redecided=redecided,
    )


def _header(
    text: bytes, errors: list[dict[str, Any]]
) -> tuple[SimulationHeader | None, Directory | None]:
    """Line 1, what is simulated, and its draft directory checked as a directory."""
    if not text.strip():
        errors.append(
            {
                "line": 1,
                "loc": ["about"],
                "pointer": "/about",
                "field": "about",
                "message": 'line 1 must be {"about": {"start", "top_level", "directory"}}',
                "type": "missing",
            }
        )
        return None, None
    try:
        header = SimulationHeader.model_validate_json(text)
    except ValidationError as exc:
        errors += _errors_of(1, exc)
        return None, None
    if header.about.directory is None:
        return header, None
    try:
        return header, service.draft_directory(header.about.directory)
    except ValidationError as exc:
        errors += _errors_of(1, exc, ("about", "directory"))
        return None, None


RerouteBody = Annotated[RerouteRequest, Depends(read_reroute)]


def _ndjson(rerouted: service.Rerouted) -> Iterator[bytes]:
    yield _line(
        {
            "about": {
                "directory_version": rerouted.directory_version,
                "capacity": rerouted.capacity,
            }
        }
    )
    for at in range(0, len(rerouted.compared), LINES_PER_CHUNK):
        chunk = rerouted.compared[at : at + LINES_PER_CHUNK]
        yield b"".join(_line(compared_to_dict(one)) for one in chunk)


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_INVALID_SCHEMA: dict[str, Any] = {
    **_PROBLEM_SCHEMA,
    "properties": {
        **_PROBLEM_SCHEMA["properties"],
        "errors": {
            "type": "array",
            "description": "Each field that cannot be read, by line (the first 20).",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer", "description": "The body's line, from 1."},
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "pointer": {
                        "type": "string",
                        "description": "A JSON pointer into the line (empty: the line).",
                    },
                    "field": {"type": "string", "description": "The dotted field name."},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def _problem(description: str, schema: dict[str, Any] = _PROBLEM_SCHEMA) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


_EXAMPLE_REQUEST = (
    '{"about": {"start": "2026-09-01T00:00:00+01:00", "top_level": 4, "directory": null}}\n'
    '{"referral_id": "ref_01", "received_at": "2026-09-02T10:00:00+00:00", '
    '"decided_at": "2026-09-02T10:00:01+00:00", "stored": {"level": 2, "priority": "green", '
    '"destination": "", "decide_by": null, "score": 4, "rules": [], "factors": '
    '["domestic_abuse"], "explanation": ""}, "draft": {"level": 3, "priority": "amber", '
    '"destination": "", "decide_by": null, "score": 6, "rules": [], "factors": '
    '["domestic_abuse"], "explanation": ""}, "concern_codes": ["domestic_abuse"], '
    '"age_years": 8, "postcode_district": "EX1", "suspected_codes": [], "in_period": true}\n'
)
_EXAMPLE_ANSWER = (
    '{"about": {"directory_version": "demo-2026-12-1", "capacity": {"agency:safe-homes": 40}}}\n'
    '{"referral_id": "ref_01", "received_at": "2026-09-02T10:00:00+00:00", '
    '"decided_at": "2026-09-02T10:00:01+00:00", "stored": {"level": 2, "priority": "green", '
    '"destination": "agency:safe-homes", "decide_by": null, "score": 4, "rules": [], '
    '"factors": ["domestic_abuse"], "explanation": ""}, "draft": {"level": 3, "priority": '
    '"amber", "destination": "hub", "decide_by": null, "score": 6, "rules": [], "factors": '
    '["domestic_abuse"], "explanation": ""}}\n'
)


@router.post(
    "/simulations/reroute",
    summary="Route a period's referrals again under a draft, beside where they went (read only)",
    description=(
        "The routing half of a threshold policy simulation (the console's, through the "
        "API; `signpost simulate` does the same from the databases). The body is NDJSON "
        f'(`{NDJSON}`): line 1 is `{{"about": {{"start", "top_level", '
        "\"directory\"}}` (the period's start, the live policy's top level, and a draft "
        "directory to route by, or null: each referral by the directory version it was "
        "routed by); every following non-empty line is one referral as triage decided it "
        "and as the draft decides it, in the order triage decided them (triage's "
        "`redecide` lines, the earlier referrals the history needs with `in_period` "
        "false).\n\n"
        'The answer is NDJSON: line 1 is `{"about": {"directory_version", '
        '"capacity"}}` (`draft` for a draft directory, else the newest stored version, '
        "or null; each agency's capacity by `agency:<id>`), then one line per referral of "
        "the period with its `stored` and `draft` outcomes, each with its destination "
        "(`mash`, `hub`, `universal`, `agency:<id>`, or `not routed`).\n\n"
        "For the hub and administrators with `policy:simulate`. Nothing is written and no "
        "event is sent. The whole body is read and checked first: a line that cannot be "
        "read is a 422 whose `errors` name its `line` and `field`; bodies over "
        f"{MAX_BODY_BYTES // (1024 * 1024)} MiB are refused with 413."
    ),
    response_class=NdjsonResponse,
    response_description="What the simulation routed by, then one line per referral",
    responses={
        200: {
            "content": {
                NDJSON: {
                    "schema": {"type": "string", "description": "NDJSON lines"},
                    "example": _EXAMPLE_ANSWER,
                }
            }
        },
        403: _problem("The key lacks `policy:simulate`, or is neither the hub's nor an admin's"),
        409: _problem(
            "A referral of the period was routed by a directory version that is not stored "
            "(simulate with a draft directory)"
        ),
        413: _problem(f"The body is over {MAX_BODY_BYTES} bytes"),
        415: _problem(f"The body is not {NDJSON}"),
        422: _problem(
            "A line that cannot be read: each error names its `line` and `field`",
            _INVALID_SCHEMA,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                NDJSON: {
                    "schema": {"type": "string", "description": "NDJSON lines"},
                    "example": _EXAMPLE_REQUEST,
                }
            },
        }
    },
)
async def reroute(_: PolicySimulate, body: RerouteBody, uow: ReadOnlyUoW) -> NdjsonResponse:
    found = await service.rerouted(
        uow=uow,
        redecided=body.redecided,
        start=body.start,
        top_level=body.top_level,
        draft=body.directory,
    )
    return NdjsonResponse(_ndjson(found))
