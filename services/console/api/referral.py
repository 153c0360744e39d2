"""A referral's page, and the actions a person takes on it through the owning service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.gateway import Services
from services.console.schemas import ActionForm
from services.console.service.sessions import SignedIn
from shared.outcomes import DECLINE_REASONS, OUTCOMES
from shared.override_reasons import LABELS
from shared.people import scopes_of

router = APIRouter(prefix="/console")


async def _referral_page(
    request: Request,
    signed: SignedIn,
    referral_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    person = signed.person
    services = web.services(request, signed)
    routing = web.answer(await services.get("routing", f"/v1/referrals/{referral_id}/routing"))
    if not isinstance(routing, dict):
        # Not addressed to this person's organisation (or no such referral): the same
        # page either way, and nothing of the referral on it.
        return web.problem_page(
            request,
            signed,
            403,
            "You cannot open this referral",
            "It is not addressed to your organisation, or it does not exist.",
        )
    triage = web.answer(await services.get("triage", f"/v1/referrals/{referral_id}/triage"))
    # The child this referral was matched to, for the chronology (the hub reads it).
    child = (
        web.answer(await services.get("triage", f"/v1/referrals/{referral_id}/child"))
        if isinstance(triage, dict)
        else None
    )
    report = web.answer(await services.get("intake", f"/v1/referrals/{referral_id}/report"))
    scopes = scopes_of(person.roles)
    destination = routing.get("destination") or {}
    ours = destination.get("organisation") == person.organisation
    hub = "triage:override" in scopes
    agencies: list[Any] = []
    requests: list[Any] = []
    if hub:
        directory = web.answer(await services.get("routing", "/v1/directory"))
        if isinstance(directory, dict):
            agencies = [a for a in directory.get("agencies", []) if a.get("kind") == "agency"]
        asked = web.answer(
            await services.get("triage", f"/v1/referrals/{referral_id}/triage/override-requests")
        )
        requests = asked if isinstance(asked, list) else []
    return web.page(
        request,
        "referral.html",
        signed=signed,
        status_code=status_code,
        error=error,
        routing=routing,
        chosen=_chosen(routing),
        triage=triage if isinstance(triage, dict) else None,
        child=child if isinstance(child, dict) else None,
        history=_history_counted(triage),
        requests=requests,
        me=f"{person.organisation}/{person.id}",
        deliveries=await _deliveries(services, referral_id),
        notices=web.answer(
            await services.get_all(
                "notify", "/v1/encompass/notices", referral_id=referral_id, limit=500
            )
        ),
        report=report if isinstance(report, dict) else None,
        agency_actions=(
            [a for a in routing.get("allowed_actions", []) if a in AGENCY_ACTIONS]
            if ours and "referrals:write" in scopes
            else []
        ),
        hub_actions=hub,
        agencies=agencies,
        decline_reasons=DECLINE_REASONS,
        level_reasons=LEVEL_REASONS,
        outcomes=OUTCOMES,
    )


def _chosen(routing: dict[str, Any]) -> str | None:
    """The id of the candidate routing chose, when it chose an agency it considered."""
    destination = routing.get("destination") or {}
    ids = {c.get("agency_id") for c in routing.get("considered") or []}
    chosen = destination.get("id")
    return chosen if chosen in ids else None


def _history_counted(triage: Any) -> list[dict[str, Any]]:
    """The decision's factors that came from earlier reports: the child's own
    (cumulative rules) or another child's of the household."""
    if not isinstance(triage, dict):
        return []
    factors: list[dict[str, Any]] = triage["decision"]["factors"]
    return [f for f in factors if f["source"] not in ("this report", "the child's age")]


async def _deliveries(services: Services, referral_id: str) -> list[Any] | None:
    """This person's organisation's webhook deliveries about the referral (every one,
    oldest first); None when they may not see deliveries."""
    listed = web.answer(
        await services.get_all(
            "notify", "/v1/deliveries", referral_id=referral_id, limit=DELIVERY_PAGE
        )
    )
    return listed if isinstance(listed, list) else None


@router.get("/referrals/{referral_id}")
async def referral(request: Request, uow: UoW, referral_id: str) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    return await _referral_page(request, signed, referral_id)


# What an agency does on a referral addressed to it, as the page offers it.
AGENCY_ACTIONS = ("accept", "start", "decline", "close")
# The actions that change where a referral stands or why: a rationale is required.
NEEDS_RATIONALE = frozenset({"decline", "close", "reassign", "override", "level", "refuse_level"})
# The answers on a request to lower a statutory level, and the triage route of each.
REQUEST_ACTIONS = {
    "approve_level": "approve",
    "refuse_level": "refuse",
    "withdraw_level": "withdraw",
}
# Why a practitioner changes a level, as the level form offers it (the codes triage
# takes: shared/override_reasons.py).
LEVEL_REASONS: dict[str, str] = {code.value: words for code, words in LABELS.items()}
# Notify's largest page: the deliveries about a referral are read whole, this many at a
# time.
DELIVERY_PAGE = 500


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
    if form.action in REQUEST_ACTIONS:
        verb = REQUEST_ACTIONS[form.action]
        asked = f"{path}/triage/override-requests/{form.request_id}/{verb}"
        return "triage", asked, {"note": form.rationale}
    changed: dict[str, Any] = {
        "level": form.level,
        "rationale": form.rationale,
        "reason_code": form.reason_code,
    }
    return "triage", f"{path}/triage/override", changed


@router.post("/referrals/{referral_id}/act")
async def act(
    request: Request, uow: UoW, referral_id: str, form: Annotated[ActionForm, Form()]
) -> Response:
    """Do one action on a referral as the signed-in person, through the service that
    owns it (which records who did it); back to the referral's page either way."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if not web.csrf_ok(signed.session.csrf_token, form.csrf):
        return web.problem_page(
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
    if form.action == "level" and not form.reason_code:
        return await _referral_page(
            request,
            signed,
            referral_id,
            error="Choose a reason for the change of level.",
            status_code=422,
        )
    if form.action in REQUEST_ACTIONS and not form.request_id:
        return await _referral_page(
            request,
            signed,
            referral_id,
            error="Choose the request to answer: open the referral again and retry.",
            status_code=422,
        )
    service, path, body = _request_for(form, referral_id)
    answer = await web.services(request, signed).post(service, path, body)
    if answer.status_code >= 500:
        web.answer(answer)  # a 503 page, with Retry-After
    if answer.status_code >= 400:
        return await _referral_page(
            request,
            signed,
            referral_id,
            error=web.refusal(answer),
            status_code=409 if answer.status_code == 409 else 422,
        )
    return web.to(f"/console/referrals/{referral_id}")
