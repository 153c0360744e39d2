"""Intake's REST API: the front door for police and school systems (`reports`), the
claim check through which partners read the reports sent to them (`partners`), and
intake's share of the partnership measures (`GET /v1/measures`)."""

from fastapi import APIRouter

from services.intake import service
from services.intake.api.dependencies import UoW
from services.intake.api.partners import router as partners_router
from services.intake.api.reports import router as reports_router
from shared.measures import measures_router

router = APIRouter()
router.include_router(reports_router)
router.include_router(partners_router)
router.include_router(measures_router("intake", UoW, service.measures), prefix="/v1")
