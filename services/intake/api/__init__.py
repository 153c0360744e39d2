"""Intake's REST API: the front door for police and school systems (`reports`), and the
claim check through which partners read the reports sent to them (`partners`)."""

from fastapi import APIRouter

from services.intake.api.partners import router as partners_router
from services.intake.api.reports import router as reports_router

router = APIRouter()
router.include_router(reports_router)
router.include_router(partners_router)
