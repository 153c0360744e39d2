"""Routing's REST API: the agency directory (`directory`) and the referrals agencies
and the hub act on (`referrals`). HTTP only: each route authorises with a typed
dependency and calls one use case inside one unit of work."""

from fastapi import APIRouter

from services.routing.api import directory, referrals

router = APIRouter(prefix="/v1", tags=["routing"])
router.include_router(directory.router)
router.include_router(referrals.router)
