"""The demo webhook sink as its own small app, for the distributed stack.

In embedded mode the sink is mounted inside the one process (see `services.apps`).
With `docker compose` it runs as its own container:

    uvicorn services.demo.sink_app:app --host 0.0.0.0 --port 8000

A subscription's signing secret is issued by notify when the subscription is
created (`POST /v1/subscriptions`), so the sink only verifies deliveries once it
is given that secret: set `DEMO_SINK_SECRET` to it and restart the sink. Without
it the sink answers 404 to deliveries, and `GET /demo/sink` lists nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from services.demo.sink import DemoSink, router
from shared.headers import install_security_headers


def create_app(secret: str | None = None, log_file: Path | None = None) -> FastAPI:
    """A FastAPI app serving `/demo/sink` (and `/healthz` for container health checks)."""
    app = FastAPI(title="Signpost demo webhook sink")
    app.include_router(router)
    # It shows what partners were sent (a school's Encompass notices: a child's details).
    install_security_headers(app)
    if secret:
        app.state.demo_sink = DemoSink(secret, log_file)

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _from_environment() -> FastAPI:
    log_file = os.environ.get("DEMO_SINK_LOG_FILE")
    return create_app(
        os.environ.get("DEMO_SINK_SECRET"),
        Path(log_file) if log_file else None,
    )


app = _from_environment()
