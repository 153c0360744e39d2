"""A child's chronology page: every referral counted as one child across police and
school sources, and those only perhaps theirs, with how surely each is the child's;
and a hub practitioner's confirm or split of a link, given through triage as the
person (triage records it and matches later reports with it). No names here: the
chronology is about which referrals belong together, and each referral's page (its
report read through intake, recorded) is where the child is named."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.service.sessions import SignedIn
from shared.people import scopes_of
from shared.text import CheckedText

router = APIRouter(prefix="/console")

OUTCOME_WORDS = {
    "same": "The same child (counted)",
    "possible": "Perhaps the same child (not counted)",
    "different": "Not this child",
}
SOURCE_WORDS = {"police": "Police", "school": "School", "other": "Other"}


class MatchVerdictForm(CheckedText):
    """A confirm or split from the child's page. The rationale is required; the page
    says so before triage is asked."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"rationale"})

    csrf: str = Field(default="", max_length=100)
    referral_id: str = Field(min_length=1, max_length=40)
    verdict: Literal["confirm", "split"]
    rationale: str = Field(default="", max_length=4000)


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    """One chronology entry with its words for the page."""
    match = entry.get("match")
    return {
        **entry,
        "source": SOURCE_WORDS.get(entry["source_kind"], "Other"),
        "rag": str(entry["priority"]).capitalize(),
        "outcome": OUTCOME_WORDS[match["outcome"]] if match else "The first record of this child",
        "doubts": ", ".join(match["doubts"]) if match and match["doubts"] else "none",
        "concerns": ", ".join(c.replace("_", " ") for c in entry["concern_codes"]),
        "judged": match is not None,
    }


async def _child_page(
    request: Request,
    signed: SignedIn,
    subject_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    services = web.services(request, signed)
    child = web.answer(await services.get("triage", f"/v1/children/{subject_id}"))
    if not isinstance(child, dict):
        # Not this person's to read (or no such child): the same page either way, and
        # nothing of the child on it.
        return web.problem_page(
            request,
            signed,
            403,
            "You cannot open this child's chronology",
            "It is for the hub's practitioners, or there is no such child.",
        )
    return web.page(
        request,
        "child.html",
        signed=signed,
        status_code=status_code,
        error=error,
        subject_id=subject_id,
        rows=[_row(entry) for entry in child["referrals"]],
        can_judge="triage:override" in scopes_of(signed.person.roles),
    )


@router.get("/children/{subject_id}")
async def child(request: Request, uow: UoW, subject_id: str) -> Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    return await _child_page(request, signed, subject_id)


@router.post("/children/{subject_id}/matches")
async def judge_match(
    request: Request, uow: UoW, subject_id: str, form: Annotated[MatchVerdictForm, Form()]
) -> Response:
    """Confirm or split one referral's link to the child as the signed-in person,
    through triage (which records who and why); back to the chronology either way."""
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if not web.csrf_ok(signed.session.csrf_token, form.csrf):
        return web.problem_page(
            request, signed, 403, "The form has expired", "Open the chronology again and retry."
        )
    if not form.rationale.strip():
        return await _child_page(
            request,
            signed,
            subject_id,
            error="Say why: a rationale is required to confirm or split a match.",
            status_code=422,
        )
    body = {
        "referral_id": form.referral_id,
        "verdict": form.verdict,
        "rationale": form.rationale.strip(),
    }
    answer = await web.services(request, signed).post(
        "triage", f"/v1/children/{subject_id}/matches", body
    )
    if answer.status_code >= 500:
        web.answer(answer)  # a 503 page, with Retry-After
    if answer.status_code >= 400:
        return await _child_page(
            request,
            signed,
            subject_id,
            error=web.refusal(answer),
            status_code=409 if answer.status_code == 409 else 422,
        )
    return web.to(f"/console/children/{subject_id}")
