"""The bus interface that both implementations (Kafka, embedded log) honour.

A consumer hands out records for the partitions it owns, in offset order per
partition; the caller commits a position only after its own database transaction
committed, so a crash re-delivers rather than loses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


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
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def fetch(self, *, timeout: float, max_records: int) -> list[Record]:
        """Up to `max_records` records not yet handed out, waiting at most `timeout` s."""

    @abstractmethod
    async def commit(self, records: Sequence[Record]) -> None:
        """Mark everything up to and including these records as done for the group."""

    def mark_done(self, record: Record) -> None:  # noqa: B027 - optional hook
        """Note that this record's handler committed (saved on a rebalance)."""


class Bus(ABC):
    """Publishes records durably and creates group consumers."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def publish(self, records: Sequence[Record]) -> None:
        """Return only once every record is durably stored by the bus (acks=all)."""

    @abstractmethod
    def consumer(self, *, group: str, topics: Sequence[str]) -> Consumer: ...

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
