"""Triage's REST API: a referral's threshold decision explained, and practitioner
overrides. Hub practitioners (and admins) only: the decision draws on the child's
and the household's history, which the referrer is not entitled to see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.triage.handlers import policy_of, triaged_cloudevent
from services.triage.models import TriageDecision, TriageOverride
from services.triage.service import MIN_RATIONALE, override_level, overrides_of
from shared.auth import ClientKind, Principal, requires
from shared.clock import as_utc
from shared.outbox import stage
from shared.problems import NotFound, Problem
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1", tags=["triage"])

HUB_KINDS = frozenset({ClientKind.HUB, ClientKind.ADMIN})


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "triage")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
ReferralsRead = Annotated[Principal, requires("referrals:read")]
TriageOverrideScope = Annotated[Principal, requires("triage:override")]


def _hub_only(principal: Principal) -> None:
    if principal.kind not in HUB_KINDS:
        raise Problem(
            403,
            "Forbidden",
            "Triage decisions are for hub practitioners.",
            type="hub-only",
        )


class FactorView(BaseModel):
    code: str
    label: str
    weight: int | None = Field(description="Null for a statutory indicator or a rule.")
    domain: str = Field(description="Assessment triangle domain, or age / history.")
    kind: str
    source: str


class DecisionView(BaseModel):
    """What the policy decided, kept as decided."""

    level: int
    level_name: str
    priority: str
    score: int
    decide_by: datetime | None
    factors: list[FactorView]
    rules: list[str]
    rationale: str
    decided_at: datetime


class OverrideView(BaseModel):
    id: str
    from_level: int
    to_level: int
    priority: str
    rationale: str
    by_name: str
    by_organisation: str
    at: datetime
    decide_by: datetime | None


class PolicyView(BaseModel):
    id: str
    version: str


class TriageView(BaseModel):
    referral_id: str
    level: int = Field(description="The level as it stands (after any override).")
    level_name: str
    priority: str
    decide_by: datetime | None
    policy: PolicyView
    explanation: str = Field(description="The decision and any overrides, in words.")
    decision: DecisionView
    overrides: list[OverrideView]


class OverrideRequest(BaseModel):
    level: int = Field(ge=1, le=5, description="The level the practitioner sets.")
    rationale: str = Field(
        min_length=MIN_RATIONALE,
        max_length=4000,
        description="Why: recorded with the override and shown with the decision.",
    )


def _view(row: TriageDecision, overrides: list[TriageOverride], ctx: ServiceContext) -> TriageView:
    policy = policy_of(ctx)
    names = {spec.level: spec.name for spec in policy.levels}
    current = overrides[-1].decide_by if overrides else row.decide_by
    explanation = [row.rationale]
    for o in overrides:
        explanation.append(
            f"On {as_utc(o.at):%d %b %Y at %H:%M} UTC {o.by_name} ({o.by_organisation}) "
            f"{'raised' if o.to_level > o.from_level else 'lowered'} the level from "
            f"{o.from_level} to {o.to_level} ({names.get(o.to_level, '')}, {o.priority}): "
            f'"{o.rationale}"'
        )
    return TriageView(
        referral_id=row.referral_id,
        level=row.level,
        level_name=names.get(row.level, row.level_name),
        priority=row.priority,
        decide_by=as_utc(current) if current else None,
        policy=PolicyView(id=row.policy_id, version=row.policy_version),
        explanation=" ".join(explanation),
        decision=DecisionView(
            level=row.decided_level,
            level_name=row.level_name,
            priority=row.decided_priority,
            score=row.score,
            decide_by=as_utc(row.decide_by) if row.decide_by else None,
            factors=[FactorView.model_validate(f) for f in row.factors],
            rules=row.rules,
            rationale=row.rationale,
            decided_at=as_utc(row.decided_at),
        ),
        overrides=[
            OverrideView(
                id=o.id,
                from_level=o.from_level,
                to_level=o.to_level,
                priority=o.priority,
                rationale=o.rationale,
                by_name=o.by_name,
                by_organisation=o.by_organisation,
                at=as_utc(o.at),
                decide_by=as_utc(o.decide_by) if o.decide_by else None,
            )
            for o in overrides
        ],
    )


@router.get(
    "/referrals/{referral_id}/triage",
    response_model=TriageView,
    summary="A referral's threshold decision, explained, with any practitioner overrides",
)
async def get_triage(referral_id: str, principal: ReferralsRead, ctx: Ctx) -> TriageView:
    _hub_only(principal)
    async with ctx.db.session() as session:
        row = await session.get(TriageDecision, referral_id)
        if row is None:
            raise NotFound("Triage decision")
        overrides = await overrides_of(session, referral_id)
    return _view(row, overrides, ctx)


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
    referral_id: str, body: OverrideRequest, principal: TriageOverrideScope, ctx: Ctx
) -> TriageView:
    _hub_only(principal)
    policy = policy_of(ctx)
    async with ctx.db.session() as session:
        row, _, triaged = await override_level(
            session,
            policy=policy,
            referral_id=referral_id,
            level=body.level,
            rationale=body.rationale.strip(),
            by=principal,
            now=ctx.clock.now(),
        )
        stage(session, triaged_cloudevent(ctx, triaged, row.partition_key))
        await session.commit()
        overrides = await overrides_of(session, referral_id)
    ctx.published()
    return _view(row, overrides, ctx)
