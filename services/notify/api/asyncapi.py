"""The AsyncAPI document, for partners who read Signpost's Kafka topics directly."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shared.asyncapi import asyncapi_document
from shared.auth import NO_KEY

router = APIRouter(prefix="/v1", tags=["notify"])


@router.get(
    "/asyncapi.json",
    openapi_extra=NO_KEY,
    summary="AsyncAPI 3.0 description of Signpost's Kafka topics (for partners on Kafka)",
)
async def asyncapi() -> dict[str, Any]:
    return asyncapi_document()
