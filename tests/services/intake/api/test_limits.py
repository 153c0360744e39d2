"""Intake's guards: who may submit for whom, body sizes and per-client rate limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from services.intake.api.limits import TokenBuckets
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


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate_per_minute=60, burst=2, clock=lambda: now[0])
    assert buckets.take("a") == 0 and buckets.take("a") == 0
    assert buckets.take("a") == 1.0  # one token per second
    now[0] = 0.5
    assert buckets.take("a") == 0.5
    now[0] = 100.0  # a long pause refills only up to the burst
    assert [buckets.take("a") for _ in range(3)][:2] == [0, 0]
    assert buckets.take("b") == 0  # buckets are per client


def test_a_zero_rate_disables_the_limit() -> None:
    buckets = TokenBuckets(rate_per_minute=0, burst=1)
    assert all(buckets.take("a") == 0 for _ in range(1000))
