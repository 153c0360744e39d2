"""The referrer's view: the reports the person's organisation raised, and each journey."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from shared.people import scopes_of

router = APIRouter(prefix="/console")

# How many reports a page of the list shows, the newest first.
REPORTS_PAGE = 100


@router.get("/reports")
async def reports(request: Request, uow: UoW) -> Response:
    """The reports the person's organisation raised, and what happened to each."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if "reports:read" not in scopes_of(signed.person.roles):
        return web.problem_page(
            request, signed, 403, "No reports for your role", "Your role does not raise reports."
        )
    services = web.services(request, signed)
    # A page at a time, as intake lists them; intake checks the cursor (a 422 for one it
    # never gave is shown as a refusal, not as an empty list).
    cursor = request.query_params.get("cursor")
    response = await services.get("intake", "/v1/reports", limit=REPORTS_PAGE, cursor=cursor)
    if response.status_code == 422:
        return web.problem_page(
            request,
            signed,
            400,
            "That page of reports does not exist",
            "The link to older reports was not one this list gave. Start again from the "
            "newest reports.",
        )
    listed = web.answer(response)
    following = response.links.get("next")
    older = None
    if following is not None:
        given = httpx.URL(following["url"]).params.get("cursor")
        older = f"/console/reports?{urlencode({'cursor': given})}" if given else None
    return web.page(
        request,
        "reports.html",
        signed=signed,
        reports=listed if isinstance(listed, list) else [],
        older=older,
        first=cursor is None,
    )


@router.get("/reports/{referral_id}")
async def report_journey(request: Request, uow: UoW, referral_id: str) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    services = web.services(request, signed)
    journey = web.answer(await services.get("intake", f"/v1/reports/{referral_id}"))
    if not isinstance(journey, dict):
        return web.problem_page(
            request,
            signed,
            403,
            "You cannot open this report",
            "Your organisation did not raise it, or it does not exist.",
        )
    return web.page(request, "journey.html", signed=signed, journey=journey)
