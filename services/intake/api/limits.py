"""Intake's guards at the door: body size (413, before parsing) and a per-client rate
limit (429 with Retry-After)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute

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


class LimitedBodyRoute(APIRoute):
    """A route that reads its body under the size limit before FastAPI parses it.

    FastAPI turns any error raised while it reads the body into a 400, so the body is
    read (and cached on the request) here first, where a 413 can still be answered.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        setting = getattr(self.endpoint, _LIMIT_ATTRIBUTE, "intake_max_report_bytes")

        async def limited(request: Request) -> Response:
            if request.method in _BODY_METHODS:
                settings = settings_of(context_of(request, "intake"))
                limit = int(getattr(settings, setting))
                # Starlette's Request.body() returns this cached value from now on.
                request._body = await read_limited_body(request, limit)
            return await handler(request)

        return limited


class TokenBuckets:
    """One token bucket per client: `rate_per_minute` refill, at most `burst` tokens.

    In memory and per process: with N replicas a client may reach N times the rate,
    which is acceptable for a guard against runaway clients (not a quota).
    """

    def __init__(
        self,
        *,
        rate_per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0 when a request may proceed (a token is spent), else seconds until one may."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate


def rate_limited(wait_seconds: float) -> Problem:
    retry_after = max(1, math.ceil(wait_seconds))
    return Problem(
        429,
        "Too many requests",
        f"This API key is over its rate limit; retry after {retry_after} s.",
        type="rate-limited",
        headers={"Retry-After": str(retry_after)},
    )
