"""Apache Kafka through aiokafka: idempotent producer (acks=all), consumer groups with
manual offset commits, and a rebalance listener that saves finished work on revoke."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)

from shared.bus.base import Bus, Consumer, Record, next_positions

log = logging.getLogger(__name__)


class KafkaBus(Bus):
    """Publishes with an idempotent, acks=all producer; hands out group consumers."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        topics: Sequence[str] = (),
        partitions: int = 3,
        replication_factor: int = 1,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.topics = list(topics)
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        if self.topics:
            await self.ensure_topics(self.topics)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
        )
        await producer.start()
        self._producer = producer

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics with the configured partitions and replication factor.

        With more than one replica a write (acks=all) must reach all but one of them
        (`min.insync.replicas`), so losing one broker loses no acknowledged event.
        """
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id=f"{self.client_id}-admin"
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if missing:
                rf = self.replication_factor
                configs = {"min.insync.replicas": str(max(1, rf - 1))}
                response = await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            num_partitions=self.partitions,
                            replication_factor=rf,
                            topic_configs=configs,
                        )
                        for t in missing
                    ]
                )
                # The broker answers per topic; aiokafka returns those answers rather than
                # raising, so a topic it refused would otherwise be created later by
                # auto-creation with the broker's defaults, silently.
                for topic, code, *_ in response.topic_errors:
                    error = for_code(code)
                    if code != 0 and error is not TopicAlreadyExistsError:
                        raise error(f"cannot create topic {topic}")
        finally:
            await admin.close()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def ready(self) -> bool:
        producer = self._producer
        if producer is None:
            return False
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 5)
            return True
        except (KafkaError, TimeoutError):
            return False

    async def publish(self, records: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the Kafka producer is not started")
        pending = [
            await producer.send(r.topic, value=r.value, key=r.key, headers=list(r.headers))
            for r in records
        ]
        # Each future resolves only when the broker acknowledged with acks=all.
        await asyncio.gather(*pending)

    def consumer(self, *, group: str, topics: Sequence[str]) -> Consumer:
        return KafkaGroupConsumer(
            self.bootstrap_servers, group=group, topics=list(topics), client_id=self.client_id
        )


class _SaveOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaGroupConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.owner._commit_done(set(revoked))
        for tp in revoked:
            # Whatever could not be saved is re-read by the next owner (and deduped by
            # its inbox); a stale entry here must not be committed later.
            self.owner._done.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            extra={"group": self.owner.group, "partitions": [str(tp) for tp in assigned]},
        )


class KafkaGroupConsumer(Consumer):
    """A consumer-group member; offsets are committed only when the caller says so."""

    def __init__(
        self, bootstrap_servers: str, *, group: str, topics: list[str], client_id: str
    ) -> None:
        self.group = group
        self.topics = topics
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=f"{client_id}-{group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
        )
        # Work finished by the handler (its transaction committed) but whose offset
        # is not committed yet; saved on revoke so the next owner skips it.
        self._done: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._consumer.subscribe(self.topics, listener=_SaveOnRevoke(self))
        await self._consumer.start()

    async def stop(self) -> None:
        await self._commit_done(None)
        await self._consumer.stop()

    async def fetch(self, *, timeout: float, max_records: int) -> list[Record]:
        batches = await self._consumer.getmany(
            timeout_ms=int(timeout * 1000), max_records=max_records
        )
        return [
            Record(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                key=m.key,
                value=m.value,
                headers=tuple(m.headers or ()),
            )
            for messages in batches.values()
            for m in messages
        ]

    def mark_done(self, record: Record) -> None:
        tp = TopicPartition(record.topic, record.partition)
        self._done[tp] = max(self._done.get(tp, 0), record.offset + 1)

    async def commit(self, records: Sequence[Record]) -> None:
        for (topic, partition), offset in next_positions(records).items():
            tp = TopicPartition(topic, partition)
            self._done[tp] = max(self._done.get(tp, 0), offset)
        await self._commit_done(None)

    async def _commit_done(self, only: set[TopicPartition] | None) -> None:
        assigned = self._consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in self._done.items()
            if tp in assigned and (only is None or tp in only)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member mid-batch: it re-reads from the
            # last committed offset and the inbox makes the repeat a no-op.
            log.warning(
                "offset commit refused; records will be redelivered",
                extra={"group": self.group, "error": type(exc).__name__},
            )
        for tp in offsets:
            self._done.pop(tp, None)
