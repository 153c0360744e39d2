"""Where an Operation Encompass notice stands (a table), what an alert and a summary say
of it (nothing about the child), and what survives the retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.models import EncompassNoticeRecord
from services.notify.notices import NoticeStatus, progress, status_of, without_content

DEADLINE = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
BEFORE, AFTER = DEADLINE - timedelta(minutes=1), DEADLINE + timedelta(minutes=1)
BODY = {
    "notice_id": "enc_1",
    "referral_id": "ref_1",
    "referrer_organisation": "demo-police",
    "referrer_reference": "DP-1",
    "school_urn": "100001",
    "home_educated": False,
    "recipient_organisation": "100001",
    "notify_by": "2026-11-30T08:30:00Z",
    "received_at": "2026-11-27T23:55:00Z",
    "child": {"given_name": "Maya"},
    "incident": {"circumstances": "A parent was arrested."},
    "supersedes": [],
}


def record(**changes: object) -> EncompassNoticeRecord:
    fields: dict[str, object] = {
        "id": "enc_1",
        "referral_id": "ref_1",
        "referrer_organisation": "demo-police",
        "recipient_organisation": "100001",
        "recipient_kind": "school",
        "school_urn": "100001",
        "body": BODY,
        "received_at": DEADLINE - timedelta(days=2),
        # Stored times come back naive from SQLite.
        "notify_by": DEADLINE.replace(tzinfo=None),
        **changes,
    }
    return EncompassNoticeRecord.model_validate(fields)


@pytest.mark.parametrize(
    ("notified_at", "superseded_by", "now", "status"),
    [
        (None, None, BEFORE, "pending"),
        (None, None, DEADLINE, "missed"),
        (BEFORE, None, AFTER, "notified"),
        (DEADLINE, None, AFTER, "notified"),
        (AFTER, None, AFTER, "notified_late"),
        (None, "enc_2", AFTER, "superseded"),
        (BEFORE, "enc_2", AFTER, "notified"),  # it reached the school before it was replaced
    ],
)
def test_a_notices_status_follows_its_deadline_delivery_and_correction(
    notified_at: datetime | None, superseded_by: str | None, now: datetime, status: NoticeStatus
) -> None:
    assert status_of(record(notified_at=notified_at, superseded_by=superseded_by), now) == status


def test_what_an_alert_and_a_summary_say_of_a_notice_names_no_child() -> None:
    said = progress(record(notified_at=AFTER, recipient_kind="local_authority"))
    assert said == {
        "notice_id": "enc_1",
        "referral_id": "ref_1",
        "referrer_organisation": "demo-police",
        "recipient_organisation": "100001",
        "recipient_kind": "local_authority",
        "school_urn": "100001",
        "notify_by": DEADLINE,
        "notified_at": AFTER,
    }


def test_after_the_retention_a_notice_keeps_its_ids_and_timing_only() -> None:
    kept = without_content(BODY)
    assert "child" not in kept and "incident" not in kept
    assert "referrer_reference" not in kept  # the police's own case number goes too
    assert kept["notice_id"] == "enc_1" and kept["notify_by"] == BODY["notify_by"]
