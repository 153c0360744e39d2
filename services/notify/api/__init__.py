"""Notify's REST API: webhook subscriptions and their deliveries, for the caller's own
organisation only (anything belonging to another organisation is a 404); Operation
Encompass notices; and the AsyncAPI document of the partner-facing topics."""

from fastapi import APIRouter

from services.notify.api.asyncapi import router as asyncapi
from services.notify.api.deliveries import router as deliveries
from services.notify.api.dependencies import UoW
from services.notify.api.encompass import router as encompass
from services.notify.api.subscriptions import router as subscriptions
from services.notify.service import measures
from shared.measures import measures_router

router = APIRouter()
for part in (subscriptions, deliveries, asyncapi, encompass):
    router.include_router(part)
router.include_router(measures_router("notify", UoW, measures.measures), prefix="/v1")
