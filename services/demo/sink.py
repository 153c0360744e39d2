"""A demo webhook receiver, so a newcomer can watch notifications arrive.

It verifies each delivery's Standard Webhooks signature with the `standardwebhooks`
library and keeps the last notifications in memory (and in a JSON-lines file).
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.auth import NO_KEY
from shared.settings import private_file

router = APIRouter(prefix="/demo/sink", tags=["demo"])


class DemoSink:
    def __init__(self, secret: str, log_file: Path | None = None, keep: int = 200) -> None:
        self.webhook = Webhook(secret)
        self.log_file = log_file
        if log_file is not None:
            # It keeps the demo school's Encompass notices: a child's details.
            private_file(log_file)
        self.received: deque[dict[str, Any]] = deque(maxlen=keep)

    def accept(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        payload: dict[str, Any] = self.webhook.verify(body, headers)
        entry = {"webhook_id": headers.get("webhook-id"), **payload}
        self.received.append(entry)
        if self.log_file is not None:
            with self.log_file.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")
        return entry


@router.post("/webhook", openapi_extra=NO_KEY, summary="Receives signed notifications (demo)")
async def receive(request: Request) -> JSONResponse:
    sink: DemoSink | None = getattr(request.app.state, "demo_sink", None)
    if sink is None:
        return JSONResponse({"detail": "demo sink not configured"}, status_code=404)
    try:
        sink.accept(await request.body(), dict(request.headers))
    except WebhookVerificationError:
        return JSONResponse({"detail": "bad signature"}, status_code=401)
    return JSONResponse({"ok": True})


@router.get("", openapi_extra=NO_KEY, summary="Notifications the demo sink received, newest last")
async def received(request: Request) -> list[dict[str, Any]]:
    sink: DemoSink | None = getattr(request.app.state, "demo_sink", None)
    return list(sink.received) if sink else []
