"""The integrators' worked examples (`examples/integrators/`), their functions run
against a whole embedded Signpost: the police RMS and the school MIS with the sync
client over HTTP, the partner agency's receiver in process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from signpost_client import ROUTED, Journey, Notice, RoutingRecord
from standardwebhooks import Webhook

from examples.integrators import partner_agency, police_rms, school_mis
from tests.clients import DEMO_AGENCY, DEMO_SCHOOL, START, embedded, example, polled, school_report


@pytest.mark.app
async def test_the_police_rms_posts_a_report_and_follows_it_until_routed(tmp_path: Path) -> None:
    async with embedded(tmp_path / "var", serve=True) as sp:
        client = await sp.sync_client("police", "demo-police")
        said: list[str] = []
        report = example("statutory-report")

        def run() -> tuple[Journey, Journey]:
            with client:
                first = police_rms.post_and_follow(
                    client, report, interval=0.05, timeout=20, say=said.append
                )
                again = police_rms.post_and_follow(
                    client, report, interval=0.05, timeout=20, say=said.append
                )
                return first, again

        first, again = await asyncio.to_thread(run)
    assert first.status == "routed" and first.destination is not None
    assert first.destination.kind == "mash"
    assert said[0] == f"{first.referral_id}: received"
    steps = [line for line in said if line.startswith("  ")]
    assert [line.split()[2] for line in steps[:3]] == ["received:", "triaged:", "routed:"]
    assert f"{first.referral_id}: routed to {first.destination.name}." in "\n".join(said)
    # Run again: the same Idempotency-Key replays the first answer; no second report.
    assert again.referral_id == first.referral_id
    assert f"{first.referral_id}: already posted (the first answer, replayed)" in said


def test_the_police_rms_key_is_the_same_for_a_retry_and_new_for_a_changed_report() -> None:
    report = example("statutory-report")
    changed = {**report, "narrative": "Updated after a second visit."}
    key = police_rms.idempotency_key(report)
    assert key == police_rms.idempotency_key(example("statutory-report"))
    assert key.startswith("DP-2026-004502-") and key != police_rms.idempotency_key(changed)


def test_the_school_mis_splits_a_csv_into_parts_counting_records_not_lines() -> None:
    data = b'a,b\n1,"two\nlines"\n3,4\n5,6\n'
    parts = list(school_mis.parts(data, 2))
    assert [(before, count) for before, count, _ in parts] == [(0, 2), (2, 1)]
    assert parts[0][2] == b'a,b\n1,"two\nlines"\n3,4\n'


@pytest.mark.app
async def test_the_school_mis_reports_rejected_rows_by_file_row_and_acknowledges_notices(
    tmp_path: Path,
) -> None:
    async with embedded(tmp_path / "var", serve=True) as sp:
        police = await sp.client("police", "demo-police")
        raised = await police.submit_report(example("police-domestic-abuse-report"))
        school_api = await sp.client("school", DEMO_SCHOOL)

        async def notice() -> list[Notice]:
            return await school_api.notices(referral_id=raised.referral_id)

        await polled(notice)
        client = await sp.sync_client("school", DEMO_SCHOOL)
        said: list[str] = []

        def run() -> tuple[school_mis.Sent, list[Notice]]:
            with client:
                sent = school_mis.send_csv(
                    client, school_mis.demo_csv(), rows_per_request=2, say=said.append
                )
                acknowledged = school_mis.acknowledge_todays_notices(
                    client, today=START.date(), say=said.append
                )
                return sent, acknowledged

        sent, acknowledged = await asyncio.to_thread(run)
        [after] = await school_api.notices(referral_id=raised.referral_id)
        await police.aclose()
        await school_api.aclose()

    assert said[:2] == [
        "rows 1-2 of 3 sent: 2 accepted, 0 rejected",
        "rows 3-3 of 3 sent: 0 accepted, 1 rejected",
    ]
    assert sent.rows == 3 and len(sent.accepted) == 2
    # The third report is the file's row 4 (the header is row 1), wherever the part began.
    assert [(r.file_row, r.field) for r in sent.rejected] == [(4, "child.address.postcode")]
    assert any(line.startswith("  row 4, child.address.postcode: ") for line in said)
    assert [n.referral_id for n in acknowledged] == [raised.referral_id]
    # Acknowledged after the school day began (START is Monday 09:00): late, but had.
    assert after.status == "notified_late" and after.notified_via == "acknowledged"
    assert "1 notice(s) acknowledged" in said


# ------------------------------------------------------------------ the partner agency

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


def routed_event(record: RoutingRecord) -> bytes:
    """The `referral.routed` delivery body an agency receives (its sharing-policy fields)."""
    data: dict[str, Any] = {
        "referral_id": record.referral_id,
        "destination": {
            "kind": record.destination.kind,
            "id": record.destination.id,
            "organisation": record.destination.organisation,
            "name": record.destination.name,
        },
        "level": record.level,
        "priority": record.priority,
        "reason_codes": record.reason_codes,
        "routed_at": record.routed_at.isoformat(),
        "respond_by": record.respond_by.isoformat() if record.respond_by else None,
    }
    body = {"type": ROUTED, "timestamp": record.routed_at.isoformat(), "data": data}
    return json.dumps(body).encode()


def signed(body: bytes, webhook_id: str, secret: str = SECRET) -> dict[str, str]:
    """Standard Webhooks headers, signed now (the receiver checks the timestamp against
    its own clock)."""
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body.decode()),
    }


@pytest.mark.app
async def test_the_partner_agency_accepts_a_signed_routed_referral_and_refuses_a_forged_one(
    tmp_path: Path,
) -> None:
    async with embedded(tmp_path / "var") as sp:
        school = await sp.client("school", DEMO_SCHOOL)
        agency = await sp.client("agency", DEMO_AGENCY)
        first = await school.submit_report(school_report("CPOMS-A1", "Leo", "2014-09-02"))
        second = await school.submit_report(
            school_report("CPOMS-A2", "Ava", "2013-03-12", "Jones", "EX1 2AB")
        )

        async def routed_here(referral_id: str) -> RoutingRecord | None:
            listed = {r.referral_id for r in await agency.referrals(status="requested")}
            return await agency.routing(referral_id) if referral_id in listed else None

        one = await polled(lambda: routed_here(first.referral_id))
        two = await polled(lambda: routed_here(second.referral_id))
        said: list[str] = []

        async def deliver(app_full: bool, body: bytes, headers: dict[str, str]) -> int:
            app = partner_agency.receiver(
                agency, secret=SECRET, organisation=DEMO_AGENCY, full=app_full, say=said.append
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://agency") as hook:
                answer = await hook.post("/webhooks", content=body, headers=headers)
            return answer.status_code

        body = routed_event(one)
        forged = body.replace(b'"level": ', b'"level": 1', 1)
        assert await deliver(False, forged, signed(body, "msg_1")) == 401
        other_secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        assert await deliver(False, body, signed(body, "msg_1", other_secret)) == 401
        assert (await agency.routing(first.referral_id)).status == "requested"

        assert await deliver(False, body, signed(body, "msg_1")) == 204
        assert (await agency.routing(first.referral_id)).status == "accepted"
        # The same delivery again (a retry): already answered, still a success.
        assert await deliver(False, body, signed(body, "msg_1")) == 204
        assert (await agency.routing(first.referral_id)).status == "accepted"

        full = routed_event(two)
        assert await deliver(True, full, signed(full, "msg_2")) == 204

        # Declined, it went back to the hub at once: the school sees it declined.
        async def declined() -> bool:
            journey = (await school.report(second.referral_id)).journey
            return "rejected" in [step.status for step in journey]

        await polled(declined)

        # Delivered again: the hub has it now; nothing to do, still a success.
        assert await deliver(True, full, signed(full, "msg_2")) == 204

        # Another organisation's referral is none of this receiver's business.
        elsewhere = full.replace(DEMO_AGENCY.encode(), b"demoshire-camhs")
        assert await deliver(False, elsewhere, signed(elsewhere, "msg_3")) == 204
        await school.aclose()
        await agency.aclose()

    assert said[0].startswith("rejected a delivery: ") and said[1].startswith("rejected")
    assert said[2] == f"{first.referral_id}: accepted"
    assert said[3].startswith(f"{first.referral_id}: nothing to do")
    assert said[4].startswith(f"{second.referral_id}: declined (no_capacity), now with ")
    assert said[5].startswith(f"{second.referral_id}: nothing to do")
    assert len(said) == 6


def test_a_routed_event_is_for_the_agency_only_when_addressed_to_its_organisation() -> None:
    event = {
        "type": ROUTED,
        "data": {"referral_id": "ref_1", "destination": {"organisation": DEMO_AGENCY}},
    }
    assert partner_agency.addressed_to(event, DEMO_AGENCY) == "ref_1"
    assert partner_agency.addressed_to(event, "demoshire-camhs") is None
    status = {**event, "type": "org.signpost.referral.status.v1"}
    assert partner_agency.addressed_to(status, DEMO_AGENCY) is None
