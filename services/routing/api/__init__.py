"""Routing's REST API: the agency directory (`directory`), the referrals agencies and
the hub act on (`referrals`), routing's half of a policy simulation (`simulations`),
and routing's share of the partnership measures. HTTP only: each route authorises
with a typed dependency and calls one use case inside one unit of work."""

from fastapi import APIRouter

from services.routing.api import directory, referrals, simulations
from services.routing.api.dependencies import UoW
from services.routing.service import measures
from shared.measures import measures_router

router = APIRouter(prefix="/v1", tags=["routing"])
router.include_router(directory.router)
router.include_router(referrals.router)
router.include_router(simulations.router)
router.include_router(measures_router("routing", UoW, measures.measures))
