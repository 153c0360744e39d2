"""What notify shows an operator at each scrape of /metrics (`shared.metrics`): the
deliveries waiting at each partner's subscription, and the Operation Encompass notices
at risk of missing, or past, the start of the school day.

Read in a unit of work that is never committed, at its now (the service's clock).
"""

from __future__ import annotations

from datetime import timedelta

from services.notify import repository
from shared.metrics import Reading, ScrapedGauge
from shared.uow import UnitOfWork

DELIVERIES = ScrapedGauge(
    "signpost_notify_deliveries",
    "Deliveries waiting at a subscription: pending (queued or being retried) or parked "
    "(the retry schedule is spent or the endpoint is gone: someone must look, then "
    "replay), by subscription id and its organisation.",
)
ENCOMPASS_AT_RISK = ScrapedGauge(
    "signpost_notify_encompass_notices_at_risk",
    "Operation Encompass notices neither delivered nor acknowledged: deadline=passed "
    "(missed: the school day started without the school knowing) or deadline=within_hour "
    "(notify_by in the next hour).",
)
# A notice this close to its deadline and still waiting is at risk.
AT_RISK_WITHIN = timedelta(hours=1)
# The delivery statuses that mean a partner has not heard yet.
WAITING = ("pending", "parked")


async def gauges(*, uow: UnitOfWork) -> list[Reading]:
    """Every live subscription's pending and parked deliveries (0 when none; a disabled
    subscription's while it has any), and the waiting notices by deadline."""
    session = uow.session
    counts = {
        (subscription, organisation, status): n
        for subscription, organisation, status, n in await repository.deliveries_waiting(
            session, WAITING
        )
    }
    for subscription, organisation in await repository.live_subscription_owners(session):
        for status in WAITING:
            counts.setdefault((subscription, organisation, status), 0)
    now = uow.now()
    missed, within_hour = await repository.notices_at_risk(
        session, now=now, soon=now + AT_RISK_WITHIN
    )
    return [
        *(
            DELIVERIES.reading(n, subscription_id=s, organisation=o, status=status)
            for (s, o, status), n in sorted(counts.items())
        ),
        ENCOMPASS_AT_RISK.reading(missed, deadline="passed"),
        ENCOMPASS_AT_RISK.reading(within_hour, deadline="within_hour"),
    ]
