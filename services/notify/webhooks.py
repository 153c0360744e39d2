"""Standard Webhooks: secrets, signing, and the retry schedule (pure functions)."""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from shared.clock import as_utc

# Standard Webhooks' suggested schedule: immediately, then about three days in all.
RETRY_SCHEDULE = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)


def new_secret() -> str:
    """A fresh `whsec_` secret (24 random bytes, base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def overlap_until(
    previous_secret: str | None, expires_at: datetime | None, *, now: datetime
) -> datetime | None:
    """Until when a rotated-out secret still signs beside the new one: its expiry while
    that is after `now`, else None (there is no previous secret, or it has expired)."""
    if not previous_secret or expires_at is None:
        return None
    expires = as_utc(expires_at)
    return expires if expires > now else None


# Answers that ask the sender to slow down (Standard Webhooks: throttle, honour Retry-After).
THROTTLING_STATUSES = frozenset({429, 502, 504})


def signature_headers(
    *,
    secret: str,
    webhook_id: str,
    timestamp: datetime,
    body: str,
    also_signed_with: Sequence[str] = (),
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt.

    During a secret rotation the old secret signs too: `webhook-signature` then
    carries space-separated `v1,<sig>` entries, and a receiver holding either secret
    verifies the message.
    """
    signatures = [Webhook(s).sign(webhook_id, timestamp, body) for s in (secret, *also_signed_with)]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def retry_after(value: str | None, *, now: datetime, cap: timedelta) -> timedelta | None:
    """A `Retry-After` header (delta-seconds or an HTTP date) as a wait, at most `cap`.

    None when the header is absent or unreadable; a date in the past is no wait.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        wait = timedelta(seconds=int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = max(when - now, timedelta(0))
    return min(wait, cap)


def next_delay(attempts_made: int, *, rng: random.Random | None = None) -> timedelta | None:
    """How long to wait before the next attempt, or None when the schedule is spent.

    Up to 10% jitter spreads retries from many deliveries that failed together.
    """
    if attempts_made >= len(RETRY_SCHEDULE):
        return None
    delay = RETRY_SCHEDULE[attempts_made]
    jitter = (rng or random).uniform(0, 0.1)
    return delay + delay * jitter


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks body: `{type, timestamp, data}`."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
        separators=(",", ":"),
    )
