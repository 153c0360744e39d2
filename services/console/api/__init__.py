"""The console's web pages (server-rendered, under /console/). HTTP only: each page
resumes the person's session in one unit of work and reads or acts through the
services' APIs as that person (`gateway.Services`, through `web.services`)."""

from fastapi import APIRouter

from services.console.api.admin import router as admin
from services.console.api.child import router as child
from services.console.api.dashboard import router as dashboard
from services.console.api.notices import router as notices
from services.console.api.oidc import router as oidc
from services.console.api.pages import router as pages
from services.console.api.policies import router as policies
from services.console.api.preferences import router as preferences
from services.console.api.queue import router as queue
from services.console.api.referral import router as referral
from services.console.api.reports import router as reports

router = APIRouter(include_in_schema=False)
router.include_router(pages)
router.include_router(oidc)
router.include_router(queue)
router.include_router(referral)
router.include_router(reports)
router.include_router(notices)
router.include_router(admin)
router.include_router(preferences)
router.include_router(child)
router.include_router(dashboard)
router.include_router(policies)
