"""Signing in through the council's identity provider: `start` sends the browser there,
`callback` is where the provider sends it back (CONSOLE_OIDC_REDIRECT_URL).

The state is also kept in a cookie of this browser and must come back with the
callback: a callback URL carrying somebody else's code (a link sent to sign a victim
in as the sender) is refused. Every refusal is a page saying what to do, never a
stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.oidc import IdentityProvider, ProviderUnavailable
from services.console.service.oidc import Refusal, begin, finish
from shared.auth import rate_limits_of
from shared.ratelimit import Limit

router = APIRouter(prefix="/console/oidc")

STATE_COOKIE = "signpost_console_oidc"


@dataclass(frozen=True)
class SignInWays:
    """Which ways in the sign-in page offers."""

    local: bool
    provider: bool


def sign_in_ways(request: Request) -> SignInWays:
    """For the sign-in page: local accounts (CONSOLE_LOCAL_ACCOUNTS) and the council's
    identity provider (CONSOLE_OIDC_ISSUER)."""
    settings = web.console_settings(request)
    return SignInWays(
        local=settings.console_local_accounts, provider=bool(settings.console_oidc_issuer)
    )


# The sign-in page is rendered from several routes; each asks this as it renders.
web.templates.env.globals["sign_in_ways"] = sign_in_ways


def _not_set_up(request: Request) -> Response:
    return web.problem_page(
        request,
        None,
        404,
        "Not available",
        "Signing in through an identity provider is not set up for this console.",
    )


def _refusal_page(request: Request, refusal: Refusal) -> Response:
    response = web.problem_page(request, None, refusal.status, refusal.title, refusal.detail)
    response.delete_cookie(STATE_COOKIE, path="/console")
    return response


@router.get("/start")
async def start(request: Request, uow: UoW) -> Response:
    settings = web.console_settings(request)
    if not settings.console_oidc_issuer:
        return _not_set_up(request)
    # Each start keeps a row for a few minutes: as many as the sign-in form allows.
    limit = Limit(
        "console-oidc-start", settings.console_signin_per_minute, settings.console_signin_burst
    )
    client = request.client.host if request.client else "unknown"
    wait = await rate_limits_of(request).limiter(limit).take(f"address:{client}")
    if wait > 0:
        response = web.problem_page(
            request,
            None,
            429,
            "Too many attempts",
            f"Wait {int(wait) + 1} seconds and try again.",
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    try:
        authorization = await begin(uow=uow, provider=IdentityProvider(settings))
    except ProviderUnavailable:
        response = web.problem_page(
            request,
            None,
            503,
            "Your organisation's identity provider could not be reached",
            "Try again in a few minutes.",
        )
        response.headers["Retry-After"] = "60"
        return response
    response = web.guard(RedirectResponse(authorization.url, status_code=303))
    web.set_cookie(response, settings, STATE_COOKIE, authorization.state)
    return response


@router.get("/callback")
async def callback(
    request: Request, uow: UoW, state: str = "", code: str = "", error: str = "", iss: str = ""
) -> Response:
    settings = web.console_settings(request)
    if not settings.console_oidc_issuer:
        return _not_set_up(request)
    if not web.csrf_ok(request.cookies.get(STATE_COOKIE), state):
        return _refusal_page(
            request,
            Refusal(
                400,
                "This sign-in was not started in this browser",
                "Sign in again from the console's sign-in page.",
                "state-cookie-mismatch",
            ),
        )
    # RFC 9207: a provider that names itself in the callback must be the one asked.
    if iss and iss != settings.console_oidc_issuer:
        return _refusal_page(
            request,
            Refusal(
                400,
                "You were not signed in",
                "The answer came from another identity provider. Sign in again.",
                "issuer-mismatch",
            ),
        )
    result = await finish(
        uow=uow,
        provider=IdentityProvider(settings),
        settings=settings,
        lifetimes=web.lifetimes(settings),
        state=state,
        code=code,
        error=error,
    )
    if isinstance(result, Refusal):
        return _refusal_page(request, result)
    assert result.cookie is not None  # a session just started has its cookie
    response = web.to("/console/")
    web.set_cookie(response, settings, web.SESSION_COOKIE, result.cookie)
    response.delete_cookie(STATE_COOKIE, path="/console")
    return response
