"""Faults are debuggable without leaking a child's details: a whole traceback, redacted."""

from __future__ import annotations

import json
import logging

import httpx
from fastapi import APIRouter, FastAPI

from shared.logging import JsonFormatter, redacted_traceback
from shared.problems import install_problem_handlers

CHILD = "Maya Example, born 2016-03-04"


def _raise_nested() -> None:
    try:
        {"given_name": "Maya"}["family_name"]
    except KeyError as exc:
        raise ValueError(f"could not store {CHILD}") from exc


def _caught() -> BaseException:
    try:
        _raise_nested()
    except ValueError as exc:
        return exc
    raise AssertionError("expected an error")


def test_a_traceback_names_every_frame_and_error_class_of_the_chain_but_no_message() -> None:
    lines = redacted_traceback(_caught())
    text = "\n".join(lines)
    assert "in _raise_nested" in text and "in _caught" in text
    assert "builtins.KeyError" in text and "builtins.ValueError" in text
    assert text.index("builtins.KeyError") < text.index("which led to:")
    assert "Maya" not in text.replace('{"given_name": "Maya"}', "")  # the source line only
    assert CHILD not in text


def test_the_json_formatter_logs_the_redacted_traceback_of_an_error() -> None:
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "failed", None, (ValueError, _caught(), None)
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["error"] == "ValueError"
    assert any("in _raise_nested" in line for line in entry["traceback"])
    assert CHILD not in json.dumps(entry)


async def test_an_unexpected_error_is_a_500_problem_whose_log_has_the_request_id_and_traceback(
    caplog,
) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        _raise_nested()

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.ERROR, logger="shared.problems"):
            answer = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["request_id"] == "req-42" and CHILD not in answer.text
    [logged] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    entry = json.loads(JsonFormatter().format(logged))
    assert entry["request_id"] == "req-42" and entry["path"] == "/boom"
    assert any("in boom" in line for line in entry["traceback"])
    assert CHILD not in json.dumps(entry)


async def test_every_answer_carries_a_request_id_and_a_hostile_one_is_replaced() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        given = await client.get("/missing", headers={"X-Request-ID": "abc-1"})
        hostile = await client.get("/missing", headers={"X-Request-ID": "a b;<script>"})
    assert given.headers["X-Request-ID"] == "abc-1"
    assert hostile.headers["X-Request-ID"] != "a b;<script>"
    assert len(hostile.headers["X-Request-ID"]) == 32
