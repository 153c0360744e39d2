"""What routing shows an operator at each scrape of /metrics (`shared.metrics`): the
statutory referrals that their destination (the MASH, or the hub it escalated to) has
neither accepted nor declined by their `respond_by`.

Read in a unit of work that is never committed, at its now (the service's clock).
"""

from __future__ import annotations

from services.routing import repository
from shared.metrics import Reading, ScrapedGauge
from shared.uow import UnitOfWork

STATUTORY_PAST_DEADLINE = ScrapedGauge(
    "signpost_routing_statutory_past_deadline",
    "Statutory referrals (red: the threshold policy's top level) still requested, "
    "neither accepted nor declined, past their respond_by.",
)
# The priority of the statutory level in every threshold policy (level 4 of 4, or 5 of 5).
STATUTORY_PRIORITY = "red"


async def gauges(*, uow: UnitOfWork) -> list[Reading]:
    """How many statutory referrals are past their response deadline now."""
    overdue = await repository.overdue_requests(
        uow.session, priority=STATUTORY_PRIORITY, now=uow.now()
    )
    return [STATUTORY_PAST_DEADLINE.reading(overdue)]
