"""What intake's routes ask for: the service's context, one unit of work,
the caller (authenticated, holding the route's scope, within its rate limit), the
Idempotency-Key and the report-access policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request, Security

from services.intake import service
from services.intake.access import ReportAccessPolicy
from services.intake.api.limits import TokenBuckets, rate_limited
from services.intake.settings import settings_of
from shared.auth import Principal, authenticate, requires
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


def _buckets(ctx: ServiceContext) -> TokenBuckets:
    buckets = ctx.state.get("rate_limit")
    if buckets is None:
        settings = settings_of(ctx)
        buckets = TokenBuckets(
            rate_per_minute=settings.intake_rate_per_minute, burst=settings.intake_burst
        )
        ctx.state["rate_limit"] = buckets
    assert isinstance(buckets, TokenBuckets)
    return buckets


def _client(scope: str) -> Callable[..., Awaitable[Principal]]:
    # The scope is a default value, not an annotation: annotations are strings here
    # (postponed evaluation) and could not see this function's `scope`.
    async def limited(
        ctx: Ctx, principal: Principal = Security(authenticate, scopes=[scope])
    ) -> Principal:
        wait = _buckets(ctx).take(principal.client_id)
        if wait > 0:
            raise rate_limited(wait)
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
