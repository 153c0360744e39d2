"""The console's pages: sign in and out, the queue, a referral.

Safe by default: the session cookie is HttpOnly, SameSite=Lax and (unless
CONSOLE_SECURE_COOKIES=false) Secure, and holds only a random token whose SHA-256 is
the session's id; every form carries a CSRF token (the session's, or before sign-in a
double-submit cookie's); every page has a strict Content-Security-Policy (scripts and
styles from this origin only, nothing inline), `no-store`, and no framing.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console.api.dependencies import UoW
from services.console.gateway import Services
from services.console.schemas import ActionForm, SignInForm
from services.console.service.sessions import (
    Lifetimes,
    SignedIn,
    resume,
    sign_in,
    sign_out,
    sign_out_everywhere,
)
from services.console.settings import ConsoleSettings, settings_of
from shared.auth import rate_limits_of
from shared.clock import as_utc
from shared.outcomes import DECLINE_REASONS, OUTCOMES
from shared.people import ROLES, scopes_of
from shared.problems import Problem
from shared.ratelimit import Limit
from shared.runtime import context_of

router = APIRouter(prefix="/console")

HERE = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"
STATIC_FILES = {
    "console.css": "text/css",
    "vendor/htmx-2.0.11.min.js": "text/javascript",
}
templates.env.globals["static"] = lambda name: f"/console/static/{name}"

SESSION_COOKIE = "signpost_console"
CSRF_COOKIE = "signpost_console_csrf"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _settings(request: Request) -> ConsoleSettings:
    return settings_of(context_of(request, "console"))


def _lifetimes(settings: ConsoleSettings) -> Lifetimes:
    return Lifetimes(
        idle=timedelta(minutes=settings.console_idle_minutes),
        longest=timedelta(hours=settings.console_session_hours),
    )


def _guard(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def _page(
    request: Request,
    template: str,
    *,
    signed: SignedIn | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    if signed is not None:
        person = signed.person
        context.update(
            person=person,
            csrf=signed.session.csrf_token,
            roles_text=", ".join(ROLES[r].label for r in person.roles if r in ROLES),
            can_work_queue="referrals:read" in scopes_of(person.roles),
            can_see_reports="reports:read" in scopes_of(person.roles),
        )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    return _guard(response)


def _problem_page(
    request: Request, signed: SignedIn | None, status_code: int, title: str, detail: str
) -> Response:
    return _page(
        request, "problem.html", signed=signed, status_code=status_code, title=title, detail=detail
    )


def _cookie(response: Response, settings: ConsoleSettings, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/console",
        httponly=True,
        secure=settings.console_secure_cookies,
        samesite="lax",
        max_age=settings.console_session_hours * 3600,
    )


def _to(path: str) -> Response:
    return _guard(RedirectResponse(path, status_code=303))


def _sign_in_again() -> Response:
    return _to("/console/sign-in")


async def _signed(request: Request, uow: UoW) -> SignedIn | None:
    return await resume(
        uow=uow,
        cookie=request.cookies.get(SESSION_COOKIE),
        lifetimes=_lifetimes(_settings(request)),
    )


def _csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# ---------------------------------------------------------------- signing in and out


@router.get("/")
async def home(request: Request, uow: UoW) -> Response:
    signed = await _signed(request, uow)
    if signed is None:
        return _sign_in_again()
    # Where the person's work is: their queue, or the reports their organisation raised.
    scopes = scopes_of(signed.person.roles)
    if "referrals:read" in scopes or "reports:read" not in scopes:
        return _to("/console/queue")
    return _to("/console/reports")


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _page(request, "sign_in.html", csrf=token)
    _cookie(response, _settings(request), CSRF_COOKIE, token)
    return response


@router.post("/sign-in")
async def sign_in_form(request: Request, uow: UoW, form: Annotated[SignInForm, Form()]) -> Response:
    email, password, csrf = form.email, form.password, form.csrf
    settings = _settings(request)
    if not _csrf_ok(request.cookies.get(CSRF_COOKIE), csrf):
        return _problem_page(
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
        response = _page(
            request,
            "sign_in.html",
            status_code=429,
            csrf=csrf,
            email=email,
            message=f"Too many attempts: wait {int(max(waits)) + 1} seconds and try again.",
        )
        response.headers["Retry-After"] = str(int(max(waits)) + 1)
        return response
    signed = await sign_in(uow=uow, email=email, password=password, lifetimes=_lifetimes(settings))
    if signed is None or signed.cookie is None:
        return _page(
            request,
            "sign_in.html",
            status_code=401,
            csrf=csrf,
            email=email,
            message="The email address or the password is not right.",
        )
    response = _to("/console/")
    _cookie(response, settings, SESSION_COOKIE, signed.cookie)
    response.delete_cookie(CSRF_COOKIE, path="/console")
    return response


async def _form_csrf(request: Request) -> str:
    form = await request.form()
    value = form.get("csrf")
    return value if isinstance(value, str) else ""


@router.post("/sign-out")
async def sign_out_form(request: Request, uow: UoW) -> Response:
    signed = await _signed(request, uow)
    if signed is not None and _csrf_ok(signed.session.csrf_token, await _form_csrf(request)):
        await sign_out(uow=uow, cookie=request.cookies.get(SESSION_COOKIE))
    response = _sign_in_again()
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.post("/sign-out-everywhere")
async def sign_out_everywhere_form(request: Request, uow: UoW) -> Response:
    signed = await _signed(request, uow)
    if signed is not None and _csrf_ok(signed.session.csrf_token, await _form_csrf(request)):
        await sign_out_everywhere(uow=uow, person_id=signed.person.id)
    response = _sign_in_again()
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# ---------------------------------------------------------------- working


def _answer(response: httpx.Response) -> dict[str, Any] | list[Any] | None:
    """A service's answer as data; None when it is a 403 or 404 (not this person's)."""
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


@router.get("/queue")
async def queue(request: Request, uow: UoW) -> Response:
    signed = await _signed(request, uow)
    if signed is None:
        return _sign_in_again()
    person = signed.person
    if "referrals:read" not in scopes_of(person.roles):
        return _problem_page(
            request,
            signed,
            403,
            "No queue for your role",
            "Your role does not work referrals from a queue.",
        )
    services = Services(request, _settings(request), person)
    listed = _answer(await services.get("routing", "/v1/referrals", status="requested"))
    rows = listed if isinstance(listed, list) else []
    now = uow.now()
    for row in rows:
        due = row.get("respond_by")
        if due:
            at = as_utc(_parse(due))
            row["respond_by_text"] = f"{at:%a %d %b %H:%M} UTC"
            row["overdue"] = at <= now
    rows.sort(key=lambda r: (r.get("respond_by") is None, r.get("respond_by") or ""))
    return _page(
        request,
        "queue.html",
        signed=signed,
        referrals=rows,
        whose=person.organisation,
        intro=f"Referrals waiting for {person.organisation} to accept or decline.",
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _referral_page(
    request: Request,
    signed: SignedIn,
    referral_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    person = signed.person
    services = Services(request, _settings(request), person)
    routing = _answer(await services.get("routing", f"/v1/referrals/{referral_id}/routing"))
    if not isinstance(routing, dict):
        # Not addressed to this person's organisation (or no such referral): the same
        # page either way, and nothing of the referral on it.
        return _problem_page(
            request,
            signed,
            403,
            "You cannot open this referral",
            "It is not addressed to your organisation, or it does not exist.",
        )
    triage = _answer(await services.get("triage", f"/v1/referrals/{referral_id}/triage"))
    report = _answer(await services.get("intake", f"/v1/referrals/{referral_id}/report"))
    scopes = scopes_of(person.roles)
    destination = routing.get("destination") or {}
    ours = destination.get("organisation") == person.organisation
    hub = "triage:override" in scopes
    agencies: list[Any] = []
    if hub:
        directory = _answer(await services.get("routing", "/v1/directory"))
        if isinstance(directory, dict):
            agencies = [a for a in directory.get("agencies", []) if a.get("kind") == "agency"]
    return _page(
        request,
        "referral.html",
        signed=signed,
        status_code=status_code,
        error=error,
        routing=routing,
        triage=triage if isinstance(triage, dict) else None,
        report=report if isinstance(report, dict) else None,
        agency_actions=(
            [a for a in routing.get("allowed_actions", []) if a in AGENCY_ACTIONS]
            if ours and "referrals:write" in scopes
            else []
        ),
        hub_actions=hub,
        agencies=agencies,
        decline_reasons=DECLINE_REASONS,
        outcomes=OUTCOMES,
    )


@router.get("/referrals/{referral_id}")
async def referral(request: Request, uow: UoW, referral_id: str) -> Response:
    signed = await _signed(request, uow)
    if signed is None:
        return _sign_in_again()
    return await _referral_page(request, signed, referral_id)


# What an agency does on a referral addressed to it, as the page offers it.
AGENCY_ACTIONS = ("accept", "start", "decline", "close")
# The actions that change where a referral stands or why: a rationale is required.
NEEDS_RATIONALE = frozenset({"decline", "close", "reassign", "override", "level"})


def _request_for(form: ActionForm, referral_id: str) -> tuple[str, str, dict[str, Any]]:
    """The service, path and body an action on the page becomes."""
    path = f"/v1/referrals/{referral_id}"
    if form.action in ("accept", "start"):
        return "routing", f"{path}/{form.action}", {}
    if form.action == "decline":
        return (
            "routing",
            f"{path}/decline",
            {"reason_code": form.reason_code, "note": form.rationale},
        )
    if form.action == "close":
        # One choice on the page: "completed:got_help".
        outcome, _, code = form.outcome_code.partition(":")
        body = {"outcome": outcome, "outcome_code": code, "note": form.rationale}
        return "routing", f"{path}/close", body
    if form.action == "reassign":
        return (
            "routing",
            f"{path}/reassign",
            {"agency_id": form.agency_id, "rationale": form.rationale},
        )
    if form.action == "override":
        body = {"destination": form.destination, "rationale": form.rationale}
        return "routing", f"{path}/override", body
    return "triage", f"{path}/triage/override", {"level": form.level, "rationale": form.rationale}


def _refusal(response: httpx.Response) -> str:
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


@router.post("/referrals/{referral_id}/act")
async def act(
    request: Request, uow: UoW, referral_id: str, form: Annotated[ActionForm, Form()]
) -> Response:
    """Do one action on a referral as the signed-in person, through the service that
    owns it (which records who did it); back to the referral's page either way."""
    signed = await _signed(request, uow)
    if signed is None:
        return _sign_in_again()
    if not _csrf_ok(signed.session.csrf_token, form.csrf):
        return _problem_page(
            request, signed, 403, "The form has expired", "Open the referral again and retry."
        )
    if form.action in NEEDS_RATIONALE and not form.rationale.strip():
        return await _referral_page(
            request,
            signed,
            referral_id,
            error="Say why: a rationale is required for this action.",
            status_code=422,
        )
    service, path, body = _request_for(form, referral_id)
    answer = await Services(request, _settings(request), signed.person).post(service, path, body)
    if answer.status_code >= 500:
        _answer(answer)  # a 503 page, with Retry-After
    if answer.status_code >= 400:
        return await _referral_page(
            request,
            signed,
            referral_id,
            error=_refusal(answer),
            status_code=409 if answer.status_code == 409 else 422,
        )
    return _to(f"/console/referrals/{referral_id}")


# ---------------------------------------------------------------- the referrer's view


@router.get("/reports")
async def reports(request: Request, uow: UoW) -> Response:
    """The reports the person's organisation raised, and what happened to each."""
    signed = await _signed(request, uow)
    if signed is None:
        return _sign_in_again()
    if "reports:read" not in scopes_of(signed.person.roles):
        return _problem_page(
            request, signed, 403, "No reports for your role", "Your role does not raise reports."
        )
    services = Services(request, _settings(request), signed.person)
    listed = _answer(await services.get("intake", "/v1/reports", limit=100))
    return _page(
        request,
        "reports.html",
        signed=signed,
        reports=listed if isinstance(listed, list) else [],
    )


@router.get("/reports/{referral_id}")
async def report_journey(request: Request, uow: UoW, referral_id: str) -> Response:
    signed = await _signed(request, uow)
    if signed is None:
        return _sign_in_again()
    services = Services(request, _settings(request), signed.person)
    journey = _answer(await services.get("intake", f"/v1/reports/{referral_id}"))
    if not isinstance(journey, dict):
        return _problem_page(
            request,
            signed,
            403,
            "You cannot open this report",
            "Your organisation did not raise it, or it does not exist.",
        )
    return _page(request, "journey.html", signed=signed, journey=journey)


@router.get("/static/{name:path}")
async def static(name: str) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise Problem(404, "Not found", "No such file.", type="not-found")
    response = FileResponse(STATIC / name, media_type=media)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
