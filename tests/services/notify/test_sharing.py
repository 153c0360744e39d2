"""Information-sharing policies: what a notification to each kind of partner may
carry, checked field by field; ids only where a policy is silent; and a policy that
grants what must never be shared is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from services.notify.models import Delivery, WebhookSubscription
from services.notify.sharing import (
    IDS_ONLY_POLICY,
    SharingPolicyError,
    load_policy,
    parse_policy,
)
from shared.envelope import new_event
from shared.events import Destination, EventType, ReferralRouted
from tests.services.conftest import Signpost
from tests.services.notify.conftest import consume

ROUTED = EventType.REFERRAL_ROUTED.value
STATUS = EventType.REFERRAL_STATUS.value
NOW = datetime(2025, 3, 7, 9, 30, tzinfo=UTC).isoformat()

ROUTED_DATA: dict[str, Any] = {
    "referral_id": "ref_1",
    "destination": {
        "kind": "agency",
        "id": "ag_1",
        "organisation": "safe-homes",
        "name": "Safe Homes",
    },
    "level": 2,
    "priority": "green",
    "reason_codes": ["single_agency_best_placed"],
    "directory_version": "7",
    "routed_at": NOW,
    "referrer_organisation": "demo-police",
    "respond_by": NOW,
    "added_by_a_newer_producer": "x",
}
STATUS_DATA: dict[str, Any] = {
    "referral_id": "ref_1",
    "status": "accepted",
    "destination_id": "ag_1",
    "reason_code": "no_capacity",
    "occurred_at": NOW,
    "referrer_organisation": "demo-police",
}

# The shipped Demoshire policy, written out: (kind, field path) → carried?
ROUTED_TABLE = {
    "referral_id": {"hub", "admin", "agency", "police", "school", "unknown"},
    "destination.id": {"hub", "admin", "agency", "police", "school", "unknown"},
    "destination.kind": {"hub", "admin", "agency", "police", "school"},
    "destination.name": {"hub", "admin", "agency", "police", "school"},
    "destination.organisation": {"hub", "admin", "agency"},
    "level": {"hub", "admin", "agency", "police"},
    "priority": {"hub", "admin", "agency"},
    "reason_codes": {"hub", "admin", "agency"},
    "directory_version": {"hub", "admin"},
    "routed_at": {"hub", "admin", "agency", "police", "school"},
    "referrer_organisation": {"hub", "admin"},
    "respond_by": {"hub", "admin", "agency"},
    "added_by_a_newer_producer": set(),
}
STATUS_TABLE = {
    "referral_id": {"hub", "admin", "agency", "police", "school", "unknown"},
    "destination_id": {"hub", "admin", "agency", "police", "school", "unknown"},
    "status": {"hub", "admin", "agency", "police", "school"},
    "reason_code": {"hub", "admin", "agency", "police"},
    "occurred_at": {"hub", "admin", "agency", "police", "school"},
    "referrer_organisation": {"hub", "admin"},
}
KINDS = ["hub", "admin", "agency", "police", "school", "unknown"]


def _has(data: dict[str, Any], path: str) -> bool:
    head, _, rest = path.partition(".")
    if head not in data:
        return False
    return _has(data[head], rest) if rest else True


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("path", "allowed"), sorted(ROUTED_TABLE.items()))
def test_routed_notification_carries_a_field_only_if_the_policy_grants_it(
    kind: str, path: str, allowed: set[str]
) -> None:
    shared = load_policy(None).minimise(kind, ROUTED, ROUTED_DATA)
    assert _has(shared, path) is (kind in allowed)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("path", "allowed"), sorted(STATUS_TABLE.items()))
def test_status_notification_carries_a_field_only_if_the_policy_grants_it(
    kind: str, path: str, allowed: set[str]
) -> None:
    shared = load_policy(None).minimise(kind, STATUS, STATUS_DATA)
    assert _has(shared, path) is (kind in allowed)


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_policy_every_partner_gets_ids_only(kind: str) -> None:
    assert IDS_ONLY_POLICY.minimise(kind, ROUTED, ROUTED_DATA) == {
        "referral_id": "ref_1",
        "destination": {"id": "ag_1"},
    }
    assert IDS_ONLY_POLICY.minimise(kind, STATUS, STATUS_DATA) == {
        "referral_id": "ref_1",
        "destination_id": "ag_1",
    }


def _policy(kinds: dict[str, Any]) -> str:
    return json.dumps({"id": "p", "version": "1", "area": "Testshire", "kinds": kinds})


@pytest.mark.parametrize(
    ("kinds", "reason"),
    [
        ({"school": {ROUTED: ["narrative"]}}, "may never be shared"),
        ({"school": {ROUTED: ["child.given_name"]}}, "is not a field of this event"),
        ({"school": {"org.signpost.referral.received.v1": ["referral_id"]}}, "partner-facing"),
        ({"parent": {ROUTED: ["referral_id"]}}, "kinds.parent"),
        ({"school": {"org.signpost.nope.v1": ["referral_id"]}}, "org.signpost.nope.v1"),
    ],
)
def test_a_policy_that_grants_what_it_may_not_is_refused(
    kinds: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SharingPolicyError, match=reason.replace(".", r"\.")):
        parse_policy(_policy(kinds))


def test_a_policy_file_that_is_not_json_is_refused_with_its_line() -> None:
    with pytest.raises(SharingPolicyError, match="line 1"):
        parse_policy("{not json", source="x.json")


async def test_each_partner_kind_is_sent_only_its_share(signpost: Signpost) -> None:
    """Through notify's handler, as the consumer runs it: the stored (and sent) bodies differ
    by partner kind, per the shipped policy."""
    ctx = signpost.app.state.runtimes["notify"].ctx
    parties = {"hub": "demoshire-hub", "agency": "safe-homes", "police": "demo-police"}
    async with ctx.db.session() as session:
        for kind, organisation in parties.items():
            session.add(
                WebhookSubscription(
                    id=f"sub_{kind}",
                    organisation=organisation,
                    client_kind=kind,
                    client_id="c",
                    url="http://127.0.0.1:9/hooks",
                    event_types=[ROUTED],
                    secret="whsec_x",
                    created_at=datetime.now(UTC),
                    status="paused",  # queued, not sent: this test reads the stored bodies
                )
            )
        await session.commit()
        event = new_event(
            time=datetime.now(UTC),
            type=EventType.REFERRAL_ROUTED,
            source="/signpost/routing/test",
            subject="ref_1",
            partitionkey="k",
            data=ReferralRouted.model_validate(
                {**ROUTED_DATA, "destination": Destination(**ROUTED_DATA["destination"])}
            ),
        )
        await consume(ctx, event)  # with the shipped policy, as notify runs by default
        rows = {d.subscription_id: d for d in (await session.exec(select(Delivery))).all()}
    bodies = {kind: json.loads(rows[f"sub_{kind}"].body) for kind in parties}
    assert set(bodies["hub"]["data"]) >= {"level", "priority", "referrer_organisation"}
    assert set(bodies["agency"]["data"]) == {
        "referral_id",
        "destination",
        "level",
        "priority",
        "reason_codes",
        "routed_at",
        "respond_by",
    }
    assert bodies["police"]["data"] == {
        "referral_id": "ref_1",
        "destination": {"kind": "agency", "id": "ag_1", "name": "Safe Homes"},
        "level": 2,
        "routed_at": bodies["police"]["data"]["routed_at"],
    }
    assert all(set(b) == {"type", "timestamp", "data"} for b in bodies.values())
