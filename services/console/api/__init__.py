"""The console's web pages (server-rendered, under /console/). HTTP only: each page
resumes the person's session in one unit of work and reads or acts through the
services' APIs as that person (`gateway.Services`, through `web.services`)."""

from fastapi import APIRouter

from services.console.api import pages, queue, referral, reports

router = APIRouter(include_in_schema=False)
for module in (pages, queue, referral, reports):
    router.include_router(module.router)
