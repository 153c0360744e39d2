"""Triage's REST API: a referral's threshold decision explained, and practitioner
overrides. Hub practitioners (and admins) only: the decision draws on the child's
and the household's history, which the referrer is not entitled to see."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, Security

from services.triage import service
from services.triage.deadlines import week_of
from services.triage.policy import ThresholdPolicy
from services.triage.schemas import (
    ChildOfReferral,
    ChildView,
    DecisionNote,
    MatchVerdictRequest,
    OverrideRequest,
    OverrideRequestView,
    PolicyView,
    RefusalNote,
    TriageView,
    WorkingWeekView,
)
from services.triage.service import children, measures
from shared.auth import Principal, authenticate
from shared.measures import measures_router
from shared.problems import Problem
from shared.runtime import context_of, unit_of_work
from shared.uow import UnitOfWork

router = APIRouter(prefix="/v1", tags=["triage"])


async def _policy(request: Request) -> ThresholdPolicy:
    return service.policy_of(context_of(request, "triage"))


def _hub_only(scope: str) -> Any:
    """A dependency: the caller's key holds `scope` and belongs to the hub (or an admin)."""

    # The scope check as a default: a string annotation cannot name the closure's scope.
    async def overseer(principal: Principal = Security(authenticate, scopes=[scope])) -> Principal:
        if not principal.oversees:
            raise Problem(
                403,
                "Forbidden",
                "Triage decisions are for hub practitioners.",
                type="hub-only",
            )
        return principal

    return Depends(overseer)


Policy = Annotated[ThresholdPolicy, Depends(_policy)]
UoW = Annotated[UnitOfWork, Depends(unit_of_work("triage"), scope="function")]
HubRead = Annotated[Principal, _hub_only("referrals:read")]
HubOverride = Annotated[Principal, _hub_only("triage:override")]


@router.get(
    "/referrals/{referral_id}/triage",
    response_model=TriageView,
    summary="A referral's threshold decision, explained, with any practitioner overrides",
)
async def get_triage(referral_id: str, principal: HubRead, policy: Policy, uow: UoW) -> TriageView:
    return await service.decision_of(uow=uow, policy=policy, referral_id=referral_id)


@router.post(
    "/referrals/{referral_id}/triage/override",
    status_code=201,
    response_model=TriageView | OverrideRequestView,
    responses={202: {"model": OverrideRequestView, "description": "Waiting for approval"}},
    summary="Raise or lower a referral's level, with a recorded rationale",
    description=(
        "Keeps the policy's decision and records the override beside it, with its "
        "rationale and, when given, its `reason_code` (an unknown code is a 422); the referral "
        "is triaged again (a new revision of referral.triaged) so routing decides again "
        "(201, the decision as it now stands). Lowering a referral from the statutory "
        "level takes a second person: the answer is 202 with the request waiting for "
        "their approval (`Location`), and nothing changes until they approve it."
    ),
)
async def override_triage(
    referral_id: str,
    body: OverrideRequest,
    principal: HubOverride,
    policy: Policy,
    uow: UoW,
    response: Response,
) -> TriageView | OverrideRequestView:
    answer = await service.change_level(
        uow=uow,
        policy=policy,
        principal=principal,
        referral_id=referral_id,
        level=body.level,
        rationale=body.rationale.strip(),
        reason_code=body.reason_code,
    )
    if isinstance(answer, OverrideRequestView):
        response.status_code = 202
        response.headers["Location"] = _request_url(answer)
    return answer


def _request_url(request: OverrideRequestView) -> str:
    return f"/v1/referrals/{request.referral_id}/triage/override-requests/{request.id}"


@router.get(
    "/referrals/{referral_id}/triage/override-requests",
    response_model=list[OverrideRequestView],
    summary="The requests to lower a referral from the statutory level, oldest first",
)
async def list_override_requests(
    referral_id: str, principal: HubRead, uow: UoW
) -> list[OverrideRequestView]:
    return await service.override_requests(uow=uow, referral_id=referral_id)


@router.get(
    "/referrals/{referral_id}/triage/override-requests/{request_id}",
    response_model=OverrideRequestView,
    summary="One request to lower a referral from the statutory level",
)
async def get_override_request(
    referral_id: str, request_id: str, principal: HubRead, uow: UoW
) -> OverrideRequestView:
    return await service.override_request(uow=uow, referral_id=referral_id, request_id=request_id)


@router.post(
    "/referrals/{referral_id}/triage/override-requests/{request_id}/approve",
    response_model=OverrideRequestView,
    summary="Approve another practitioner's request to lower the statutory level",
    description=(
        "A second person (never a system's key, never the requester) approves: the "
        "override is made in their name with the requester's rationale, as any override "
        "is. A request the decision has moved on from is stale (409)."
    ),
)
async def approve_override_request(
    referral_id: str,
    request_id: str,
    body: DecisionNote,
    principal: HubOverride,
    policy: Policy,
    uow: UoW,
) -> OverrideRequestView:
    return await service.approve_request(
        uow=uow,
        policy=policy,
        principal=principal,
        referral_id=referral_id,
        request_id=request_id,
        note=body.note.strip(),
    )


@router.post(
    "/referrals/{referral_id}/triage/override-requests/{request_id}/refuse",
    response_model=OverrideRequestView,
    summary="Refuse another practitioner's request to lower the statutory level, saying why",
)
async def refuse_override_request(
    referral_id: str, request_id: str, body: RefusalNote, principal: HubOverride, uow: UoW
) -> OverrideRequestView:
    return await service.refuse_request(
        uow=uow,
        principal=principal,
        referral_id=referral_id,
        request_id=request_id,
        note=body.note.strip(),
    )


@router.post(
    "/referrals/{referral_id}/triage/override-requests/{request_id}/withdraw",
    response_model=OverrideRequestView,
    summary="Withdraw your own request to lower the statutory level",
)
async def withdraw_override_request(
    referral_id: str, request_id: str, body: DecisionNote, principal: HubOverride, uow: UoW
) -> OverrideRequestView:
    return await service.withdraw_request(
        uow=uow,
        principal=principal,
        referral_id=referral_id,
        request_id=request_id,
        note=body.note.strip(),
    )


# ---- a child's chronology, and practitioners' verdicts on its matches ---------------

# Who may read a child's chronology is the service's to say (those who oversee; 404 to
# anyone else, as another organisation's referral is).
ChildReader = Annotated[Principal, Security(authenticate, scopes=["referrals:read"])]
AnyCaller = Annotated[Principal, Security(authenticate)]


@router.get(
    "/referrals/{referral_id}/child",
    response_model=ChildOfReferral,
    summary="The child a referral is counted as, to open their chronology",
)
async def child_of_referral(referral_id: str, principal: HubRead, uow: UoW) -> ChildOfReferral:
    return await children.child_of(uow=uow, referral_id=referral_id)


@router.get(
    "/children/{subject_id}",
    response_model=ChildView,
    summary="A child's chronology across sources, with each match's confidence (recorded)",
    description=(
        "The referrals counted as this child, those only perhaps about them, and those a "
        "practitioner split from them, newest first: what was decided and how surely "
        "each is this child's. No names or dates of birth. For the hub; 404 to anyone "
        "else. Each read is recorded with the reader's id."
    ),
)
async def get_child(subject_id: str, principal: ChildReader, policy: Policy, uow: UoW) -> ChildView:
    return await children.chronology(
        uow=uow, policy=policy, principal=principal, subject_id=subject_id
    )


@router.post(
    "/children/{subject_id}/matches",
    status_code=201,
    response_model=ChildView,
    summary="Confirm or split a referral's link to this child, with a recorded rationale",
    description=(
        "A hub practitioner's verdict (a person, never a system's key): confirm counts a "
        "possible referral as this child's; split takes a referral out of the child (it "
        "becomes a child of its own). Later reports are matched with the verdict; past "
        "decisions stand. Answers the chronology as it now stands."
    ),
)
async def give_match_verdict(
    subject_id: str, body: MatchVerdictRequest, principal: HubOverride, policy: Policy, uow: UoW
) -> ChildView:
    return await children.give_verdict(
        uow=uow,
        policy=policy,
        principal=principal,
        subject_id=subject_id,
        referral_id=body.referral_id,
        verdict=body.verdict,
        rationale=body.rationale.strip(),
    )


@router.get(
    "/working-week",
    response_model=WorkingWeekView,
    summary="The area's working week: when working-hours deadlines run",
    description="From the active threshold policy: the working day, the working weekdays, "
    "whose bank holidays and the area's own closure days. The same calendar decides "
    "triage's working-hours deadlines; the console counts working time left by it. Any "
    "key or person may read it (it holds nothing about anyone).",
)
async def get_working_week(principal: AnyCaller, policy: Policy) -> WorkingWeekView:
    week = week_of(policy)
    return WorkingWeekView(
        policy=PolicyView(id=policy.id, version=policy.version),
        calendar=week.division,
        timezone=policy.working_hours.timezone,
        opens=f"{week.opens:%H:%M}",
        closes=f"{week.closes:%H:%M}",
        weekdays=sorted(week.weekdays),
        closed_days=sorted(day.isoformat() for day in week.closed_days),
    )


router.include_router(measures_router("triage", UoW, measures.measures, policy=Policy))
