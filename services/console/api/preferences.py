"""Email alerts: a person chooses whether the console emails them when a referral lands
in their queue or nears its deadline (`service.alerts`; the emails hold no child's
data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.mail import mail_configured
from services.console.service.alerts import choose_email_alerts
from services.console.service.sessions import SignedIn
from shared.people import scopes_of

router = APIRouter(prefix="/console")


def _preferences_page(request: Request, signed: SignedIn, *, saved: bool) -> Response:
    return web.page(
        request,
        "preferences.html",
        signed=signed,
        saved=saved,
        has_queue="referrals:read" in scopes_of(signed.person.roles),
        mail_on=mail_configured(web.console_settings(request)),
    )


@router.get("/preferences")
async def preferences(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    return _preferences_page(request, signed, saved=request.query_params.get("saved") == "1")


@router.post("/preferences")
async def save_preferences(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    form = await request.form()
    if not web.csrf_ok(signed.session.csrf_token, await web.form_csrf(request)):
        return web.problem_page(
            request,
            signed,
            403,
            "The form has expired",
            "Open the email alerts page again and save your choice from there.",
        )
    # An unticked checkbox sends nothing: its absence is the choice "no".
    await choose_email_alerts(uow=uow, person=signed.person, wanted="email_alerts" in form)
    return web.to("/console/preferences?saved=1")
