"""Webhook signing (checked with the standardwebhooks library and the spec's published
test vector, and during a secret rotation's overlap), the retry schedule and Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from services.notify.webhooks import (
    RETRY_SCHEDULE,
    new_secret,
    next_delay,
    overlap_until,
    retry_after,
    signature_headers,
)


def test_signature_matches_the_standard_webhooks_published_test_vector() -> None:
    # From the Standard Webhooks specification's reference test vector.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = signature_headers(
        secret=secret,
        webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=datetime.fromtimestamp(1614265330, UTC),
        body='{"test": 2432232314}',
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


def test_headers_verify_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = '{"type":"org.signpost.referral.routed.v1","timestamp":"t","data":{}}'
    headers = signature_headers(
        secret=secret, webhook_id="msg_1", timestamp=datetime.now(UTC), body=body
    )
    assert Webhook(secret).verify(body, headers)["data"] == {}
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, headers)


def test_retry_schedule_spans_about_three_days_then_stops() -> None:
    rng = random.Random(7)
    delays = [next_delay(n, rng=rng) for n in range(len(RETRY_SCHEDULE))]
    assert delays[0] == timedelta(0)
    for base, actual in zip(RETRY_SCHEDULE, delays, strict=True):
        assert actual is not None and base <= actual <= base * 1.1
    assert timedelta(days=3) <= sum(RETRY_SCHEDULE, timedelta()) <= timedelta(days=4)
    assert next_delay(len(RETRY_SCHEDULE)) is None


NOW = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
CAP = timedelta(hours=1)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", timedelta(seconds=120)),
        ("0", timedelta(0)),
        ("Fri, 07 Mar 2025 12:05:00 GMT", timedelta(minutes=5)),  # an HTTP date
        ("Fri, 07 Mar 2025 11:00:00 GMT", timedelta(0)),  # already past
        ("999999", CAP),  # capped
        ("Sat, 08 Mar 2025 12:00:00 GMT", CAP),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date_and_is_capped(
    header: str | None, wait: timedelta | None
) -> None:
    assert retry_after(header, now=NOW, cap=CAP) == wait


def test_during_a_rotation_both_secrets_sign_and_each_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = '{"type":"t","timestamp":"t","data":{}}'
    headers = signature_headers(
        secret=new,
        webhook_id="msg_1",
        timestamp=datetime.now(UTC),
        body=body,
        also_signed_with=[old],
    )
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2 and all(e.startswith("v1,") for e in entries)
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


@pytest.mark.parametrize(
    ("previous", "expires", "until"),
    [
        ("whsec_old", NOW + timedelta(hours=1), NOW + timedelta(hours=1)),
        ("whsec_old", (NOW + timedelta(hours=1)).replace(tzinfo=None), NOW + timedelta(hours=1)),
        ("whsec_old", NOW, None),  # expired now
        ("whsec_old", None, None),
        (None, NOW + timedelta(hours=1), None),  # rotated with no overlap
    ],
)
def test_the_previous_secret_signs_only_until_its_overlap_ends(
    previous: str | None, expires: datetime | None, until: datetime | None
) -> None:
    assert overlap_until(previous, expires, now=NOW) == until
