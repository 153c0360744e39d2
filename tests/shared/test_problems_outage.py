"""Which errors of a request are an outage of a dependency (503 problem+json with
Retry-After, told to the app's outage log, no traceback) and which are a fault (500).
The real database outage is tested end to end in tests/e2e/test_db_outage.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, PendingRollbackError

from shared.problems import RETRY_AFTER_SECONDS, install_problem_handlers


class DriverError(Exception):
    """What a driver attaches to SQLAlchemy's error: PostgreSQL's SQLSTATE."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class CommitFails:
    """A dependency that, like the unit of work, does its work after the route returned."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self) -> AsyncIterator[None]:
        yield
        raise self.error


def _lost_then_rollback_fails() -> None:
    try:
        raise InterfaceError("COMMIT", {}, DriverError(None), connection_invalidated=True)
    except InterfaceError:
        raise PendingRollbackError("cannot reconnect until rolled back") from None


# Module-level: the routes' annotations are strings resolved in this module's globals.
commit_lost = CommitFails(ConnectionRefusedError(111, "refused"))
commit_bug = CommitFails(IntegrityError("COMMIT", {}, DriverError("23505")))

ERRORS: dict[str, Exception] = {
    "refused": ConnectionRefusedError(111, "Connect call failed"),
    "reset": ConnectionResetError(104, "reset by peer"),
    "several-addresses": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
    "starting-up": OperationalError("SELECT 1", {}, DriverError("57P03")),
    "lost": InterfaceError("INSERT", {}, DriverError(None), connection_invalidated=True),
    "timeout": TimeoutError(),
    "integrity": IntegrityError("INSERT", {}, DriverError("23505")),
    "missing-file": FileNotFoundError("policy.json"),
    "bug": ValueError("a bug"),
}


@pytest.fixture
def app_and_outages() -> tuple[FastAPI, list[BaseException]]:
    outages: list[BaseException] = []
    app = FastAPI()
    install_problem_handlers(app, on_outage=outages.append)
    router = APIRouter()

    @router.get("/raise/{name}")
    async def raises(name: str) -> None:
        raise ERRORS[name]

    @router.get("/rollback-after-lost")
    async def rollback_after_lost() -> None:
        _lost_then_rollback_fails()

    @router.post("/commit-lost")
    async def commit_lost_route(
        _unit: Annotated[None, Depends(commit_lost, scope="function")],
    ) -> dict[str, str]:
        return {"stored": "not yet"}

    @router.post("/commit-bug")
    async def commit_bug_route(
        _unit: Annotated[None, Depends(commit_bug, scope="function")],
    ) -> dict[str, str]:
        return {"stored": "not yet"}

    app.include_router(router)
    return app, outages


async def _call(app: FastAPI, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path)


def _assert_dependency_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    body = answer.json()
    assert body["type"].endswith("/dependency-unavailable")
    assert body["status"] == 503
    assert "traceback" not in answer.text


@pytest.mark.parametrize(
    "name", ["refused", "reset", "several-addresses", "starting-up", "lost", "timeout"]
)
async def test_an_outage_met_by_a_route_is_a_503_with_retry_after_and_told_once_to_the_log(
    app_and_outages: tuple[FastAPI, list[BaseException]],
    name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, outages = app_and_outages
    with caplog.at_level(logging.INFO):
        answer = await _call(app, "GET", f"/raise/{name}")
    _assert_dependency_unavailable(answer)
    assert outages == [ERRORS[name]]
    # The app's outage log says it (once per outage); no per-request error line here.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_outage_at_commit_after_the_route_returned_is_a_503(
    app_and_outages: tuple[FastAPI, list[BaseException]],
) -> None:
    app, outages = app_and_outages
    _assert_dependency_unavailable(await _call(app, "POST", "/commit-lost"))
    assert len(outages) == 1


async def test_an_error_cleaning_up_after_a_lost_connection_is_still_the_outage(
    app_and_outages: tuple[FastAPI, list[BaseException]],
) -> None:
    app, outages = app_and_outages
    _assert_dependency_unavailable(await _call(app, "GET", "/rollback-after-lost"))
    assert len(outages) == 1


@pytest.mark.parametrize("name", ["integrity", "missing-file", "bug"])
async def test_an_error_that_is_no_outage_is_a_500_with_its_traceback_logged(
    app_and_outages: tuple[FastAPI, list[BaseException]],
    name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, outages = app_and_outages
    with caplog.at_level(logging.ERROR, logger="shared.problems"):
        answer = await _call(app, "GET", f"/raise/{name}")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in answer.headers
    assert outages == []
    [logged] = [r for r in caplog.records if r.name == "shared.problems"]
    assert logged.exc_info is not None


async def test_a_failed_commit_that_is_no_outage_is_a_500(
    app_and_outages: tuple[FastAPI, list[BaseException]],
) -> None:
    app, outages = app_and_outages
    assert (await _call(app, "POST", "/commit-bug")).status_code == 500
    assert outages == []


async def test_without_an_outage_log_the_app_logs_an_outage_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/down")
    async def down() -> None:
        raise ConnectionRefusedError(111, "refused")

    with caplog.at_level(logging.WARNING, logger="shared.problems"):
        for _ in range(20):
            _assert_dependency_unavailable(await _call(app, "GET", "/down"))
    assert len([r for r in caplog.records if r.name == "shared.problems"]) == 1
