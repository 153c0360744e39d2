"""Intake's guards: who may submit for whom, body sizes and per-client rate limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import starlette.requests

from services.intake import strict_json
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example, police_key, school_key


async def test_a_school_may_submit_for_its_own_urn(signpost: Signpost) -> None:
    key = await school_key(signpost, "100001")
    r = await signpost.client.post(
        "/v1/reports", json=example("school-upn-report.json"), headers=bearer(key)
    )
    assert r.status_code == 202, r.text


async def test_a_school_may_not_submit_for_another_urn(signpost: Signpost) -> None:
    key = await school_key(signpost, "100002")
    r = await signpost.client.post(
        "/v1/reports", json=example("school-upn-report.json"), headers=bearer(key)
    )
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("wrong-organisation")


async def test_a_force_may_not_submit_for_another_force(signpost: Signpost) -> None:
    key = await police_key(signpost, "other-force")
    r = await signpost.client.post(
        "/v1/reports", json=example("police-domestic-abuse-report.json"), headers=bearer(key)
    )
    assert r.status_code == 403


async def test_a_school_key_cannot_read_a_force_report(signpost: Signpost) -> None:
    police = await police_key(signpost)
    school = await school_key(signpost)
    r = await signpost.client.post(
        "/v1/reports", json=example("police-report.json"), headers=bearer(police)
    )
    referral = r.json()["referral_id"]
    other = await signpost.client.get(f"/v1/reports/{referral}", headers=bearer(school))
    assert other.status_code == 404


async def test_a_body_declared_over_the_limit_is_413_before_parsing(signpost_with: Any) -> None:
    async with signpost_with(intake_max_report_bytes=2048) as sp:
        key = await police_key(sp)
        body = b"{" + b" " * 4096  # not even JSON: refused on its size alone
        r = await sp.client.post(
            "/v1/reports",
            content=body,
            headers={**bearer(key), "content-type": "application/json"},
        )
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["max_bytes"] == 2048


async def test_a_streamed_body_over_the_limit_is_413(signpost_with: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    async with signpost_with(intake_max_report_bytes=2048) as sp:
        key = await police_key(sp)
        r = await sp.client.post(
            "/v1/reports",
            content=chunks(),  # no Content-Length: the bytes are counted as they arrive
            headers={**bearer(key), "content-type": "application/json"},
        )
        assert r.status_code == 413


async def test_a_report_under_the_limit_is_accepted(signpost_with: Any) -> None:
    async with signpost_with(intake_max_report_bytes=4096) as sp:
        key = await police_key(sp)
        r = await sp.client.post(
            "/v1/reports", json=example("police-report.json"), headers=bearer(key)
        )
        assert r.status_code == 202


async def test_a_batch_has_its_own_larger_limit(signpost_with: Any) -> None:
    async with signpost_with(intake_max_report_bytes=1024, intake_max_batch_bytes=8192) as sp:
        key = await police_key(sp)
        batch = json.dumps([example("police-domestic-abuse-report.json")]).encode()
        assert 1024 < len(batch) < 8192
        ok = await sp.client.post(
            "/v1/reports/batch",
            content=batch,
            headers={**bearer(key), "content-type": "application/json"},
        )
        assert ok.status_code == 200
        big = await sp.client.post(
            "/v1/reports/batch",
            content=b"[" + b" " * 9000 + b"]",
            headers={**bearer(key), "content-type": "application/json"},
        )
        assert big.status_code == 413


async def test_a_client_over_its_rate_limit_gets_429_with_retry_after(signpost_with: Any) -> None:
    async with signpost_with(intake_rate_per_minute=6, intake_burst=2) as sp:
        key = await police_key(sp)
        first, second, third = [
            await sp.client.get("/v1/reports/ref_unknown", headers=bearer(key)) for _ in range(3)
        ]
        assert (first.status_code, second.status_code) == (404, 404)
        assert third.status_code == 429
        assert third.headers["content-type"] == "application/problem+json"
        assert 1 <= int(third.headers["retry-after"]) <= 10
        # Another client is not held back by the first one's use.
        other = await police_key(sp)
        assert (await sp.client.get("/v1/reports/ref_x", headers=bearer(other))).status_code == 404


async def test_the_rate_limit_applies_to_submissions(signpost_with: Any) -> None:
    async with signpost_with(intake_rate_per_minute=1, intake_burst=1) as sp:
        key = await police_key(sp)
        ok = await sp.client.post(
            "/v1/reports", json=example("police-report.json"), headers=bearer(key)
        )
        limited = await sp.client.post(
            "/v1/reports", json=example("statutory-report.json"), headers=bearer(key)
        )
        assert ok.status_code == 202 and limited.status_code == 429
        assert int(limited.headers["retry-after"]) == 60


async def test_a_json_report_is_parsed_once_and_strictly(
    signpost: Signpost, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []

    class Counting:
        """json for Starlette's Request.json(): counts the parses FastAPI asks for."""

        @staticmethod
        def loads(text: Any) -> Any:
            parsed.append("starlette")
            return json.loads(text)

    strict_loads = strict_json.loads

    def counted(body: bytes | str) -> Any:
        parsed.append("strict")
        return strict_loads(body)

    monkeypatch.setattr(starlette.requests, "json", Counting)
    monkeypatch.setattr(strict_json, "loads", counted)
    key = await police_key(signpost)
    r = await signpost.client.post(
        "/v1/reports", json=example("police-report.json"), headers=bearer(key)
    )
    assert r.status_code == 202, r.text
    assert parsed == ["strict"]


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.report+json"])
async def test_a_report_giving_a_key_twice_is_400_for_every_json_content_type(
    signpost: Signpost, content_type: str
) -> None:
    key = await police_key(signpost)
    body = json.dumps(example("police-report.json"))
    twice = body.replace('"immediate_risk"', '"immediate_risk": true, "immediate_risk"', 1)
    r = await signpost.client.post(
        "/v1/reports",
        content=twice.encode(),
        headers={**bearer(key), "content-type": content_type},
    )
    assert r.status_code == 400, r.text
    assert r.json()["pointer"] == "/immediate_risk"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_report_body_that_is_not_declared_json_is_refused_as_before(
    signpost: Signpost, content_type: str
) -> None:
    key = await police_key(signpost)
    body = json.dumps(example("police-report.json"))
    twice = body.replace('"immediate_risk"', '"immediate_risk": true, "immediate_risk"', 1)
    r = await signpost.client.post(
        "/v1/reports",
        content=twice.encode(),
        headers={**bearer(key), "content-type": content_type},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
