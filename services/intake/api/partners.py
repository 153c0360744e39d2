"""The claim check: a partner a referral is addressed to reads the report through the
API, cut down by the area's report-access policy, and every read is recorded.

Notifications carry ids only (see notify's sharing policy); the organisation the
referral is addressed to now (as of the latest `referral.routed`) and the hub fetch
the details here. An agency the referral has moved away from, or any other
organisation, gets 404. The hub sees who read what.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.intake import service
from services.intake.api.dependencies import AccessPolicy, Reader, UoW
from services.intake.schemas import ReportForPartner
from shared.privacy import ReadPublic

router = APIRouter(prefix="/v1", tags=["partners"])


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
async def read_report(
    referral_id: str, principal: Reader, policy: AccessPolicy, uow: UoW
) -> ReportForPartner:
    return await service.read_for_partner(
        uow=uow, principal=principal, referral_id=referral_id, policy=policy
    )


@router.get(
    "/referrals/{referral_id}/report/reads",
    response_model=list[ReadPublic],
    summary="Who has read a report, when and which fields (hub and administrators)",
)
async def report_reads(referral_id: str, principal: Reader, uow: UoW) -> list[ReadPublic]:
    return await service.report_reads(uow=uow, principal=principal, referral_id=referral_id)
