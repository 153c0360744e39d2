"""Standard Webhooks: secrets, signing, and the retry schedule (pure functions)."""

from __future__ import annotations

import base64
import random
import secrets
from datetime import datetime, timedelta

from standardwebhooks.webhooks import Webhook

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


def signature_headers(
    *, secret: str, webhook_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, body),
    }


def next_delay(attempts_made: int, *, rng: random.Random | None = None) -> timedelta | None:
    """How long to wait before the next attempt, or None when the schedule is spent.

    Up to 10% jitter spreads retries from many deliveries that failed together.
    """
    if attempts_made >= len(RETRY_SCHEDULE):
        return None
    delay = RETRY_SCHEDULE[attempts_made]
    jitter = (rng or random).uniform(0, 0.1)
    return delay + delay * jitter
