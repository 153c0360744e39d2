"""The queue: what is waiting for the person's organisation, the soonest deadline first."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from shared.clock import as_utc
from shared.people import scopes_of

router = APIRouter(prefix="/console")


@router.get("/queue")
async def queue(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    person = signed.person
    if "referrals:read" not in scopes_of(person.roles):
        return web.problem_page(
            request,
            signed,
            403,
            "No queue for your role",
            "Your role does not work referrals from a queue.",
        )
    services = web.services(request, signed)
    listed = web.answer(await services.get("routing", "/v1/referrals", status="requested"))
    rows = listed if isinstance(listed, list) else []
    now = uow.now()
    for row in rows:
        due = row.get("respond_by")
        if due:
            at = as_utc(_parse(due))
            row["respond_by_text"] = f"{at:%a %d %b %H:%M} UTC"
            row["overdue"] = at <= now
    rows.sort(key=lambda r: (r.get("respond_by") is None, r.get("respond_by") or ""))
    return web.page(
        request,
        "queue.html",
        signed=signed,
        referrals=rows,
        whose=person.organisation,
        intro=f"Referrals waiting for {person.organisation} to accept or decline.",
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
