"""What intake's routes ask for: the service's context, one unit of work,
the caller (authenticated, holding the route's scope, within its rate limit), the
Idempotency-Key and the report-access policy.

The report routes (`reports:write`, `reports:read`) keep intake's own per-key limit
(INTAKE_RATE_PER_MINUTE, bursts of INTAKE_BURST) on the shared limiter
(`shared.ratelimit`: in distributed mode one limit across every intake replica); every
other route (the partners' claim check) has the general one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request, Security

from services.intake import service
from services.intake.access import ReportAccessPolicy
from services.intake.settings import settings_of
from shared.auth import Principal, identify, requires, within_limit
from shared.ratelimit import Limit
from shared.runtime import ServiceContext, context_of, unit_of_work
from shared.uow import UnitOfWork

SERVICE = "intake"


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, SERVICE)


Ctx = Annotated[ServiceContext, Depends(_ctx)]
# One unit of work for the request, committed (with the events it recorded) when the
# route returns and before the answer is sent; rolled back whole on an error.
UoW = Annotated[UnitOfWork, Depends(unit_of_work(SERVICE), scope="function")]


async def _policy(ctx: Ctx) -> ReportAccessPolicy:
    return service.access_policy(ctx)


AccessPolicy = Annotated[ReportAccessPolicy, Depends(_policy)]


def _reports_limit(ctx: ServiceContext) -> Limit:
    settings = settings_of(ctx)
    return Limit("intake.reports", settings.intake_rate_per_minute, settings.intake_burst)


def _client(scope: str) -> Callable[..., Awaitable[Principal]]:
    # The scope is a default value, not an annotation: annotations are strings here
    # (postponed evaluation) and could not see this function's `scope`.
    async def limited(
        request: Request, ctx: Ctx, principal: Principal = Security(identify, scopes=[scope])
    ) -> Principal:
        await within_limit(request, _reports_limit(ctx), principal)
        return principal

    return limited


# A referrer's system (police, school), within its rate limit.
ReportsWrite = Annotated[Principal, Depends(_client("reports:write"))]
ReportsRead = Annotated[Principal, Depends(_client("reports:read"))]
# A partner reading a report addressed to it (the claim check).
Reader = Annotated[Principal, requires("referrals:read")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry safely: the same key and body replay the first answer; "
        "the same key with another body is a 409.",
    ),
]
