"""The Python client against a whole embedded Signpost: the async client in process,
the sync client over real HTTP (uvicorn); error mapping and webhook verification on
their own."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from signpost_client import (
    ROUTED,
    AsyncSignpostClient,
    BatchResult,
    Conflict,
    NotAllowed,
    NotFound,
    Notice,
    SignpostClient,
    SignpostError,
    Unavailable,
    ValidationFailed,
    WebhookRejected,
    verify_webhook,
)
from standardwebhooks import Webhook

from tests.clients import DEMO_AGENCY, DEMO_SCHOOL, START, embedded, example, polled, school_report

BEFORE_ROUTING = {"received", "triaged"}


async def routed(client: AsyncSignpostClient, referral_id: str) -> str:
    """Wait until the report is routed (or further on): its status."""

    async def status() -> str | None:
        journey = await client.report(referral_id)
        return None if journey.status in BEFORE_ROUTING else journey.status

    return await polled(status)


async def journey_reaches(client: AsyncSignpostClient, referral_id: str, status: str) -> None:
    """Wait until the referrer's journey has a `status` step (it follows routing's events)."""

    async def there() -> bool:
        return status in [step.status for step in (await client.report(referral_id)).journey]

    await polled(there)


async def requested_at_agency(agency: AsyncSignpostClient, referral_id: str) -> None:
    async def listed() -> bool:
        return referral_id in {r.referral_id for r in await agency.referrals(status="requested")}

    await polled(listed)


# ------------------------------------------------------------------ the async client


@pytest.mark.app
async def test_a_report_is_submitted_and_its_journey_followed_until_routed(
    tmp_path: Path,
) -> None:
    async with embedded(tmp_path / "var") as sp:
        police = await sp.client("police", "demo-police")
        report = example("statutory-report")
        receipt = await police.submit_report(report, idempotency_key="rms-4502")
        assert receipt.status == "received" and not receipt.replayed
        assert receipt.status_url.endswith(receipt.referral_id)

        assert await routed(police, receipt.referral_id) == "routed"
        journey = await police.report(receipt.referral_id)
        assert [step.status for step in journey.journey][:3] == ["received", "triaged", "routed"]
        assert journey.destination is not None and journey.destination.kind == "mash"
        assert journey.source_reference == report["source"]["reference"]
        assert journey.received_at == START

        again = await police.submit_report(report, idempotency_key="rms-4502")
        assert again.replayed and again.referral_id == receipt.referral_id
        with pytest.raises(Conflict) as reused:
            await police.submit_report(
                {**report, "narrative": "Changed."}, idempotency_key="rms-4502"
            )
        assert reused.value.status == 409
        await police.aclose()


@pytest.mark.app
async def test_errors_are_problem_documents_raised_by_their_broad_case(tmp_path: Path) -> None:
    async with embedded(tmp_path / "var") as sp:
        school = await sp.client("school", DEMO_SCHOOL)
        report = example("school-report")
        report["child"]["address"]["postcode"] = "NOT A POSTCODE"
        with pytest.raises(ValidationFailed) as invalid:
            await school.submit_report(report)
        assert invalid.value.status == 422
        assert "child.address.postcode" in invalid.value.fields
        assert invalid.value.errors[0].pointer == "/child/address/postcode"
        assert invalid.value.request_id

        with pytest.raises(ValidationFailed) as bad_filter:
            _ = [summary async for summary in school.reports(status="lost")]
        assert bad_filter.value.fields == ["status"]

        with pytest.raises(NotFound):
            await school.report("ref_0000000000000000")

        police_report = example("statutory-report")
        with pytest.raises(NotAllowed) as wrong_kind:
            await school.submit_report(police_report)
        assert wrong_kind.value.status == 403 and wrong_kind.value.type.endswith(
            "wrong-source-kind"
        )
        nobody = AsyncSignpostClient("http://signpost", "not-a-key", transport=sp.transport())
        with pytest.raises(NotAllowed) as no_key:
            await nobody.report("ref_0000000000000000")
        assert no_key.value.status == 401
        await nobody.aclose()
        await school.aclose()


@pytest.mark.app
async def test_an_agency_accepts_starts_and_closes_one_referral_and_declines_another(
    tmp_path: Path,
) -> None:
    async with embedded(tmp_path / "var") as sp:
        school = await sp.client("school", DEMO_SCHOOL)
        agency = await sp.client("agency", DEMO_AGENCY)
        first = await school.submit_report(school_report("CPOMS-1", "Leo", "2014-09-02"))
        second = await school.submit_report(
            school_report("CPOMS-2", "Ava", "2013-03-12", "Jones", "EX1 2AB")
        )
        for receipt in (first, second):
            await requested_at_agency(agency, receipt.referral_id)

        [listed] = [
            r for r in await agency.referrals("requested") if r.referral_id == first.referral_id
        ]
        assert listed.destination.organisation == DEMO_AGENCY
        assert listed.respond_by is not None and "accept" in listed.allowed_actions

        assert (await agency.accept(first.referral_id)).status == "accepted"
        assert (await agency.start(first.referral_id)).status == "in-progress"
        closed = await agency.close(
            first.referral_id, "completed", "got_help", note="Support given."
        )
        assert closed.status == "completed"
        await journey_reaches(school, first.referral_id, "completed")

        declined = await agency.decline(second.referral_id, "no_capacity", note="Full.")
        # Declined, it goes to the hub at once: the record answered is the hub's request.
        assert declined.destination.kind == "hub" and declined.status == "requested"
        assert "no_capacity" in [step.reason_code for step in declined.history]
        await journey_reaches(school, second.referral_id, "rejected")
        with pytest.raises(NotFound):  # now the hub's, no longer among the agency's
            await agency.accept(second.referral_id)
        with pytest.raises(Conflict):  # completed is final
            await agency.start(first.referral_id)

        subscription = await agency.subscribe("http://127.0.0.1:9/webhooks", [ROUTED])
        assert subscription.secret is not None and subscription.secret.startswith("whsec_")
        assert subscription.event_types == [ROUTED] and subscription.status == "active"
        await school.aclose()
        await agency.aclose()


@pytest.mark.app
async def test_a_school_lists_its_encompass_notices_and_acknowledges_one(tmp_path: Path) -> None:
    async with embedded(tmp_path / "var") as sp:
        police = await sp.client("police", "demo-police")
        school = await sp.client("school", DEMO_SCHOOL)
        receipt = await police.submit_report(example("police-domestic-abuse-report"))

        async def notice() -> list[Notice]:
            return await school.notices(referral_id=receipt.referral_id)

        [pending] = await polled(notice)
        assert pending.recipient_organisation == DEMO_SCHOOL
        # Received at START, Monday 09:00: past the school day's start (08:30), its deadline.
        assert pending.status == "missed" and pending.received_at == START
        await school.acknowledge_notice(pending.notice_id)
        [after] = await school.notices(referral_id=receipt.referral_id)
        assert after.status == "notified_late" and after.notified_via == "acknowledged"
        assert await school.notices(after=after.cursor) == []
        await police.aclose()
        await school.aclose()


@pytest.mark.app
async def test_the_vocabulary_is_typed_with_its_etag(tmp_path: Path) -> None:
    async with embedded(tmp_path / "var") as sp:
        school = await sp.client("school", DEMO_SCHOOL)
        vocabulary = await school.vocabulary()
        assert vocabulary.version == "2026-12-v2" and vocabulary.etag
        codes = {concern.code: concern for concern in vocabulary.concerns}
        assert codes["radicalisation"].pathway == "prevent"
        await school.aclose()


# ------------------------------------------------------------------ the sync client, over HTTP


@pytest.mark.app
async def test_the_sync_client_pages_every_report_once_and_numbers_csv_rows_as_the_file(
    tmp_path: Path,
) -> None:
    async with embedded(tmp_path / "var", serve=True) as sp:
        client = await sp.sync_client("school", DEMO_SCHOOL)

        def submit_and_list() -> tuple[list[str], list[str], list[str]]:
            with client:
                ids = [
                    client.submit_report(
                        school_report(f"CPOMS-P{n}", name, f"201{n}-01-0{n + 1}")
                    ).referral_id
                    for n, name in enumerate(["Ann", "Ben", "Cal", "Dee", "Eve"])
                ]
                paged = [summary.referral_id for summary in client.reports(limit=2)]
                one = [s.referral_id for s in client.reports(reference="CPOMS-P3", limit=1)]
                return ids, paged, one

        ids, paged, one = await asyncio.to_thread(submit_and_list)
        assert sorted(paged) == sorted(ids) and len(paged) == len(set(paged)) == 5
        assert one == [ids[3]]

        csv = (
            b"source.reference,reported_at,child.given_name,child.family_name,"
            b"child.date_of_birth,child.address.postcode,concerns\n"
            b"CSV-1,2026-11-26T15:05:00Z,Fay,Sample,2014-09-02,EX4 6PX,young_carer\n"
            b"CSV-2,2026-11-26T15:05:00Z,Gus,Sample,2014-09-02,NOWHERE,young_carer\n"
            b"CSV-3,2026-11-26T15:05:00Z,Hal,Sample,2014-09-02,EX4 6PX,not_a_code\n"
        )
        batch_client = await sp.sync_client("school", DEMO_SCHOOL)

        def batch() -> tuple[BatchResult, ValidationFailed]:
            with batch_client:
                result = batch_client.submit_batch_csv(csv, idempotency_key="mis-batch-1")
                try:
                    batch_client.submit_report({"source": {}})
                except ValidationFailed as exc:
                    return result, exc
                raise AssertionError("an empty report is not valid")

        result, error = await asyncio.to_thread(batch)
        assert result.rows == 3
        assert [(r.row, r.file_row) for r in result.accepted] == [(0, 2)]
        rejected = {r.file_row: r.errors[0].field for r in result.errors}
        assert rejected == {3: "child.address.postcode", 4: "concerns"}
        assert {"child", "concerns"} <= set(error.fields)


# ------------------------------------------------------------------ without an app


def problem_transport(status: int, headers: dict[str, str]) -> httpx.MockTransport:
    body = {"type": "https://signpost.example/problems/x", "title": "No", "status": status}
    return httpx.MockTransport(
        lambda request: httpx.Response(
            status, json=body, headers={"Content-Type": "application/problem+json", **headers}
        )
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, NotAllowed),
        (403, NotAllowed),
        (404, NotFound),
        (409, Conflict),
        (422, ValidationFailed),
        (429, Unavailable),
        (503, Unavailable),
        (413, SignpostError),
    ],
)
def test_each_error_status_raises_its_broad_case(status: int, cls: type[SignpostError]) -> None:
    client = SignpostClient("http://signpost", "key", transport=problem_transport(status, {}))
    with client, pytest.raises(cls) as raised:
        client.report("ref_1")
    assert type(raised.value) is cls and raised.value.status == status
    assert raised.value.title == "No" and raised.value.type.endswith("/x")


def test_retry_after_is_read_from_the_header() -> None:
    transport = problem_transport(429, {"Retry-After": "5"})
    with SignpostClient("http://signpost", "k", transport=transport) as client:
        with pytest.raises(Unavailable) as raised:
            client.submit_report({}, idempotency_key="x")
    assert raised.value.retry_after == 5.0


def test_the_key_is_sent_as_a_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    with SignpostClient("http://signpost", "sk_1", transport=httpx.MockTransport(answer)) as c:
        assert c.referrals(["requested", "accepted"], assigned_to="nobody") == []
    assert seen[0].headers["Authorization"] == "Bearer sk_1"
    assert seen[0].url.params.get_list("status") == ["requested", "accepted"]


def referral_row(referral_id: str) -> dict[str, object]:
    return {
        "referral_id": referral_id,
        "status": "requested",
        "level": 2,
        "priority": "green",
        "destination": {
            "kind": "agency",
            "id": "safe-homes",
            "organisation": "safe-homes",
            "name": "Safe Homes",
        },
        "respond_by": "2026-12-02T09:00:00Z",
        "routed_at": "2026-11-30T09:00:00Z",
        "updated_at": None,
        "reason_code": None,
        "allowed_actions": ["accept", "decline"],
    }


@pytest.mark.parametrize("kind", ["referrals", "notices"])
def test_a_list_is_read_to_its_last_page_by_following_each_link(kind: str) -> None:
    seen: list[httpx.URL] = []
    path = {"referrals": "/v1/referrals", "notices": "/v1/encompass/notices"}[kind]
    second = f"{path}?cursor=abc&limit=1&status=requested"

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if len(seen) == 1:
            return httpx.Response(
                200, json=[ROW[kind]("one")], headers={"Link": f'<{second}>; rel="next"'}
            )
        return httpx.Response(200, json=[ROW[kind]("two")])

    with SignpostClient("http://signpost", "k", transport=httpx.MockTransport(answer)) as c:
        listed = getattr(c, kind)(status="requested", limit=1)

    assert [getattr(row, ID[kind]) for row in listed] == ["one", "two"]
    assert [str(url) for url in seen[1:]] == [f"http://signpost{second}"]


def notice_row(notice_id: str) -> dict[str, object]:
    return {
        "notice_id": notice_id,
        "cursor": 1,
        "referral_id": "ref_1",
        "referrer_organisation": "demo-police",
        "recipient_organisation": "100002",
        "recipient_kind": "school",
        "school_urn": "100002",
        "received_at": "2026-11-30T09:00:00Z",
        "notify_by": "2026-11-30T09:00:00Z",
        "status": "pending",
        "notified_at": None,
        "notified_via": None,
    }


ROW = {"referrals": referral_row, "notices": notice_row}
ID = {"referrals": "referral_id", "notices": "notice_id"}


SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", now, body.decode()),
    }


def test_verify_webhook_accepts_a_correctly_signed_body() -> None:
    body = json.dumps({"type": ROUTED, "timestamp": "t", "data": {"referral_id": "ref_1"}})
    event = verify_webhook(SECRET, body.encode(), signed(body.encode()))
    assert event["data"]["referral_id"] == "ref_1"


def test_verify_webhook_rejects_a_tampered_body_a_wrong_secret_and_missing_headers() -> None:
    body = b'{"type": "org.signpost.referral.routed.v1", "data": {"referral_id": "ref_1"}}'
    headers = signed(body)
    with pytest.raises(WebhookRejected):
        verify_webhook(SECRET, body.replace(b"ref_1", b"ref_2"), headers)
    other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with pytest.raises(WebhookRejected):
        verify_webhook(other, body, headers)
    with pytest.raises(WebhookRejected):
        verify_webhook(SECRET, body, {"webhook-id": "msg_1"})
    with pytest.raises(WebhookRejected):
        verify_webhook(SECRET, body, {**headers, "webhook-signature": "garbage"})
