"""Threshold policies in the console: draft a new version, simulate what it would have
done to the referrals of a period (the transition matrices, the safety review first,
agency load, what drives the changes, and every changed referral's two decisions side
by side), and approve it from a future date: a reviewed act, recorded by triage with
who drafted, simulated and approved each version and the simulation the approver saw.

For the hub manager, the partnership analyst and administrators (`policy:simulate`);
approving needs `policy:approve` (the hub manager, administrators) and a person other
than the one who drafted it. Every step is triage's and routing's, called as the
person (`services.console.service.simulation`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.schemas import ApproveForm, CsrfForm, PolicyDraftForm, SimulateForm
from services.console.service.sessions import SignedIn
from services.console.service.simulation import Refused, simulate
from shared.measures import UK, period_of
from shared.people import scopes_of
from shared.simulation import summary_csv
from shared.uow import UnitOfWork

router = APIRouter(prefix="/console/policies")


async def _simulator(request: Request, uow: UnitOfWork) -> SignedIn | Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if "policy:simulate" not in scopes_of(signed.person.roles):
        return web.problem_page(
            request,
            signed,
            403,
            "No threshold policies for your role",
            "Drafting and simulating threshold policies is for the hub manager, the "
            "partnership analyst and administrators.",
        )
    return signed


async def _checked(request: Request, uow: UnitOfWork, csrf: str) -> SignedIn | Response:
    signed = await _simulator(request, uow)
    if isinstance(signed, SignedIn) and not web.csrf_ok(signed.session.csrf_token, csrf):
        return web.problem_page(
            request, signed, 403, "The form has expired", "Open the page again and retry."
        )
    return signed


@router.get("")
async def policies(request: Request, uow: UoW) -> Response:
    signed = await _simulator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return await _policies_page(request, signed)


async def _policies_page(
    request: Request,
    signed: SignedIn,
    *,
    document: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    listing = web.answer(await web.services(request, signed).get("triage", "/v1/policy-versions"))
    return web.page(
        request,
        "policies.html",
        signed=signed,
        status_code=status_code,
        listing=listing if isinstance(listing, dict) else {"versions": []},
        document=document,
        error=error,
    )


@router.post("")
async def draft(request: Request, uow: UoW, form: Annotated[PolicyDraftForm, Form()]) -> Response:
    """A new draft version from the pasted document (triage checks it)."""
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        document = json.loads(form.document)
    except ValueError as exc:
        return await _policies_page(
            request,
            signed,
            document=form.document,
            error=f"document: not JSON ({exc})",
            status_code=422,
        )
    if not isinstance(document, dict):
        return await _policies_page(
            request,
            signed,
            document=form.document,
            error="document: a policy is one JSON object",
            status_code=422,
        )
    answer = await web.services(request, signed).post("triage", "/v1/policy-versions", document)
    if answer.status_code >= 500:
        web.answer(answer)
    if answer.status_code != 201:
        return await _policies_page(
            request,
            signed,
            document=form.document,
            error=web.refusal(answer),
            status_code=409 if answer.status_code == 409 else 422,
        )
    return web.to(f"/console/policies/{answer.json()['id']}")


def _default_period(uow: UnitOfWork) -> tuple[str, str]:
    """The twelve months to the end of today (UK)."""
    today = uow.now().astimezone(UK).date()
    first = today.replace(year=today.year - 1) if (today.month, today.day) != (2, 29) else today
    return first.isoformat(), (today + timedelta(days=1)).isoformat()


async def _version_page(
    request: Request,
    uow: UnitOfWork,
    signed: SignedIn,
    version_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    asked: SimulateForm | None = None,
) -> Response:
    version = web.answer(
        await web.services(request, signed).get("triage", f"/v1/policy-versions/{version_id}")
    )
    if not isinstance(version, dict):
        return web.problem_page(
            request, signed, 404, "No such policy version", "It may have been mistyped."
        )
    first, end = _default_period(uow)
    scopes = scopes_of(signed.person.roles)
    return web.page(
        request,
        "policy.html",
        signed=signed,
        status_code=status_code,
        version=version,
        error=error,
        first=asked.first if asked else first,
        end=asked.end if asked else end,
        directory=asked.directory if asked else "",
        can_approve="policy:approve" in scopes,
        earliest=(uow.now() + timedelta(minutes=5)).astimezone(UK).strftime("%Y-%m-%dT%H:%M"),
    )


@router.get("/{version_id}")
async def version(request: Request, uow: UoW, version_id: str) -> Response:
    signed = await _simulator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return await _version_page(request, uow, signed, version_id)


@router.post("/{version_id}/simulate")
async def run_simulation(
    request: Request, uow: UoW, version_id: str, form: Annotated[SimulateForm, Form()]
) -> Response:
    """Simulate the draft over the period (and a draft directory, if pasted); the result
    is recorded with the version and shown on its own page."""
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    problem: str | None = None
    directory: dict[str, Any] | None = None
    try:
        period_of(form.first, form.end)
    except RequestValidationError as exc:
        problem = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
    if problem is None and form.directory.strip():
        try:
            loaded = json.loads(form.directory)
        except ValueError as exc:
            problem = f"directory: not JSON ({exc})"
        else:
            if isinstance(loaded, dict):
                directory = loaded
            else:
                problem = "directory: a directory is one JSON object"
    if problem is not None:
        return await _version_page(
            request, uow, signed, version_id, error=problem, status_code=422, asked=form
        )
    try:
        recorded = await simulate(
            web.services(request, signed),
            version_id=version_id,
            first=form.first,
            end=form.end,
            directory=directory,
        )
    except Refused as refused:
        if refused.response.status_code >= 500:
            web.answer(refused.response)
        return await _version_page(
            request,
            uow,
            signed,
            version_id,
            error=web.refusal(refused.response),
            status_code=409 if refused.response.status_code == 409 else 422,
            asked=form,
        )
    return web.to(f"/console/policies/{version_id}/simulations/{recorded.id}")


async def _simulation(
    request: Request, signed: SignedIn, version_id: str, simulation_id: str
) -> dict[str, Any] | None:
    found = web.answer(
        await web.services(request, signed).get(
            "triage", f"/v1/policy-versions/{version_id}/simulations/{simulation_id}"
        )
    )
    return found if isinstance(found, dict) else None


def _matrix(transitions: list[dict[str, Any]], keys: list[Any]) -> list[list[int]]:
    counts = {(t["from"], t["to"]): t["referrals"] for t in transitions}
    return [[counts.get((old, new), 0) for new in keys] for old in keys]


@router.get("/{version_id}/simulations/{simulation_id}")
async def simulation(request: Request, uow: UoW, version_id: str, simulation_id: str) -> Response:
    signed = await _simulator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    found = await _simulation(request, signed, version_id, simulation_id)
    if found is None:
        return web.problem_page(
            request, signed, 404, "No such simulation", "It may have been mistyped."
        )
    summary = found["summary"]
    # Every level from 1 to the highest either decision reached (an area may have five).
    top = max([4, *(t[end] for t in summary["level_transitions"] for end in ("from", "to"))])
    levels = list(range(1, top + 1))
    destinations = sorted(
        {t[end] for t in summary["destination_transitions"] for end in ("from", "to")}
    )
    return web.page(
        request,
        "simulation.html",
        signed=signed,
        version_id=version_id,
        simulation=found,
        summary=summary,
        levels=levels,
        level_matrix=_matrix(summary["level_transitions"], levels),
        destinations=destinations,
        destination_matrix=_matrix(summary["destination_transitions"], destinations),
        can_open_referrals="referrals:read" in scopes_of(signed.person.roles),
    )


@router.get("/{version_id}/simulations/{simulation_id}/changed.csv")
async def simulation_csv(
    request: Request, uow: UoW, version_id: str, simulation_id: str
) -> Response:
    """The changed referrals (the safety review first) as CSV: ids, levels,
    destinations and rules, nothing about a child."""
    signed = await _simulator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    found = await _simulation(request, signed, version_id, simulation_id)
    if found is None:
        return web.problem_page(
            request, signed, 404, "No such simulation", "It may have been mistyped."
        )
    name = f"signpost-simulation-{simulation_id}.csv"
    return web.guard(
        Response(
            summary_csv(found["summary"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    )


def _uk_instant(text: str) -> datetime | None:
    """A UK date and time from a form (`2027-04-01T00:00`) as an instant."""
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        return None
    return local.replace(tzinfo=UK) if local.tzinfo is None else local


async def _acted(
    request: Request, uow: UnitOfWork, signed: SignedIn, version_id: str, answer: httpx.Response
) -> Response:
    """Back to the version after triage took an action on it; its refusal on the
    version's page (403 and 409 kept, else 422), a 5xx a 503 page."""
    if answer.status_code == 200:
        return web.to(f"/console/policies/{version_id}")
    if answer.status_code >= 500:
        web.answer(answer)  # raises: a 503 page, with Retry-After
    return await _version_page(
        request,
        uow,
        signed,
        version_id,
        error=web.refusal(answer),
        status_code=answer.status_code if answer.status_code in (403, 409) else 422,
    )


@router.post("/{version_id}/approve")
async def approve(
    request: Request, uow: UoW, version_id: str, form: Annotated[ApproveForm, Form()]
) -> Response:
    """Approve the draft as this person, with the simulation they saw, to take effect
    from the time given (triage refuses the drafter, and a time too soon)."""
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    if "policy:approve" not in scopes_of(signed.person.roles):
        return web.problem_page(
            request,
            signed,
            403,
            "Approving is not for your role",
            "A threshold policy is approved by the hub manager or an administrator.",
        )
    activates = _uk_instant(form.activates_at)
    if activates is None:
        return await _version_page(
            request,
            uow,
            signed,
            version_id,
            error="activates_at: a date and time, e.g. 2027-04-01T00:00",
            status_code=422,
        )
    answer = await web.services(request, signed).post(
        "triage",
        f"/v1/policy-versions/{version_id}/approve",
        {"simulation_id": form.simulation_id, "activates_at": activates.isoformat()},
    )
    return await _acted(request, uow, signed, version_id, answer)


@router.post("/{version_id}/withdraw")
async def withdraw(
    request: Request, uow: UoW, version_id: str, form: Annotated[CsrfForm, Form()]
) -> Response:
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    answer = await web.services(request, signed).post(
        "triage", f"/v1/policy-versions/{version_id}/withdraw", {}
    )
    return await _acted(request, uow, signed, version_id, answer)
