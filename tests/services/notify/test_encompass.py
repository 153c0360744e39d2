"""Operation Encompass through notify, on an embedded Signpost: a police domestic abuse
report reaches each child's school DSL as a signed webhook carrying what the sharing
policy allows; a school without a webhook reads (audited) and acknowledges through the
API; a notice with no way through, or not through by the start of the school day,
raises one alert to the hub and the police."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from services.notify.models import Delivery, EncompassNoticeRecord
from services.notify.notices import notice_body
from services.notify.sharing import load_policy, parse_policy
from shared.envelope import new_event
from shared.events import EncompassNotice, EventType
from shared.outbox import OutboxMessage
from shared.privacy import ReadAudit
from shared.runtime import ServiceContext
from tests.e2e.harness import WebhookSink
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example
from tests.services.notify.conftest import alert_missed, consume, mark_notified, remove_old_content

NOTICE = "org.signpost.encompass.notice.v1"
ALERT = "org.signpost.encompass.alert.v1"
# Saturday morning after Friday night's incident (23:05): both deadlines are Monday.
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
MAYA_DEADLINE = "2026-11-30T08:45:00Z"  # Demo Primary (100001) starts at 08:45
NOAH_DEADLINE = "2026-11-30T08:30:00Z"  # school 100002 keeps the area's 08:30


def notify_ctx(sp: Signpost) -> ServiceContext:
    ctx: ServiceContext = sp.app.state.runtimes["notify"].ctx
    return ctx


@dataclass
class Parties:
    school: WebhookSink  # Demo Primary's DSL (100001), subscribed to notices
    hub: WebhookSink  # the hub, subscribed to alerts
    police: WebhookSink  # the reporting force, subscribed to alerts
    school_secret: str
    hub_secret: str


async def subscribe(sp: Signpost, kind: str, org: str, url: str, *types: str) -> str:
    key = await sp.key(kind, org, "subscriptions:write")
    r = await sp.client.post(
        "/v1/subscriptions", headers=bearer(key), json={"url": url, "event_types": list(types)}
    )
    assert r.status_code == 201, r.text
    secret: str = r.json()["secret"]
    return secret


@pytest.fixture
async def parties(signpost: Signpost) -> AsyncIterator[Parties]:
    signpost.clock.set(SATURDAY)
    async with WebhookSink() as school, WebhookSink() as hub, WebhookSink() as police:
        yield Parties(
            school=school,
            hub=hub,
            police=police,
            school_secret=await subscribe(signpost, "school", "100001", school.url, NOTICE),
            hub_secret=await subscribe(signpost, "hub", "demoshire-hub", hub.url, ALERT),
        )


async def report(sp: Signpost, body: dict[str, Any] | None = None) -> str:
    police = await sp.key("police", "demo-police", "reports:write")
    r = await sp.client.post(
        "/v1/reports",
        headers=bearer(police),
        json=body or example("police-domestic-abuse-report.json"),
    )
    assert r.status_code == 202, r.text
    referral_id: str = r.json()["referral_id"]
    return referral_id


async def notices(sp: Signpost) -> dict[str, EncompassNoticeRecord]:
    """Notify's notices by child's given name."""
    async with notify_ctx(sp).db.session() as session:
        rows = (await session.exec(select(EncompassNoticeRecord))).all()
    return {r.body["child"]["given_name"]: r for r in rows}


async def notified(sp: Signpost, name: str) -> EncompassNoticeRecord:
    """The child's notice once notify has recorded it as delivered (the partner's 2xx
    reaches the sink a moment before notify records it)."""
    async with asyncio.timeout(10):
        while (record := (await notices(sp)).get(name)) is None or record.notified_at is None:
            await asyncio.sleep(0.05)
    return record


async def notices_by_id(sp: Signpost) -> dict[str, EncompassNoticeRecord]:
    async with notify_ctx(sp).db.session() as session:
        return {r.id: r for r in (await session.exec(select(EncompassNoticeRecord))).all()}


def data_of(sink: WebhookSink, event_type: str) -> list[dict[str, Any]]:
    return [b["data"] for b in sink.bodies() if b["type"] == event_type]


async def test_the_school_dsl_gets_a_signed_notice_with_what_the_policy_allows(
    signpost: Signpost, parties: Parties
) -> None:
    referral_id = await report(signpost)
    await parties.school.wait_for(1, within=15)
    headers, body = parties.school.requests[0]
    Webhook(parties.school_secret).verify(body, headers)  # raises if the signature is wrong
    sent = json.loads(body)
    assert sent["type"] == NOTICE
    notice = sent["data"]
    assert notice["referral_id"] == referral_id
    assert notice["recipient_organisation"] == notice["school_urn"] == "100001"
    assert notice["notify_by"] == MAYA_DEADLINE
    assert notice["child"] == {
        "given_name": "Maya",
        "family_name": "Example",
        "date_of_birth": "2016-05-21",
        "present": True,
        "whereabouts": "elsewhere_in_the_home",
        "voice_of_the_child": "In her bedroom; heard the shouting and a door slam.",
    }
    assert notice["incident"]["police_reference"] == "DP-INC-2026-77120"
    assert notice["incident"]["occurred_at"] == "2026-11-27T23:05:00Z"
    # Never the narrative, the household, the officer or Noah (another school's pupil).
    text = body.decode()
    for absent in ("narrative", "arrested for assault", "Ruth", "Dan", "PC Sam", "Noah"):
        assert absent not in text
    # The delivery counts as the notice reaching the school.
    maya = await notified(signpost, "Maya")
    assert maya.notified_via == "webhook"


async def test_a_school_without_a_webhook_raises_an_alert_at_once(
    signpost: Signpost, parties: Parties
) -> None:
    police_secret = await subscribe(signpost, "police", "demo-police", parties.police.url, ALERT)
    referral_id = await report(signpost)
    # Noah's school (100002) has no subscription: hub and police hear now, not Monday.
    await parties.hub.wait_for(1, within=15)
    await parties.police.wait_for(1, within=15)
    [alert] = data_of(parties.hub, ALERT)
    assert alert == {
        "notice_id": (await notices(signpost))["Noah"].id,
        "referral_id": referral_id,
        "referrer_organisation": "demo-police",
        "recipient_organisation": "100002",
        "recipient_kind": "school",
        "school_urn": "100002",
        "reason": "no_subscription",
        "notify_by": NOAH_DEADLINE,
        "received_late": False,
        "notified_at": None,
        "raised_at": "2026-11-28T10:00:00Z",
    }
    headers, body = parties.police.requests[0]
    Webhook(police_secret).verify(body, headers)
    assert json.loads(body)["data"]["reason"] == "no_subscription"
    assert "Noah" not in body.decode() and "Maya" not in body.decode()  # ids only


async def test_a_missed_deadline_raises_one_alert_and_a_delivered_notice_none(
    signpost: Signpost, parties: Parties
) -> None:
    await report(signpost)
    await notified(signpost, "Maya")  # Maya's notice reached Demo Primary
    await parties.hub.wait_for(1, within=15)  # no_subscription for Noah
    ctx = notify_ctx(signpost)
    assert await alert_missed(ctx, now=datetime(2026, 11, 30, 8, 29, tzinfo=UTC)) == 0
    assert await alert_missed(ctx, now=datetime(2026, 11, 30, 8, 30, tzinfo=UTC)) == 1
    assert await alert_missed(ctx, now=datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == 0  # once
    await parties.hub.wait_for(2, within=15)
    reasons = [(a["recipient_organisation"], a["reason"]) for a in data_of(parties.hub, ALERT)]
    assert reasons == [("100002", "no_subscription"), ("100002", "deadline_missed")]


async def test_a_notice_delivered_after_the_deadline_raises_one_alert_saying_so(
    signpost: Signpost, parties: Parties
) -> None:
    body = example("police-domestic-abuse-report.json")
    body["source"]["reference"] = "DP-2026-LATE"
    body["police"]["occurred_at"] = "2026-11-20T23:05:00Z"  # deadline Monday 23rd
    del body["police"]["children_present"][1]  # Maya only: her school has a webhook
    await report(signpost, body)
    await notified(signpost, "Maya")  # delivered, on Saturday 28th: five days late
    await parties.hub.wait_for(1, within=15)
    [alert] = data_of(parties.hub, ALERT)
    assert alert["reason"] == "deadline_missed"
    assert alert["notify_by"] == "2026-11-23T08:45:00Z"
    assert alert["received_late"] is True  # the police report itself came late
    assert alert["notified_at"] == "2026-11-28T10:00:00Z"
    # Once: the deadline check finds nothing more to say.
    assert await alert_missed(notify_ctx(signpost), now=SATURDAY) == 0
    hub = await signpost.key("hub", "demoshire-hub", "encompass:read")
    [summary] = (await signpost.client.get("/v1/encompass/notices", headers=bearer(hub))).json()
    assert summary["status"] == "notified_late"
    late = await signpost.client.get(
        "/v1/encompass/notices?status=notified_late", headers=bearer(hub)
    )
    assert [n["notice_id"] for n in late.json()] == [summary["notice_id"]]


async def test_a_corrected_report_replaces_the_earlier_notice_which_raises_no_alert(
    signpost: Signpost, parties: Parties
) -> None:
    first = await report(signpost)
    await parties.hub.wait_for(1, within=15)  # no_subscription for Noah's school
    corrected = example("police-domestic-abuse-report.json")
    corrected["police"]["circumstances"] = "Corrected: a parent was arrested."
    second = await report(signpost, corrected)
    await parties.hub.wait_for(2, within=15)  # and for the corrected notice
    hub = await signpost.key("hub", "demoshire-hub", "encompass:read")
    listed = (await signpost.client.get("/v1/encompass/notices", headers=bearer(hub))).json()
    noah = {n["referral_id"]: n["status"] for n in listed if n["school_urn"] == "100002"}
    assert noah == {first: "superseded", second: "pending"}
    # After the bell only the corrected notice is missed.
    assert await alert_missed(notify_ctx(signpost), now=datetime(2026, 12, 1, tzinfo=UTC)) == 1
    await parties.hub.wait_for(3, within=15)
    missed = [a for a in data_of(parties.hub, ALERT) if a["reason"] == "deadline_missed"]
    assert [a["referral_id"] for a in missed] == [second]


async def test_a_school_polls_newest_first_and_from_where_it_left_off(
    signpost: Signpost, parties: Parties
) -> None:
    school = await signpost.key("school", "100002", "encompass:read")
    first = await report(signpost)
    await parties.hub.wait_for(1, within=15)
    [seen] = (await signpost.client.get("/v1/encompass/notices", headers=bearer(school))).json()
    corrected = example("police-domestic-abuse-report.json")
    corrected["police"]["circumstances"] = "Corrected."
    # Newest first is by when intake received each (then the notice id): a minute later.
    signpost.clock.advance(minutes=1)
    second = await report(signpost, corrected)
    await parties.hub.wait_for(2, within=15)
    listed = (await signpost.client.get("/v1/encompass/notices", headers=bearer(school))).json()
    assert [n["referral_id"] for n in listed] == [second, first]
    newer = await signpost.client.get(
        "/v1/encompass/notices", params={"after": seen["cursor"]}, headers=bearer(school)
    )
    assert [n["referral_id"] for n in newer.json()] == [second]
    bad = await signpost.client.get(
        "/v1/encompass/notices", params={"after": "yesterday"}, headers=bearer(school)
    )
    assert bad.status_code == 422


async def test_a_late_report_to_a_school_without_webhook_alerts_as_received_late(
    signpost: Signpost, parties: Parties
) -> None:
    body = example("police-domestic-abuse-report.json")
    body["police"]["occurred_at"] = "2026-11-20T23:05:00Z"
    del body["police"]["children_present"][0]
    body["child"]["school_urn"] = "100002"
    await report(signpost, body)
    await parties.hub.wait_for(2, within=15)  # no_subscription, for each
    assert await alert_missed(notify_ctx(signpost), now=SATURDAY) == 2  # Maya and Noah
    await parties.hub.wait_for(4, within=15)
    missed = [a for a in data_of(parties.hub, ALERT) if a["reason"] == "deadline_missed"]
    assert [a["received_late"] for a in missed] == [True, True]


async def test_a_school_reads_and_acknowledges_through_the_api_and_each_read_is_recorded(
    signpost: Signpost, parties: Parties
) -> None:
    await report(signpost)
    await parties.hub.wait_for(1, within=15)
    school = await signpost.key("school", "100002", "encompass:read", "encompass:acknowledge")
    listed = await signpost.client.get("/v1/encompass/notices", headers=bearer(school))
    assert listed.status_code == 200
    [summary] = listed.json()
    assert summary["status"] == "pending" and summary["notify_by"] == NOAH_DEADLINE
    assert "child" not in summary  # a list says nothing about the child

    read = await signpost.client.get(
        f"/v1/encompass/notices/{summary['notice_id']}", headers=bearer(school)
    )
    assert read.status_code == 200
    assert read.json()["notice"]["child"]["given_name"] == "Noah"
    assert "narrative" not in read.text

    ack = await signpost.client.post(
        f"/v1/encompass/notices/{summary['notice_id']}/acknowledge", headers=bearer(school)
    )
    assert ack.status_code == 200
    assert ack.json()["status"] == "notified" and ack.json()["notified_via"] == "acknowledged"
    for status, expected in (("notified", 1), ("pending", 0), ("missed", 0)):
        filtered = await signpost.client.get(
            f"/v1/encompass/notices?status={status}", headers=bearer(school)
        )
        assert len(filtered.json()) == expected, status
    # Acknowledged before the bell: no missed-deadline alert.
    assert await alert_missed(notify_ctx(signpost), now=datetime(2026, 12, 1, tzinfo=UTC)) == 0

    hub = await signpost.key("hub", "demoshire-hub", "encompass:read")
    reads = await signpost.client.get(
        f"/v1/encompass/notices/{summary['notice_id']}/reads", headers=bearer(hub)
    )
    [audit] = reads.json()
    assert audit["organisation"] == "100002" and audit["client_kind"] == "school"
    own_trail = await signpost.client.get(
        f"/v1/encompass/notices/{summary['notice_id']}/reads", headers=bearer(school)
    )
    assert own_trail.status_code == 403  # its notice, but the trail is the hub's
    assert "child.given_name" in audit["fields"] and "incident.location" in audit["fields"]


async def test_nobody_else_sees_a_notice_and_the_hub_sees_only_its_status(
    signpost: Signpost, parties: Parties
) -> None:
    await report(signpost)
    await parties.hub.wait_for(1, within=15)
    noah = (await notices(signpost))["Noah"]
    other = await signpost.key("school", "100003", "encompass:read", "encompass:acknowledge")
    assert (await signpost.client.get("/v1/encompass/notices", headers=bearer(other))).json() == []
    for r in (
        await signpost.client.get(f"/v1/encompass/notices/{noah.id}", headers=bearer(other)),
        await signpost.client.post(
            f"/v1/encompass/notices/{noah.id}/acknowledge", headers=bearer(other)
        ),
        await signpost.client.get(f"/v1/encompass/notices/{noah.id}/reads", headers=bearer(other)),
    ):
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")

    hub = await signpost.key("hub", "demoshire-hub", "encompass:read")
    listed = (await signpost.client.get("/v1/encompass/notices", headers=bearer(hub))).json()
    assert sorted(n["recipient_organisation"] for n in listed) == ["100001", "100002"]
    seen = await signpost.client.get(f"/v1/encompass/notices/{noah.id}", headers=bearer(hub))
    # The policy grants the hub nothing of a notice: ids only.
    assert seen.json()["notice"] == {"notice_id": noah.id, "referral_id": noah.referral_id}
    async with notify_ctx(signpost).db.session() as session:
        audit = (await session.exec(select(ReadAudit))).all()
    assert [(a.organisation, a.fields) for a in audit] == [
        ("demoshire-hub", ["notice_id", "referral_id"])
    ]
    # Without the scope, a 403 that names it.
    plain = await signpost.key("school", "100002", "reports:read")
    denied = await signpost.client.get("/v1/encompass/notices", headers=bearer(plain))
    assert denied.status_code == 403 and "encompass:read" in denied.text


async def test_a_home_educated_child_is_notified_to_the_local_authority(
    signpost: Signpost, parties: Parties
) -> None:
    async with WebhookSink() as council:
        await subscribe(signpost, "agency", "demoshire-council", council.url, NOTICE)
        body = example("police-domestic-abuse-report.json")
        noah = body["police"]["children_present"][1]
        del noah["school_urn"]
        noah["home_educated"] = True
        await report(signpost, body)
        await council.wait_for(1, within=15)
        [notice] = data_of(council, NOTICE)
    assert notice["child"]["given_name"] == "Noah"
    assert notice["home_educated"] is True and notice["school_urn"] is None
    assert notice["recipient_organisation"] == "demoshire-council"
    assert notice["notify_by"] == NOAH_DEADLINE


def _sample_notice() -> dict[str, Any]:
    return EncompassNotice.model_validate(
        {
            "notice_id": "enc_1",
            "referral_id": "ref_1",
            "referrer_organisation": "demo-police",
            "referrer_reference": "DP-1",
            "school_urn": "100001",
            "child": {
                "given_name": "Maya",
                "family_name": "Example",
                "date_of_birth": "2016-05-21",
                "present": True,
                "whereabouts": "same_room",
                "voice_of_the_child": "Said she was scared.",
            },
            "incident": {
                "police_reference": "INC-1",
                "occurred_at": "2026-11-27T23:05:00Z",
                "location": "Family home",
                "location_postcode": "EX2 5AB",
                "circumstances": "A parent was arrested.",
            },
            "received_at": "2026-11-27T23:55:00Z",
            "recipient_organisation": "100001",
            "notify_by": "2026-11-30T08:45:00Z",
        }
    ).model_dump(mode="json")


def test_the_shipped_policy_gives_a_school_the_encompass_fields_field_by_field() -> None:
    sent = load_policy(None).minimise("school", NOTICE, _sample_notice())
    assert sorted(sent) == [
        "child",
        "home_educated",
        "incident",
        "notice_id",
        "notify_by",
        "recipient_organisation",
        "referral_id",
        "referrer_organisation",
        "school_urn",
        "supersedes",
    ]
    assert sorted(sent["child"]) == [
        "date_of_birth",
        "family_name",
        "given_name",
        "present",
        "voice_of_the_child",
        "whereabouts",
    ]
    assert sorted(sent["incident"]) == [
        "circumstances",
        "location",
        "location_postcode",
        "occurred_at",
        "police_reference",
    ]
    assert "referrer_reference" not in sent  # the police's own case number stays with them


def test_an_area_that_sends_schools_no_incident_detail_sends_only_that_it_happened() -> None:
    policy = parse_policy(
        json.dumps(
            {
                "id": "strict",
                "version": "1",
                "area": "An area that shares the minimum",
                "kinds": {
                    "school": {
                        NOTICE: [
                            "school_urn",
                            "child.given_name",
                            "child.family_name",
                            "child.date_of_birth",
                            "child.present",
                            "incident.police_reference",
                            "incident.occurred_at",
                        ]
                    }
                },
            }
        )
    )
    notice = EncompassNotice.model_validate(_sample_notice())
    assert notice_body(notice, policy, "school") == {
        "notice_id": "enc_1",
        "referral_id": "ref_1",
        "school_urn": "100001",
        "child": {
            "given_name": "Maya",
            "family_name": "Example",
            "date_of_birth": "2016-05-21",
            "present": True,
        },
        "incident": {"police_reference": "INC-1", "occurred_at": "2026-11-27T23:05:00Z"},
    }
    # Any other kind of partner gets ids only from this policy.
    assert notice_body(notice, policy, "agency") == {"notice_id": "enc_1", "referral_id": "ref_1"}


async def test_the_reporting_force_sees_whether_each_school_was_told(
    signpost: Signpost, parties: Parties
) -> None:
    referral_id = await report(signpost)
    await notified(signpost, "Maya")
    force = await signpost.key("police", "demo-police", "encompass:read")
    r = await signpost.client.get(
        f"/v1/encompass/notices?referral_id={referral_id}", headers=bearer(force)
    )
    assert r.status_code == 200
    assert sorted((n["school_urn"], n["status"]) for n in r.json()) == [
        ("100001", "notified"),
        ("100002", "pending"),
    ]
    # Another force sees none of them; the content stays with the school.
    other = await signpost.key("police", "other-police", "encompass:read")
    assert (await signpost.client.get("/v1/encompass/notices", headers=bearer(other))).json() == []
    notice_id = r.json()[0]["notice_id"]
    content = await signpost.client.get(f"/v1/encompass/notices/{notice_id}", headers=bearer(force))
    assert content.status_code == 404


async def test_the_childs_details_are_removed_a_retention_after_the_school_had_them(
    signpost: Signpost, parties: Parties
) -> None:
    await report(signpost)
    maya = await notified(signpost, "Maya")  # delivered by webhook
    ctx = notify_ctx(signpost)
    assert maya.notified_at is not None
    had_it = maya.notified_at.replace(tzinfo=UTC)
    # Not before the retention (30 days by default) has passed...
    assert await remove_old_content(ctx, now=had_it + timedelta(days=29)) == 0
    # ...then Maya's details go; Noah's notice, never received, keeps them.
    assert await remove_old_content(ctx, now=had_it + timedelta(days=31)) == 1
    records = await notices_by_id(signpost)
    kept = records[maya.id]
    assert kept.content_removed_at is not None
    assert "child" not in kept.body and "incident" not in kept.body
    assert kept.body["school_urn"] == "100001" and kept.notified_via == "webhook"
    [noah] = [r for r in records.values() if r.id != maya.id]
    assert noah.body["child"]["given_name"] == "Noah" and noah.content_removed_at is None
    async with ctx.db.session() as session:
        sent = (await session.exec(select(Delivery).where(Delivery.notice_id == maya.id))).all()
    assert [d.body for d in sent] == [""]  # the delivered webhook's copy too

    school = await signpost.key("school", "100001", "encompass:read")
    r = await signpost.client.get(f"/v1/encompass/notices/{maya.id}", headers=bearer(school))
    assert r.status_code == 200
    assert "Maya" not in r.text and r.json()["content_removed_at"] is not None
    assert r.json()["status"] == "notified"
    assert await remove_old_content(ctx, now=had_it + timedelta(days=60)) == 0  # once


def notice_event(notice_id: str, referral_id: str, supersedes: list[str]) -> Any:
    notice = EncompassNotice.model_validate(
        {**_sample_notice(), "notice_id": notice_id, "referral_id": referral_id}
    ).model_copy(update={"supersedes": supersedes, "school_urn": "100002"})
    return new_event(
        time=datetime.now(UTC),
        type=EventType.ENCOMPASS_NOTICE,
        source="/tests/intake",
        subject=referral_id,
        partitionkey="sub_x",
        data=notice,
    )


@pytest.mark.parametrize("correction_first", [False, True])
async def test_a_correction_supersedes_the_earlier_notice_whichever_is_recorded_first(
    signpost: Signpost, correction_first: bool
) -> None:
    ctx = notify_ctx(signpost)
    signpost.clock.set(SATURDAY)
    original = notice_event("enc_old", "ref_old", [])
    correction = notice_event("enc_new", "ref_new", ["ref_old"])
    order = [correction, original] if correction_first else [original, correction]
    for event in order:  # they can travel on different partitions
        await consume(ctx, event)
    records = await notices_by_id(signpost)
    assert records["enc_old"].superseded_by == "enc_new"
    assert records["enc_new"].superseded_by is None
    # Only the correction is waited for; the earlier one, even acknowledged late, is not.
    await mark_notified(ctx, "enc_old", via="acknowledged", at=SATURDAY)
    raised = await alert_missed(ctx, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert raised == 1
    async with ctx.db.session() as session:
        outbox = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.topic == "encompass.alert")
            )
        ).all()
    late = [
        json.loads(m.value) for m in outbox if json.loads(m.value)["reason"] == "deadline_missed"
    ]
    assert [a["notice_id"] for a in late] == ["enc_new"]


async def test_a_dsls_read_and_acknowledgement_record_the_person_and_a_keys_its_school(
    signpost: Signpost,
) -> None:
    ctx = notify_ctx(signpost)
    signpost.clock.set(SATURDAY)
    await consume(
        ctx, notice_event("enc_alex", "ref_alex", []), notice_event("enc_key", "ref_key", [])
    )
    alex = bearer(signpost.person("100002", "school_dsl", person_id="per_alex", name="Alex Reed"))
    school = bearer(await signpost.key("school", "100002", "encompass:acknowledge"))

    read = await signpost.client.get("/v1/encompass/notices/enc_alex", headers=alex)
    by_person = await signpost.client.post(
        "/v1/encompass/notices/enc_alex/acknowledge", headers=alex
    )
    by_key = await signpost.client.post("/v1/encompass/notices/enc_key/acknowledge", headers=school)

    assert read.status_code == 200 and read.json()["notice"]["child"]["given_name"] == "Maya"
    assert by_person.json()["notified_via"] == by_key.json()["notified_via"] == "acknowledged"
    records = await notices_by_id(signpost)
    assert records["enc_alex"].acknowledged_by == "100002/per_alex"
    assert records["enc_key"].acknowledged_by == "100002"
    async with ctx.db.session() as session:
        [audited] = (await session.exec(select(ReadAudit))).all()
    assert (audited.resource_id, audited.client_kind, audited.client_id) == (
        "enc_alex",
        "school",
        "per_alex",
    )


async def test_an_analyst_reads_no_notice(signpost: Signpost) -> None:
    signpost.clock.set(SATURDAY)
    await consume(notify_ctx(signpost), notice_event("enc_a", "ref_a", []))
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))
    for path in ("/v1/encompass/notices", "/v1/encompass/notices/enc_a"):
        answer = await signpost.client.get(path, headers=analyst)
        assert answer.status_code == 403, path
