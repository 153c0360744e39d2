"""The console's own pages: where a person starts, signing in and out, and its static
files. The pages that show referral data read it through the services (`web.services`)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.schemas import SignInForm
from services.console.service.sessions import sign_in, sign_out, sign_out_everywhere
from shared.auth import rate_limits_of
from shared.people import scopes_of
from shared.problems import Problem
from shared.ratelimit import Limit

router = APIRouter(prefix="/console")

# Kept importable from here for the tests and callers written against the first slice.
CSP = web.CSP
SESSION_COOKIE = web.SESSION_COOKIE


# ---------------------------------------------------------------- signing in and out


@router.get("/")
async def home(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    # Where the person's work is: their queue, the reports their organisation raised,
    # the partnership's measures (an analyst), or (an administrator with no queue) the
    # admin pages.
    scopes = scopes_of(signed.person.roles)
    if "referrals:read" in scopes:
        return web.to("/console/queue")
    if "reports:read" in scopes:
        return web.to("/console/reports")
    if "measures:read" in scopes:
        return web.to("/console/dashboard")
    if "admin" in signed.person.roles:
        return web.to("/console/admin")
    return web.to("/console/queue")


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    token = request.cookies.get(web.CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = web.page(request, "sign_in.html", csrf=token)
    web.set_cookie(response, web.console_settings(request), web.CSRF_COOKIE, token)
    return response


@router.post("/sign-in")
async def sign_in_form(request: Request, uow: UoW, form: Annotated[SignInForm, Form()]) -> Response:
    email, password, csrf = form.email, form.password, form.csrf
    settings = web.console_settings(request)
    if not settings.console_local_accounts:
        # The identity provider is the only way in: no password is checked here.
        return web.problem_page(
            request,
            None,
            403,
            "Passwords are not used here",
            "Sign in with your organisation's account.",
        )
    if not web.csrf_ok(request.cookies.get(web.CSRF_COOKIE), csrf):
        return web.problem_page(
            request,
            None,
            403,
            "The form has expired",
            "Open the sign-in page again and sign in from there.",
        )
    limit = Limit(
        "console-sign-in", settings.console_signin_per_minute, settings.console_signin_burst
    )
    limiter = rate_limits_of(request).limiter(limit)
    client = request.client.host if request.client else "unknown"
    waits = [
        await limiter.take(f"email:{email.strip().lower()}"),
        await limiter.take(f"address:{client}"),
    ]
    if max(waits) > 0:
        response = web.page(
            request,
            "sign_in.html",
            status_code=429,
            csrf=csrf,
            email=email,
            message=f"Too many attempts: wait {int(max(waits)) + 1} seconds and try again.",
        )
        response.headers["Retry-After"] = str(int(max(waits)) + 1)
        return response
    signed = await sign_in(
        uow=uow, email=email, password=password, lifetimes=web.lifetimes(settings)
    )
    if signed is None or signed.cookie is None:
        return web.page(
            request,
            "sign_in.html",
            status_code=401,
            csrf=csrf,
            email=email,
            message="The email address or the password is not right.",
        )
    response = web.to("/console/")
    web.set_cookie(response, settings, web.SESSION_COOKIE, signed.cookie)
    response.delete_cookie(web.CSRF_COOKIE, path="/console")
    return response


@router.post("/sign-out")
async def sign_out_form(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is not None and web.csrf_ok(signed.session.csrf_token, await web.form_csrf(request)):
        await sign_out(uow=uow, cookie=request.cookies.get(web.SESSION_COOKIE))
    response = web.sign_in_again()
    response.delete_cookie(web.SESSION_COOKIE, path="/console")
    return response


@router.post("/sign-out-everywhere")
async def sign_out_everywhere_form(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is not None and web.csrf_ok(signed.session.csrf_token, await web.form_csrf(request)):
        await sign_out_everywhere(uow=uow, person_id=signed.person.id)
    response = web.sign_in_again()
    response.delete_cookie(web.SESSION_COOKIE, path="/console")
    return response


@router.get("/static/{name:path}")
async def static(name: str) -> Response:
    media = web.STATIC_FILES.get(name)
    if media is None:
        raise Problem(404, "Not found", "No such file.", type="not-found")
    response = FileResponse(web.STATIC / name, media_type=media)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
