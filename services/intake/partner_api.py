"""The claim check: a partner a referral is addressed to reads the report through the
API, cut down by the area's report-access policy, and every read is recorded.

Notifications carry ids only (see notify's sharing policy); the organisation the
referral is addressed to now (as of the latest `referral.routed`) and the hub fetch
the details here. An agency the referral has moved away from, or any other
organisation, gets 404. The hub sees who read what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import ReportAccessPolicy, load_access_policy
from services.intake.models import Report
from shared.auth import Principal, requires
from shared.clock import as_utc
from shared.privacy import OVERSEERS, ReadPublic, audit_read, only_overseers, reads_of
from shared.problems import NotFound
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1", tags=["partners"])

AUDITED = "report"
POLICY = "report_access_policy"


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "intake")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
Reader = Annotated[Principal, requires("referrals:read")]


async def load_policy_at_start(ctx: ServiceContext) -> None:
    """Read the report-access policy as intake starts: a broken file stops the service
    with the reason, rather than failing every read later."""
    ctx.state[POLICY] = load_access_policy(ctx.settings.intake_report_access_policy_path)


def _policy(ctx: ServiceContext) -> ReportAccessPolicy:
    policy: ReportAccessPolicy = ctx.state[POLICY]
    return policy


class DestinationView(BaseModel):
    kind: str
    name: str
    organisation: str | None


class ReportForPartner(BaseModel):
    referral_id: str
    received_at: datetime
    destination: DestinationView | None = Field(
        description="Where the referral is now (routing's latest decision)."
    )
    policy: str = Field(description="The report-access policy applied: id and version.")
    report: dict[str, Any] = Field(
        description="The report as the policy lets your kind of partner read it."
    )


async def _readable(session: AsyncSession, principal: Principal, referral_id: str) -> Report:
    report = await session.get(Report, referral_id)
    if report is None:
        raise NotFound("Referral")
    addressed = (
        report.destination_organisation is not None
        and report.destination_organisation == principal.organisation
    )
    if not (addressed or principal.kind.value in OVERSEERS):
        raise NotFound("Referral")
    return report


@router.get(
    "/referrals/{referral_id}/report",
    response_model=ReportForPartner,
    summary="Read a report addressed to your organisation (each read is recorded)",
    description=(
        "For the organisation the referral is addressed to now, and the hub: the report "
        "cut down by the area's report-access policy for your kind of partner. Anyone "
        "else, including an agency the referral has moved away from, gets 404. Just "
        "after a `referral.routed` notification this may be 404 for a moment: retry."
    ),
)
async def read_report(referral_id: str, principal: Reader, ctx: Ctx) -> ReportForPartner:
    policy = _policy(ctx)
    now = ctx.clock.now()
    async with ctx.db.session() as session:
        report = await _readable(session, principal, referral_id)
        shown = policy.shown(principal.kind.value, report.payload)
        audit_read(
            session,
            principal,
            resource=AUDITED,
            resource_id=report.referral_id,
            shown=shown,
            at=now,
        )
        await session.commit()
    destination = (
        DestinationView(
            kind=report.destination_kind,
            name=report.destination_name or "",
            organisation=report.destination_organisation,
        )
        if report.destination_kind
        else None
    )
    return ReportForPartner(
        referral_id=report.referral_id,
        received_at=as_utc(report.received_at),
        destination=destination,
        policy=f"{policy.id}@{policy.version}",
        report=shown,
    )


@router.get(
    "/referrals/{referral_id}/report/reads",
    response_model=list[ReadPublic],
    summary="Who has read a report, when and which fields (hub and administrators)",
)
async def report_reads(referral_id: str, principal: Reader, ctx: Ctx) -> list[ReadPublic]:
    async with ctx.db.session() as session:
        report = await _readable(session, principal, referral_id)
        if principal.kind.value not in OVERSEERS:
            raise only_overseers()
        return await reads_of(session, AUDITED, report.referral_id)
