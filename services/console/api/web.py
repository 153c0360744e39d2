"""What every console page shares: its templates, its safety headers, the session it
resumes, the CSRF check, and how a service's answer becomes a page.

Safe by default: the session cookie is HttpOnly, SameSite=Lax and (unless
CONSOLE_SECURE_COOKIES=false) Secure, and holds only a random token whose SHA-256 is
the session's id; every form carries a CSRF token (the session's, or before sign-in a
double-submit cookie's); every page has a strict Content-Security-Policy (scripts and
styles from this origin only, nothing inline), `no-store`, and no framing.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console.gateway import Services
from services.console.service.sessions import Lifetimes, SignedIn, resume
from services.console.settings import ConsoleSettings, settings_of
from shared.measures import UK
from shared.people import ROLES, scopes_of
from shared.problems import Problem
from shared.runtime import context_of
from shared.uow import UnitOfWork

HERE = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
# Every file the console serves, and its media type: the stylesheets, scripts and images
# shipped in its static folder, named when it starts; nothing else answers /static.
STATIC_FILES = {
    path.relative_to(STATIC).as_posix(): MEDIA_TYPES[path.suffix]
    for path in sorted(STATIC.rglob("*"))
    if path.is_file() and path.suffix in MEDIA_TYPES
}
templates.env.globals["static"] = lambda name: f"/console/static/{name}"


def uk_time(value: str | datetime | None) -> str:
    """An instant a service gave (ISO 8601) as UK wall time, e.g. `1 Dec 2026, 09:00`."""
    if not value:
        return ""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at.astimezone(UK).strftime("%-d %b %Y, %H:%M")


templates.env.filters["uk_time"] = uk_time

SESSION_COOKIE = "signpost_console"
CSRF_COOKIE = "signpost_console_csrf"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def console_settings(request: Request) -> ConsoleSettings:
    return settings_of(context_of(request, "console"))


def lifetimes(settings: ConsoleSettings) -> Lifetimes:
    return Lifetimes(
        idle=timedelta(minutes=settings.console_idle_minutes),
        longest=timedelta(hours=settings.console_session_hours),
    )


def guard(response: Response) -> Response:
    """The safety headers every console response carries."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def page(
    request: Request,
    template: str,
    *,
    signed: SignedIn | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A page rendered for the signed-in person (their name, roles and what the
    navigation offers them), with the safety headers."""
    if signed is not None:
        person = signed.person
        scopes = scopes_of(person.roles)
        context.update(
            person=person,
            csrf=signed.session.csrf_token,
            roles_text=", ".join(ROLES[r].label for r in person.roles if r in ROLES),
            can_work_queue="referrals:read" in scopes,
            can_see_reports="reports:read" in scopes,
            can_see_notices="encompass:read" in scopes and "reports:read" in scopes,
            can_see_measures="measures:read" in scopes,
            can_simulate="policy:simulate" in scopes,
            is_admin="admin" in person.roles,
        )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    return guard(response)


def problem_page(
    request: Request, signed: SignedIn | None, status_code: int, title: str, detail: str
) -> Response:
    return page(
        request, "problem.html", signed=signed, status_code=status_code, title=title, detail=detail
    )


def set_cookie(response: Response, settings: ConsoleSettings, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/console",
        httponly=True,
        secure=settings.console_secure_cookies,
        samesite="lax",
        max_age=settings.console_session_hours * 3600,
    )


def to(path: str) -> Response:
    """A 303 to another console page."""
    return guard(RedirectResponse(path, status_code=303))


def sign_in_again() -> Response:
    return to("/console/sign-in")


async def signed_in(request: Request, uow: UnitOfWork) -> SignedIn | None:
    """The person signed in on this browser, or None (then send them to sign in)."""
    return await resume(
        uow=uow,
        cookie=request.cookies.get(SESSION_COOKIE),
        lifetimes=lifetimes(console_settings(request)),
    )


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


async def form_csrf(request: Request) -> str:
    form = await request.form()
    value = form.get("csrf")
    return value if isinstance(value, str) else ""


def services(request: Request, signed: SignedIn) -> Services:
    """The four services' APIs, called as the signed-in person."""
    return Services(request, console_settings(request), signed.person)


def answer(response: httpx.Response) -> dict[str, Any] | list[Any] | None:
    """A service's answer as data; None when it is a 403 or 404 (not this person's);
    a 503 page (with Retry-After) when the service could not answer."""
    if response.status_code in (403, 404):
        return None
    if response.status_code >= 400:
        raise Problem(
            503,
            "A service could not answer",
            f"The service answered {response.status_code}; try again shortly.",
            type="dependency-unavailable",
            headers={"Retry-After": "5"},
        )
    data: dict[str, Any] | list[Any] = response.json()
    return data


def refusal(response: httpx.Response) -> str:
    """What a service said when it refused an action, for the page."""
    try:
        problem = response.json()
    except ValueError:
        return f"The service refused the action ({response.status_code})."
    detail = str(problem.get("detail") or problem.get("title") or "")
    fields = [
        f"{e.get('field')}: {e.get('detail') or e.get('msg')}" for e in problem.get("errors") or []
    ]
    return " ".join([detail, *fields]).strip() or f"Refused ({response.status_code})."
