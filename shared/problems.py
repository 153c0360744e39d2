"""RFC 9457 problem details: every error leaves as `application/problem+json`.

Validation failures list each field error with its location; nothing leaks a stack
trace, and bad input never becomes a 500. A dependency that is away (the database
refuses connections, restarts, fails over; a connection is lost mid-request) is a 503
`dependency-unavailable` with `Retry-After`, never a 500: a caller's system can tell
"try again shortly" from "this request is wrong", and the outage is logged once, not
per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from asyncpg.exceptions import PostgresError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import is_transient
from shared.text import forbidden_character

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://signpost.example/problems/"
# How long a caller is asked to wait before retrying while a dependency is away.
RETRY_AFTER_SECONDS = 5
# The errors a dependency's outage arrives as (SQLAlchemy's, the PostgreSQL driver's
# own, and the network's: a refused or reset connection, a timeout). Each is answered
# 503 when `is_transient` says it is an outage, else as any unexpected error (500).
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    PostgresError,
    DriverInterfaceError,
    OSError,
)

# Told of each request that met an outage (the app's dependency watch): it logs the
# outage once and its end once.
OutageHook = Callable[[BaseException], None]


class Problem(Exception):
    """A domain error that becomes a problem+json answer."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.headers = headers
        self.extra = extra


class NotFound(Problem):
    def __init__(self, what: str) -> None:
        super().__init__(404, "Not found", f"{what} not found", type="not-found")


def problem_response(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    type: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + type if type else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_errors(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as problem field errors: `loc`, a JSON `pointer` into the body,
    a dotted `field`, `message` and `type`. Locations start with `body` for bodies."""
    errors = []
    for err in raw:
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {
                "loc": loc,
                "pointer": "/" + "/".join(loc[1:]) if loc and loc[0] == "body" else None,
                "field": ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
        )
    return errors


def is_outage(exc: BaseException) -> bool:
    """`exc` is, or was caused by, an outage of a dependency (`is_transient`): an error
    raised while cleaning up after a lost connection (a rollback on a dead connection)
    still is the outage's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 10:
        if is_transient(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def dependency_unavailable(
    *, instance: str | None = None, request_id: str | None = None
) -> JSONResponse:
    """The 503 of a request that met an outage of a dependency."""
    extra: dict[str, Any] = {} if request_id is None else {"request_id": request_id}
    return problem_response(
        503,
        "Service unavailable",
        detail="A service this request needs is unavailable for a moment. Retry after "
        "the Retry-After seconds (a write with the same Idempotency-Key is safe to retry).",
        type="dependency-unavailable",
        instance=instance,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        **extra,
    )


class _OncePerMinute:
    """The outage log of an app without a dependency watch: one line a minute at most,
    counting the requests that met it meanwhile."""

    def __init__(self) -> None:
        self._last: float | None = None
        self._since_logged = 0

    def __call__(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._since_logged += 1
        if self._last is None or now - self._last >= 60:
            log.warning(
                "dependency unavailable; answering 503",
                extra={"error": type(exc).__name__, "requests": self._since_logged},
            )
            self._last, self._since_logged = now, 0


def install_problem_handlers(app: FastAPI, *, on_outage: OutageHook | None = None) -> None:
    """Turn every error the app can raise into problem+json; an outage of a dependency
    into a 503 with Retry-After, told to `on_outage` (which logs it once)."""
    outage_seen = on_outage or _OncePerMinute()

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            detail=exc.detail,
            type=exc.type,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        fields = ", ".join(e["field"] for e in errors[:10] if e["field"])
        return problem_response(
            422,
            "The request is not valid",
            detail=f"{len(errors)} field error(s): {fields}" if fields else None,
            type="validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(
            exc.status_code,
            _title(exc.status_code),
            detail=str(exc.detail) if exc.detail else None,
            instance=request.url.path,
            headers=headers,
        )

    async def _dependency_error(request: Request, exc: Exception) -> JSONResponse:
        if not is_outage(exc):
            return await _unexpected(request, exc)
        outage_seen(exc)
        return dependency_unavailable(
            instance=request.url.path, request_id=getattr(request.state, "request_id", None)
        )

    # Handled here rather than by the catch-all below, which Starlette runs outermost
    # and which re-raises to the server after answering (a second log line, with the
    # traceback, for every request).
    for error in DEPENDENCY_ERRORS:
        app.add_exception_handler(error, _dependency_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        # The traceback is logged redacted (where, and which error; never a message or
        # a value): see shared.logging.
        log.error(
            "unhandled error",
            exc_info=exc,
            extra={"path": request.url.path, "method": request.method, "request_id": request_id},
        )
        return problem_response(
            500,
            "Internal error",
            detail="The server could not complete the request. Quote the request_id "
            "when you report it.",
            instance=request.url.path,
            request_id=request_id,
        )

    app.add_middleware(TextOnlyUrls)
    app.add_middleware(RequestIds)


# What any route may answer before it runs (see TextOnlyUrls), for the OpenAPI of every
# route; a route that documents its own 400 keeps its own description.
URL_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The request cannot be read: the URL's path holds a control or "
        "bidirectional-override character (problem type forbidden-character)",
        "content": {
            PROBLEM_JSON: {
                "schema": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            }
        },
    }
}


class TextOnlyUrls:
    """Refuses a URL whose path or query holds a control or bidirectional-override
    character (a `%00` in an id), before any route sees it: such a value is never an
    id, and a database would refuse it with an error of its own (PostgreSQL cannot
    store NUL). The path is a 400; a query parameter a 422 naming the parameter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = _refused_url(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refused_url(scope: Scope) -> JSONResponse | None:
    path: str = scope.get("path", "")
    problem = forbidden_character(path)
    if problem is not None:
        return problem_response(
            400,
            "Bad request",
            detail=f"The URL's path must not contain {problem}.",
            type="forbidden-character",
        )
    try:
        query = parse_qsl(
            scope.get("query_string", b"").decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
        )
    except UnicodeDecodeError:
        return problem_response(
            400, "Bad request", detail="The query string must be UTF-8.", type="bad-query"
        )
    for name, value in query:
        problem = forbidden_character(name) or forbidden_character(value)
        if problem is not None:
            message = f"must not contain {problem}"
            return problem_response(
                422,
                "The request is not valid",
                detail=f"The query parameter {name!r} {message}."
                if forbidden_character(name) is None
                else f"A query parameter's name {message}.",
                type="validation",
                errors=[
                    {
                        "loc": ["query", name],
                        "pointer": None,
                        "field": name,
                        "message": message,
                        "type": "forbidden_character",
                    }
                ],
            )
    return None


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIds:
    """Gives every request an id (the caller's `X-Request-ID` when it is a plain token,
    else a new one), kept in `request.state.request_id` for logs and error answers, and
    sent back in the `X-Request-ID` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
