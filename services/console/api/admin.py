"""The administrator's pages: the console's people, the partnership's API keys, the
organisation's webhook subscriptions with their delivery health, and the agency
directory. Only for a person with the `admin` role.

People are the console's own data (`service.people`). Keys are read from and revoked
through the one key registry every service reads (`app.state.key_registry`), as the
`signpost keys` command does; a secret is never stored, so never shown. Subscriptions,
deliveries and the directory are notify's and routing's, read and acted on through
their APIs as the signed-in administrator, who is recorded for every change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.gateway import Services
from services.console.passwords import generated_password
from services.console.service import people as service
from services.console.service.sessions import SignedIn
from shared.auth import KeyRegistry
from shared.people import ROLES
from shared.problems import Problem
from shared.text import CheckedText

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin")

# The most deliveries of one status the health counts read per subscription (the API's
# largest page): at this many the page says "or more".
COUNTED = 500


class PersonForm(CheckedText):
    """A new person, from the people page: their roles as checkboxes."""

    model_config = ConfigDict(extra="forbid")

    csrf: str = Field(default="", max_length=100)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    organisation: str = Field(default="", max_length=64)
    roles: list[str] = Field(default=[], max_length=len(ROLES))


class RolesForm(CheckedText):
    model_config = ConfigDict(extra="forbid")

    csrf: str = Field(default="", max_length=100)
    roles: list[str] = Field(default=[], max_length=len(ROLES))


class RevokeForm(CheckedText):
    model_config = ConfigDict(extra="forbid")

    csrf: str = Field(default="", max_length=100)


async def _administrator(request: Request, uow: UoW) -> SignedIn | Response:
    """The signed-in administrator; else the sign-in page or the 403 page to answer with."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if "admin" not in signed.person.roles:
        return web.problem_page(
            request,
            signed,
            403,
            "Only for administrators",
            "These pages are for the partnership's administrators.",
        )
    return signed


async def _checked(request: Request, uow: UoW, csrf: str) -> SignedIn | Response:
    """The administrator behind a form, when the form carries their session's token."""
    signed = await _administrator(request, uow)
    if isinstance(signed, SignedIn) and not web.csrf_ok(signed.session.csrf_token, csrf):
        return web.problem_page(
            request, signed, 403, "The form has expired", "Open the page again and retry."
        )
    return signed


@router.get("")
async def admin(request: Request, uow: UoW) -> Response:
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return web.page(request, "admin.html", signed=signed)


# ---------------------------------------------------------------- people


async def _people_page(
    request: Request,
    uow: UoW,
    signed: SignedIn,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    return web.page(
        request,
        "admin_people.html",
        signed=signed,
        status_code=status_code,
        people=await service.people(uow=uow),
        roles=ROLES,
        **context,
    )


@router.get("/people")
async def people(request: Request, uow: UoW) -> Response:
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return await _people_page(request, uow, signed, form=None)


@router.post("/people")
async def create_person(
    request: Request, uow: UoW, form: Annotated[PersonForm, Form()]
) -> Response:
    """A new local account with a generated password, shown once on the page that
    answers (as `signpost users create` prints it)."""
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    password = generated_password()
    try:
        created = await service.create_person(
            uow=uow,
            email=form.email,
            name=form.name,
            organisation=form.organisation,
            roles=form.roles,
            password=password,
        )
    except Problem as problem:
        return await _people_page(
            request,
            uow,
            signed,
            status_code=problem.status,
            form=form,
            error=problem.detail or problem.title,
        )
    return await _people_page(
        request, uow, signed, status_code=201, form=None, created=created, password=password
    )


async def _person_page(
    request: Request,
    uow: UoW,
    signed: SignedIn,
    person_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await service.person(uow=uow, person_id=person_id)
    if found is None:
        return web.problem_page(request, signed, 404, "No such person", "Nobody has that id.")
    return web.page(
        request,
        "admin_person.html",
        signed=signed,
        status_code=status_code,
        someone=found,
        roles=ROLES,
        error=error,
    )


@router.get("/people/{person_id}")
async def person(request: Request, uow: UoW, person_id: str) -> Response:
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return await _person_page(request, uow, signed, person_id)


@router.post("/people/{person_id}/roles")
async def change_roles(
    request: Request, uow: UoW, person_id: str, form: Annotated[RolesForm, Form()]
) -> Response:
    """New roles for a person; a mixture that does not combine is shown, and not kept."""
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        await service.change_roles(
            uow=uow, person_id=person_id, roles=form.roles, by=signed.person.id
        )
    except Problem as problem:
        return await _person_page(
            request,
            uow,
            signed,
            person_id,
            error=problem.detail or problem.title,
            status_code=problem.status,
        )
    return web.to(f"/console/admin/people/{person_id}")


async def _standing(request: Request, uow: UoW, person_id: str, *, disabled: bool) -> Response:
    signed = await _checked(request, uow, await web.form_csrf(request))
    if not isinstance(signed, SignedIn):
        return signed
    try:
        await service.set_disabled(
            uow=uow, person_id=person_id, disabled=disabled, by=signed.person.id
        )
    except Problem as problem:
        return await _person_page(
            request,
            uow,
            signed,
            person_id,
            error=problem.detail or problem.title,
            status_code=problem.status,
        )
    return web.to(f"/console/admin/people/{person_id}")


@router.post("/people/{person_id}/disable")
async def disable(request: Request, uow: UoW, person_id: str) -> Response:
    """Disable an account: its sessions end at once."""
    return await _standing(request, uow, person_id, disabled=True)


@router.post("/people/{person_id}/enable")
async def enable(request: Request, uow: UoW, person_id: str) -> Response:
    return await _standing(request, uow, person_id, disabled=False)


# ---------------------------------------------------------------- API keys


async def _keys_page(
    request: Request, signed: SignedIn, *, error: str | None = None, status_code: int = 200
) -> Response:
    registry: KeyRegistry = request.app.state.key_registry
    # Only what a person may see of a key: never its secret's digest.
    keys = [
        {
            "id": row.id,
            "name": row.name,
            "kind": row.kind.value,
            "organisation": row.organisation,
            "scopes": row.scopes,
            "created_at": row.created_at,
            "revoked_at": row.revoked_at,
        }
        for row in await registry.list()
    ]
    return web.page(
        request,
        "admin_keys.html",
        signed=signed,
        status_code=status_code,
        keys=keys,
        error=error,
    )


@router.get("/keys")
async def keys(request: Request, uow: UoW) -> Response:
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return await _keys_page(request, signed)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, uow: UoW, key_id: str, form: Annotated[RevokeForm, Form()]
) -> Response:
    """Revoke a key everywhere (as `signpost keys revoke` does)."""
    signed = await _checked(request, uow, form.csrf)
    if not isinstance(signed, SignedIn):
        return signed
    registry: KeyRegistry = request.app.state.key_registry
    if not await registry.revoke(key_id):
        return await _keys_page(request, signed, error=f"No active key {key_id}.", status_code=409)
    # The registry keeps when; the log keeps who (ids only: no free text, which could
    # name a child, goes to a log).
    log.info("api key revoked", extra={"key_id": key_id, "by": signed.person.id})
    return web.to("/console/admin/keys")


# ---------------------------------------------------------------- webhook subscriptions


async def _deliveries(services: Services, subscription_id: str, status: str) -> list[Any]:
    listed = web.answer(
        await services.get(
            "notify",
            "/v1/deliveries",
            subscription_id=subscription_id,
            status=status,
            limit=COUNTED,
        )
    )
    return listed if isinstance(listed, list) else []


def _count(rows: list[Any]) -> str:
    return f"{len(rows)} or more" if len(rows) >= COUNTED else str(len(rows))


async def _health(services: Services, subscription: dict[str, Any]) -> dict[str, Any]:
    """A subscription with its deliveries counted by status and its last failure: the
    newest parked delivery's last answer, parked when the subscription was flagged."""
    sub_id = str(subscription["id"])
    pending, parked, delivered = await asyncio.gather(
        *(_deliveries(services, sub_id, s) for s in ("pending", "parked", "delivered"))
    )
    return {
        **subscription,
        "pending": _count(pending),
        "parked": _count(parked),
        "delivered": _count(delivered),
        "last_failure_status": parked[-1]["last_response_status"] if parked else None,
    }


@router.get("/subscriptions")
async def subscriptions(request: Request, uow: UoW) -> Response:
    """The organisation's subscriptions, each with how its deliveries stand."""
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    services = web.services(request, signed)
    listed = web.answer(await services.get_all("notify", "/v1/subscriptions", limit=500))
    found = listed if isinstance(listed, list) else []
    return web.page(
        request,
        "admin_subscriptions.html",
        signed=signed,
        subscriptions=[await _health(services, sub) for sub in found],
    )


async def _subscription_page(
    request: Request,
    signed: SignedIn,
    subscription_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    services = web.services(request, signed)
    found = web.answer(await services.get("notify", f"/v1/subscriptions/{subscription_id}"))
    if not isinstance(found, dict):
        return web.problem_page(
            request,
            signed,
            404,
            "No such subscription",
            "It is not your organisation's, or it does not exist.",
        )
    return web.page(
        request,
        "admin_subscription.html",
        signed=signed,
        status_code=status_code,
        subscription=await _health(services, found),
        parked=await _deliveries(services, subscription_id, "parked"),
        error=error,
    )


@router.get("/subscriptions/{subscription_id}")
async def subscription(request: Request, uow: UoW, subscription_id: str) -> Response:
    """One subscription and its failed (parked) deliveries, each to replay."""
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    return await _subscription_page(request, signed, subscription_id)


@router.post("/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay")
async def replay(request: Request, uow: UoW, subscription_id: str, delivery_id: str) -> Response:
    """Send a parked delivery again, through notify as the administrator."""
    signed = await _checked(request, uow, await web.form_csrf(request))
    if not isinstance(signed, SignedIn):
        return signed
    answer = await web.services(request, signed).post(
        "notify", f"/v1/deliveries/{delivery_id}/replay", {}
    )
    if answer.status_code >= 500:
        web.answer(answer)  # a 503 page, with Retry-After
    if answer.status_code >= 400:
        return await _subscription_page(
            request,
            signed,
            subscription_id,
            error=web.refusal(answer),
            status_code=409 if answer.status_code == 409 else 422,
        )
    return web.to(f"/console/admin/subscriptions/{subscription_id}")


# ---------------------------------------------------------------- the agency directory


@router.get("/directory")
async def directory(request: Request, uow: UoW) -> Response:
    """The directory as routing has it now, and its versions (read-only here: a change
    goes through routing's API, which checks and versions it)."""
    signed = await _administrator(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    services = web.services(request, signed)
    current, versions = await asyncio.gather(
        services.get("routing", "/v1/directory"),
        services.get_all("routing", "/v1/directory/versions", limit=200),
    )
    found = web.answer(current)
    history = web.answer(versions)
    return web.page(
        request,
        "admin_directory.html",
        signed=signed,
        directory=found if isinstance(found, dict) else None,
        versions=history if isinstance(history, list) else [],
    )
