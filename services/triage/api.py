"""Triage's REST API: a referral's threshold decision explained, and practitioner
overrides. Hub practitioners (and admins) only: the decision draws on the child's
and the household's history, which the referrer is not entitled to see."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security

from services.triage import service
from services.triage.policy import ThresholdPolicy
from services.triage.schemas import OverrideRequest, TriageView
from shared.auth import Principal, authenticate
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
    response_model=TriageView,
    summary="Raise or lower a referral's level, with a recorded rationale",
    description=(
        "Keeps the policy's decision and records the override beside it; the referral "
        "is triaged again (a new revision of referral.triaged) so routing decides again."
    ),
)
async def override_triage(
    referral_id: str, body: OverrideRequest, principal: HubOverride, policy: Policy, uow: UoW
) -> TriageView:
    return await service.override_level(
        uow=uow,
        policy=policy,
        principal=principal,
        referral_id=referral_id,
        level=body.level,
        rationale=body.rationale.strip(),
    )
