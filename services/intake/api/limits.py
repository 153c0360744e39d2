"""Intake's guards at the door: body size (413, before parsing), a JSON body read
strictly (a key given twice is a 400, half a surrogate pair a 422: see
`services.intake.strict_json`). The per-key rate limit is shared.ratelimit's, applied
in `dependencies`."""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute

from services.intake import strict_json
from services.intake.settings import settings_of
from shared.problems import Problem
from shared.runtime import context_of

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_LIMIT_ATTRIBUTE = "intake_body_limit"

F = TypeVar("F", bound=Callable[..., Any])


def body_limit(setting: str) -> Callable[[F], F]:
    """Mark a route's endpoint with the Settings field that caps its body size."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _LIMIT_ATTRIBUTE, setting)
        return endpoint

    return mark


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "Request body too large",
        f"The body must not exceed {limit} bytes.",
        type="body-too-large",
        max_bytes=limit,
    )


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) a declared or streamed size over `limit` as soon
    as it is known, so an oversized body is never buffered whole or parsed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, "Bad request", "Content-Length must be a number of bytes.")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def may_be_json(content_type: str | None) -> bool:
    """Whether FastAPI may read a body with this Content-Type as JSON:
    `application/json`, `application/*+json`, or none at all (a route that is not
    strict about content types reads a body without one as JSON)."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def parse_json_once(request: Request, body: bytes) -> None:
    """Read a JSON body strictly and leave the result where FastAPI looks for it, so it
    is parsed once. A body that is not JSON at all is left for FastAPI to refuse as it
    always has."""
    try:
        # Starlette's Request.json() returns this cached value.
        request._json = strict_json.loads(body)
    except strict_json.DuplicateKey as exc:
        raise strict_json.duplicate_key_problem(exc) from None
    except strict_json.LoneSurrogate as exc:
        raise strict_json.lone_surrogate_problem(exc) from None
    except (ValueError, RecursionError):
        pass


class LimitedBodyRoute(APIRoute):
    """A route that reads its body under the size limit before FastAPI parses it, and
    parses a JSON body itself, strictly (see `parse_json_once`).

    FastAPI turns any error raised while it reads the body into a 400, so the body is
    read (and cached on the request) here first, where a 413 can still be answered.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        setting = getattr(self.endpoint, _LIMIT_ATTRIBUTE, "intake_max_report_bytes")
        # Only a route with a body parameter has FastAPI parse its body (the batch reads
        # its own, JSON or CSV).
        parses_body = self.body_field is not None

        async def limited(request: Request) -> Response:
            if request.method in _BODY_METHODS:
                settings = settings_of(context_of(request, "intake"))
                limit = int(getattr(settings, setting))
                # Starlette's Request.body() returns this cached value from now on.
                body = request._body = await read_limited_body(request, limit)
                content_type = request.headers.get("content-type")
                if parses_body and body and may_be_json(content_type):
                    parse_json_once(request, body)
            return await handler(request)

        return limited
