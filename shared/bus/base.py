"""The bus interface that both implementations (Kafka, embedded log) honour.

A consumer hands out records for the partitions it owns, in offset order per
partition; the caller commits a position only after its own database transaction
committed, so a crash re-delivers rather than loses.

A broker can be away (not started yet, restarting, partitioned): whoever waits for it
retries on a `Backoff` (exponential, capped, jittered) and never gives up, and the bus
logs the outage once (`shared.logging.OutageLog`).
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings


class BusUnavailable(Exception):
    """The bus cannot take records now (its broker is away, or it is not started)."""


@dataclass
class Backoff:
    """Delays between attempts at something that is away: `initial`, then doubling up
    to `cap`, each spread by +/-`jitter` (a fraction) so that many waiters do not come
    back at the same instant. `reset` after a success."""

    initial: float = 0.2
    cap: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2
    attempts: int = 0
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def next(self) -> float:
        """The delay before the next attempt."""
        base = min(self.cap, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        spread = 1.0 - self.jitter + 2.0 * self.jitter * self.rand()
        return min(self.cap, base * spread)

    def reset(self) -> None:
        self.attempts = 0


async def pause(seconds: float, stopping: asyncio.Event | None = None) -> bool:
    """Sleep `seconds`, or less if `stopping` is set meanwhile; True when it is."""
    if stopping is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True


@dataclass(frozen=True)
class Record:
    """One record on a topic; `partition` and `offset` are set on consumed records."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int = -1
    offset: int = -1

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Consumer(ABC):
    """A member of a consumer group reading some topics."""

    @abstractmethod
    async def start(self) -> None:
        """Join the group (returns once partitions are assigned); may be called again
        after it failed (the broker was away)."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def fetch(self, *, timeout: float, max_records: int) -> list[Record]:
        """Up to `max_records` records not yet handed out, waiting at most `timeout` s."""

    @abstractmethod
    async def commit(self, records: Sequence[Record]) -> None:
        """Mark everything up to and including these records as done for the group."""

    async def commit_soon(self, records: Sequence[Record]) -> None:
        """As `commit`, except that the commit may wait a little to go with later
        records' (Kafka: `KAFKA_COMMIT_INTERVAL_MS`). Until it goes, a crash
        redelivers these records, which each handler's inbox makes harmless; a clean
        stop and a rebalance commit them at once. Here: at once."""
        await self.commit(records)

    def mark_done(self, record: Record) -> None:  # noqa: B027 - optional hook
        """Note that this record's handler committed (saved on a rebalance)."""

    async def lag(self) -> dict[tuple[str, int], int]:
        """How many records wait on each (topic, partition) this member owns: from where
        it has handled to (the group's committed position, or one `commit_soon` has not
        sent yet) to the end of the partition. Empty while the member owns nothing.
        Asked at scrape time."""
        return {}


class Bus(ABC):
    """Publishes records durably and creates group consumers."""

    # True when the bus is a broker over the network, which may be away: a service
    # then starts it (and joins its groups) in the background, retrying, while it
    # already serves HTTP. A local bus (the embedded log) is started before serving.
    remote: bool = False

    @abstractmethod
    async def start(self) -> None:
        """Connect (one attempt: raises when the broker is away; call again later)."""

    def tune(self, settings: Settings) -> None:  # noqa: B027 - optional hook
        """Take the process-wide client settings (retry backoffs, static group
        membership, timeouts); before `start` and `consumer`. Nothing to tune locally."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def publish(self, records: Sequence[Record]) -> None:
        """Return only once every record is durably stored by the bus (acks=all).
        Raises `BusUnavailable` at once when the bus knows it cannot take them."""

    @property
    def available(self) -> bool:
        """False while the bus knows its broker is away (cheap: no round trip)."""
        return True

    def is_outage(self, exc: BaseException) -> bool:
        """True when `exc` means the broker is away (the bus logs those itself, once
        per outage), not that it refused something."""
        return False

    @abstractmethod
    def consumer(self, *, group: str, topics: Sequence[str]) -> Consumer: ...

    async def backlog(self, *, group: str, topics: Sequence[str]) -> dict[str, int]:
        """How many records on each topic `group` has not committed past, summed over
        the topic's partitions, whether or not the group has a member here (a group that
        never committed counts from the first record kept). The depth of a dead-letter
        topic is its backlog for the replay group (`shared.dlq.depth`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot tell a group's backlog")

    @abstractmethod
    async def ready(self) -> bool:
        """True when the bus can take and hand out records."""


def next_positions(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """The next offset to read per (topic, partition) after these records."""
    positions: dict[tuple[str, int], int] = {}
    for record in records:
        tp = (record.topic, record.partition)
        positions[tp] = max(positions.get(tp, 0), record.offset + 1)
    return positions
