"""Which events a subscription hears: who may receive what, and a subscription's own
filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify.filters import may_receive, wants
from services.notify.models import WebhookSubscription
from services.notify.sharing import load_policy


def _sub(kind: str, organisation: str) -> WebhookSubscription:
    return WebhookSubscription(
        id="s",
        organisation=organisation,
        client_kind=kind,
        client_id="c",
        url="https://x",
        event_types=[],
        secret="s",
        created_at=datetime.now(UTC),
    )


EVENT: dict[str, object] = {
    "referral_id": "ref_1",
    "referrer_organisation": "devon-police",
    "destination": {"kind": "agency", "id": "da", "organisation": "safe-homes"},
}


@pytest.mark.parametrize(
    ("kind", "organisation", "allowed"),
    [
        ("hub", "demoshire-hub", True),
        ("admin", "ops", True),
        ("agency", "safe-homes", True),  # addressed to it
        ("police", "devon-police", True),  # raised by it
        ("agency", "demoshire-housing", False),
        ("school", "100001", False),
    ],
)
def test_a_partner_hears_only_of_referrals_addressed_to_it_or_raised_by_it(
    kind: str, organisation: str, allowed: bool
) -> None:
    assert may_receive(_sub(kind, organisation), EVENT) is allowed


def test_a_filter_narrows_what_a_subscription_hears() -> None:
    sub = _sub("hub", "demoshire-hub")
    sub.event_types = ["org.signpost.referral.routed.v1", "org.signpost.referral.status.v1"]
    sub.event_filter = {"destination_kinds": ["mash"], "priorities": ["red", "amber"]}
    routed = "org.signpost.referral.routed.v1"
    red_mash = {"destination": {"kind": "mash"}, "priority": "red", "level": 4}
    assert wants(sub, routed, red_mash)
    assert not wants(sub, routed, {**red_mash, "priority": "green"})
    assert not wants(sub, routed, {**red_mash, "destination": {"kind": "agency"}})
    # A status event carries no priority or kind: it is not excluded by them.
    assert wants(sub, "org.signpost.referral.status.v1", {"status": "accepted"})
    sub.event_filter = {"min_level": 3}
    assert not wants(sub, routed, {**red_mash, "level": 2})
    assert not wants(sub, "org.signpost.unknown.v1", red_mash)


def test_a_pathway_told_is_heard_by_its_destination_and_the_referrer_not_the_agency() -> None:
    told: dict[str, object] = {
        "referral_id": "ref_1",
        "pathway": "prevent",
        "referrer_organisation": "devon-police",
        "destination": {"kind": "pathway", "id": "prevent", "organisation": "demoshire-prevent"},
    }
    assert may_receive(_sub("agency", "demoshire-prevent"), told)
    assert may_receive(_sub("police", "devon-police"), told)
    assert may_receive(_sub("hub", "demoshire-hub"), told)
    # The agency the referral itself went to is not told of the Prevent referral.
    assert not may_receive(_sub("agency", "safe-homes"), told)


def test_the_shipped_sharing_policy_sends_a_pathway_without_its_concern() -> None:
    policy = load_policy(None)
    event = "org.signpost.referral.pathway.v1"
    data: dict[str, object] = {
        "referral_id": "ref_1",
        "pathway": "prevent",
        "destination": {"kind": "pathway", "id": "prevent", "organisation": "o", "name": "P"},
        "level": 3,
        "priority": "amber",
        "reason_code": "statutory_pathway",
        "directory_version": "v",
        "notified_at": "2026-12-02T10:00:00Z",
        "referrer_organisation": "devon-police",
    }
    assert policy.minimise("agency", event, data)["pathway"] == "prevent"
    school = policy.minimise("school", event, data)
    assert school["destination"] == {"kind": "pathway", "id": "prevent", "name": "P"}
    assert "level" not in school
