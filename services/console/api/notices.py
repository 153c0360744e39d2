"""Operation Encompass notices in the console: a school's DSL sees the notices addressed
to the school, the soonest due first, opens one (notify records the read in the DSL's
name) and acknowledges it; a police officer sees whether each school was told of their
force's incidents, and nothing of the child."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.service.sessions import SignedIn
from shared.people import scopes_of

router = APIRouter(prefix="/console")

# Where a notice stands, in words (notify's statuses); never colour alone on the page.
STATUS_WORDS = {
    "pending": "Waiting for you",
    "missed": "Not acknowledged by the start of the school day",
    "notified": "Received in time",
    "notified_late": "Received after the start of the school day",
    "superseded": "Replaced by a corrected police report",
}
# The notices still waiting for the school's DSL.
WAITING = frozenset({"pending", "missed"})
# How many of the notices no longer waiting the page lists, the newest first.
RECENT = 200
# Notify's largest page: the notices still waiting are read whole, this many at a time.
WAITING_PAGE = 500
VIA_WORDS = {"webhook": "delivered to your school's system", "acknowledged": "acknowledged"}


def _may_follow(signed: SignedIn) -> bool:
    """The people the navigation offers the page: school DSLs and police officers."""
    scopes = scopes_of(signed.person.roles)
    return "encompass:read" in scopes and "reports:read" in scopes


def _not_yours(request: Request, signed: SignedIn) -> Response:
    return web.problem_page(
        request,
        signed,
        403,
        "No Encompass notices for your role",
        "Operation Encompass notices are for schools' designated safeguarding leads and "
        "the police.",
    )


def _described(notice: dict[str, Any]) -> dict[str, Any]:
    status = str(notice.get("status"))
    return {
        **notice,
        "status_text": STATUS_WORDS.get(status, status),
        "waiting": status in WAITING,
        "via_text": VIA_WORDS.get(str(notice.get("notified_via")), ""),
    }


async def _notices_page(
    request: Request, signed: SignedIn, *, error: str | None = None, status_code: int = 200
) -> Response:
    services = web.services(request, signed)
    # Every notice still waiting, however many (each page of each waiting status), the
    # soonest due first; then the most recent others, the newest first.
    pending, missed, recent = await asyncio.gather(
        services.get_all("notify", "/v1/encompass/notices", status="pending", limit=WAITING_PAGE),
        services.get_all("notify", "/v1/encompass/notices", status="missed", limit=WAITING_PAGE),
        services.get("notify", "/v1/encompass/notices", limit=RECENT),
    )
    notices = [
        _described(n)
        for listed in map(web.answer, (pending, missed, recent))
        if isinstance(listed, list)
        for n in listed
    ]
    # A notice may be in two of the lists (due while one was read, missed by the next).
    still = {n["notice_id"]: n for n in notices if n["waiting"]}
    waiting = sorted(still.values(), key=lambda n: str(n["notify_by"]))
    scopes = scopes_of(signed.person.roles)
    return web.page(
        request,
        "notices.html",
        signed=signed,
        status_code=status_code,
        error=error,
        waiting=waiting,
        earlier=[n for n in notices if not n["waiting"]],
        can_acknowledge="encompass:acknowledge" in scopes,
    )


@router.get("/notices")
async def notices(request: Request, uow: UoW) -> Response:
    """The notices the person may follow: a DSL their school's, an officer their force's."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if not _may_follow(signed):
        return _not_yours(request, signed)
    return await _notices_page(request, signed)


@router.get("/notices/{notice_id}")
async def notice(request: Request, uow: UoW, notice_id: str) -> Response:
    """One notice's content, as the sharing policy lets the school see it; notify
    records the read (who, when, which fields) before it answers."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if not _may_follow(signed):
        return _not_yours(request, signed)
    services = web.services(request, signed)
    content = web.answer(await services.get("notify", f"/v1/encompass/notices/{notice_id}"))
    if not isinstance(content, dict):
        return web.problem_page(
            request,
            signed,
            403,
            "You cannot open this notice",
            "It is not addressed to your organisation, or it does not exist.",
        )
    return web.page(
        request,
        "notice.html",
        signed=signed,
        notice=_described(content),
        body=content.get("notice") or {},
        can_acknowledge="encompass:acknowledge" in scopes_of(signed.person.roles),
    )


@router.post("/notices/{notice_id}/acknowledge")
async def acknowledge(request: Request, uow: UoW, notice_id: str) -> Response:
    """Say the school's DSL has the notice, as the signed-in person (notify records who)."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if not web.csrf_ok(signed.session.csrf_token, await web.form_csrf(request)):
        return web.problem_page(
            request, signed, 403, "The form has expired", "Open the notices again and retry."
        )
    if "encompass:acknowledge" not in scopes_of(signed.person.roles):
        return web.problem_page(
            request,
            signed,
            403,
            "You cannot acknowledge notices",
            "Only a school's designated safeguarding lead acknowledges a notice.",
        )
    answer = await web.services(request, signed).post(
        "notify", f"/v1/encompass/notices/{notice_id}/acknowledge", {}
    )
    if answer.status_code >= 500:
        web.answer(answer)  # a 503 page, with Retry-After
    if answer.status_code >= 400:
        return await _notices_page(
            request,
            signed,
            error=web.refusal(answer),
            status_code=409 if answer.status_code == 409 else 422,
        )
    return web.to("/console/notices")
