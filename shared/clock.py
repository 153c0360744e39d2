"""The one source of "now" for every service.

Domain time (when a report was received, a deadline, a retention cut-off, an event's
`time`) comes only from a `Clock`. A process has one clock, shared by every service it
runs (`ServiceContext.clock`), so a test or an operator sets it once for the whole app.
`datetime.now`, `datetime.utcnow` and `date.today` are banned by ruff (TID251)
everywhere else.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite hands datetimes back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Clock:
    """Now, in UTC: the wall clock unless set.

    `set(at)` stops the clock at `at` (until `advance` moves it); `set(at, running=True)`
    starts it at `at` and lets it run with real time from there, so scheduled work
    (retries, leases) still comes due.
    """

    def __init__(self, at: datetime | None = None, *, running: bool = False) -> None:
        self._at: datetime | None = None
        self._since = 0.0
        self._running = False
        if at is not None:
            self.set(at, running=running)

    def now(self) -> datetime:
        """The current domain time, an aware UTC datetime."""
        if self._at is None:
            return datetime.now(UTC)
        if self._running:
            return self._at + timedelta(seconds=time.monotonic() - self._since)
        return self._at

    def set(self, at: datetime, *, running: bool = False) -> None:
        """Make `at` now: stopped there, or running on from it."""
        self._at = as_utc(at)
        self._since = time.monotonic()
        self._running = running

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """Move a set clock forward by `delta` (or `timedelta(**parts)`)."""
        step = delta if delta is not None else timedelta(**parts)
        self._at = self.now() + step
        self._since = time.monotonic()

    def reset(self) -> None:
        """Follow the wall clock again."""
        self._at = None
        self._running = False

    @property
    def is_set(self) -> bool:
        """True when a test or an operator set the clock (it is not the wall clock)."""
        return self._at is not None


def transport_time() -> datetime:
    """The machine's real time, only for stamps another system checks against its own
    wall clock (a webhook signature's `webhook-timestamp`, which the receiver refuses
    when it is far from its now). Never for a decision or a stored time."""
    return datetime.now(UTC)
