"""Headers every answer carries: `X-Content-Type-Options: nosniff` on every response,
and `Cache-Control: no-store` on every response but the API's own description and the
concern vocabulary.

Why everything rather than a list of routes holding personal data: almost every answer
is about the caller (their reports, their referrals, the notices addressed to them, a
problem naming what they asked for; the demo sink shows the notices it received), the
claim check, Encompass notices and referral views among them, and a list of such paths
would drift as routes are added. The opposite list cannot leak: only the OpenAPI
document and its viewers (`/openapi.json`, `/docs`, `/redoc`, their `/docs/assets/`) and the concern
vocabulary (`/v1/vocabulary`, which a school MIS fetches with an ETag and revalidates:
that route sets `Cache-Control: no-cache` itself), each the same for everyone and
holding no personal data, may be cached. A route cannot loosen it: a `Cache-Control`
it set is replaced.

A pure ASGI middleware (not Starlette's `BaseHTTPMiddleware`, which is slower and
buffers streamed bodies) that touches only the response's start message.
`install_security_headers` puts it outside everything else in the app, Starlette's
error middleware included, so a 500 carries the headers too.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = ("X-Content-Type-Options", "nosniff")
NO_STORE = ("Cache-Control", "no-store")
# The API's description and the concern vocabulary, the same for every caller and with
# no personal data: the only answers a cache may keep.
PUBLIC_PATHS = frozenset(
    {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/v1/vocabulary"}
)


# The documentation pages' own JavaScript, stylesheet and icon (shared/docs.py).
PUBLIC_PREFIX = "/docs/assets/"


def cacheable(path: str) -> bool:
    """True only for the API's own description, its viewers' assets and the concern
    vocabulary; every other answer is `no-store`."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


class SecurityHeaders:
    """Adds `nosniff` to every HTTP response, and `no-store` to all but the API's
    description and the concern vocabulary."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not cacheable(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[NOSNIFF[0]] = NOSNIFF[1]
                if no_store:
                    headers[NO_STORE[0]] = NO_STORE[1]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI) -> None:
    """Wrap the whole of `app` (its error middleware too) in `SecurityHeaders`.

    `app.add_middleware` would place it inside Starlette's `ServerErrorMiddleware`,
    whose 500 answer would then go out without the headers; so the stack the app
    builds on its first request is wrapped instead."""
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    # Starlette builds the stack lazily, through this attribute of the instance.
    setattr(app, "build_middleware_stack", build_with_headers)  # noqa: B010


__all__ = ["PUBLIC_PATHS", "SecurityHeaders", "cacheable", "install_security_headers"]
