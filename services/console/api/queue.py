"""The queue: everything open for the person's organisation (the hub: the whole
partnership's), the soonest deadline first, with its RAG, the working time left, a
near or missed signal, and who has it; filters; claim, release and assign, each done
through routing in the person's name."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field, ValidationError

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.queue_view import deadline
from services.console.service.queue import colleagues, working_week
from services.console.service.sessions import SignedIn
from shared.clock import as_utc
from shared.people import scopes_of
from shared.text import CheckedText
from shared.uow import UnitOfWork

router = APIRouter(prefix="/console")

RAGS = ("red", "amber", "green", "blue")
OPEN_STATUSES = ("requested", "accepted", "in-progress")
STATUS_WORDS = {"requested": "Requested", "accepted": "Accepted", "in-progress": "In progress"}
WHOSE = {"everyone": "Everyone's", "mine": "Mine", "unassigned": "Unassigned"}
# Routing's largest page: the queue reads every page of what is open, this many at a time.
QUEUE_PAGE = 500


class QueueFilters(CheckedText):
    """What the queue shows: one RAG, one open status, and whose (all when empty)."""

    model_config = ConfigDict(extra="forbid")

    rag: Literal["", "red", "amber", "green", "blue"] = ""
    status: Literal["", "requested", "accepted", "in-progress"] = ""
    who: Literal["everyone", "mine", "unassigned"] = "everyone"

    def query(self) -> str:
        """The filters as the queue's query string (only those set)."""
        chosen: dict[str, str] = {"rag": self.rag, "status": self.status}
        if self.who != "everyone":
            chosen["who"] = self.who
        return urlencode({k: v for k, v in chosen.items() if v})


class QueueForm(QueueFilters):
    """A row's action: the session's CSRF token, the filters to come back to, and for
    an assignment the colleague chosen."""

    csrf: str = Field(default="", max_length=100)
    person_id: str = Field(default="", max_length=40)


def _due(row: dict[str, Any]) -> datetime | None:
    """The deadline running on a referral: an answer is due while it is requested (once
    accepted, the agency works to its own plan)."""
    due = row.get("respond_by")
    return as_utc(datetime.fromisoformat(due)) if due and row["status"] == "requested" else None


async def _queue_page(
    request: Request,
    signed: SignedIn,
    uow: UnitOfWork,
    filters: QueueFilters,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    person = signed.person
    scopes = scopes_of(person.roles)
    services = web.services(request, signed)
    week = await working_week(services)
    listed = web.answer(
        await services.get_all(
            "routing",
            "/v1/referrals",
            status=[filters.status] if filters.status else list(OPEN_STATUSES),
            assigned_to={"mine": person.id, "unassigned": "none"}.get(filters.who),
            limit=QUEUE_PAGE,
        )
    )
    now = uow.now()
    near = timedelta(hours=web.console_settings(request).console_alert_near_hours)
    rows = []
    for referral in listed if isinstance(listed, list) else []:
        if filters.rag and referral["priority"] != filters.rag:
            continue
        due = _due(referral)
        holder = referral.get("assigned_to")
        rows.append(
            {
                **referral,
                "due": due,
                "deadline": deadline(
                    now=now,
                    due=due,
                    week=week,
                    near=near,
                    round_the_clock=referral["priority"] == "red",
                )
                if due
                else None,
                "status_words": STATUS_WORDS.get(referral["status"], referral["status"]),
                "mine": bool(holder) and holder["person_id"] == person.id,
                # Only the organisation it is addressed to says who of its people has it.
                "ours": (referral.get("destination") or {}).get("organisation")
                == person.organisation
                and "referrals:write" in scopes,
            }
        )
    rows.sort(key=lambda r: (r["due"] is None, r["due"] or now))
    people = await colleagues(uow=uow, organisation=person.organisation)
    return web.page(
        request,
        "queue.html",
        signed=signed,
        status_code=status_code,
        error=error,
        referrals=rows,
        filters=filters,
        back=filters.query(),
        rags=RAGS,
        statuses=STATUS_WORDS,
        whose=WHOSE,
        colleagues=people,
        near_hours=f"{near.total_seconds() / 3600:g}",
        oversees="triage:override" in scopes,
        organisation=person.organisation,
    )


def _allowed(request: Request, signed: SignedIn) -> Response | None:
    """The page for a role that has no queue (it works no referrals), or None."""
    if "referrals:read" in scopes_of(signed.person.roles):
        return None
    return web.problem_page(
        request,
        signed,
        403,
        "No queue for your role",
        "Your role does not work referrals from a queue.",
    )


@router.get("/queue")
async def queue(request: Request, uow: UoW) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    refused = _allowed(request, signed)
    if refused is not None:
        return refused
    try:
        filters = QueueFilters.model_validate(
            {k: v for k, v in request.query_params.items() if k in QueueFilters.model_fields}
        )
    except ValidationError as exc:
        chosen = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return await _queue_page(
            request,
            signed,
            uow,
            QueueFilters(),
            error=f"Choose the filters from the lists ({chosen}): the whole queue is shown.",
            status_code=422,
        )
    return await _queue_page(request, signed, uow, filters)


async def _hand(
    request: Request, uow: UoW, referral_id: str, form: QueueForm, action: str
) -> Response:
    """Claim, release or assign a referral through routing as the signed-in person
    (routing records who did it); back to the queue with its filters, or the queue
    again with routing's reason when it refused."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    refused = _allowed(request, signed)
    if refused is not None:
        return refused
    if not web.csrf_ok(signed.session.csrf_token, form.csrf):
        return web.problem_page(
            request, signed, 403, "The form has expired", "Open the queue again and retry."
        )
    filters = QueueFilters(rag=form.rag, status=form.status, who=form.who)
    body: dict[str, Any] = {}
    if action == "assign":
        chosen = [
            p
            for p in await colleagues(uow=uow, organisation=signed.person.organisation)
            if p.id == form.person_id
        ]
        if not chosen:
            return await _queue_page(
                request,
                signed,
                uow,
                filters,
                error="Choose a colleague of your organisation from the list.",
                status_code=422,
            )
        body = {"person_id": chosen[0].id, "person_name": chosen[0].name}
    answer = await web.services(request, signed).post(
        "routing", f"/v1/referrals/{referral_id}/{action}", body
    )
    if answer.status_code >= 500:
        web.answer(answer)  # a 503 page, with Retry-After
    if answer.status_code >= 400:
        return await _queue_page(
            request,
            signed,
            uow,
            filters,
            error=web.refusal(answer),
            status_code=answer.status_code if answer.status_code in (403, 404, 409) else 422,
        )
    query = filters.query()
    return web.to("/console/queue" + (f"?{query}" if query else ""))


@router.post("/queue/{referral_id}/claim")
async def claim(
    request: Request, uow: UoW, referral_id: str, form: Annotated[QueueForm, Form()]
) -> Response:
    return await _hand(request, uow, referral_id, form, "claim")


@router.post("/queue/{referral_id}/release")
async def release(
    request: Request, uow: UoW, referral_id: str, form: Annotated[QueueForm, Form()]
) -> Response:
    return await _hand(request, uow, referral_id, form, "release")


@router.post("/queue/{referral_id}/assign")
async def assign(
    request: Request, uow: UoW, referral_id: str, form: Annotated[QueueForm, Form()]
) -> Response:
    return await _hand(request, uow, referral_id, form, "assign")
