"""App factories the benchmark runs under `uvicorn --factory` in a subprocess.

- `intake_app`: the real intake service alone, configured from the environment
  (`shared.settings.Settings()`), exactly as `signpost serve intake` builds it (its
  start-up heap frozen once it is up: `shared.runtime.settle_heap`).
- `bare_app`: a FastAPI endpoint that only validates the same body
  (`shared.report.ConcernReport`) and answers 202: the baseline intake is compared to,
  its heap frozen the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.report import ConcernReport
from shared.runtime import settle_heap


def intake_app() -> FastAPI:
    from services.apps import service_app
    from shared.logging import configure_logging
    from shared.settings import Settings

    # As `signpost serve` does: JSON logs (with error types) on stderr, warnings and up.
    configure_logging("WARNING")
    return service_app("intake", Settings(), on_started=settle_heap)


def bare_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await settle_heap(app)
        yield

    app = FastAPI(title="bare validation baseline", lifespan=lifespan)

    @app.post("/v1/reports", status_code=202)
    async def submit(report: ConcernReport) -> dict[str, str]:
        return {"status": "received", "reference": report.source.reference}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app
