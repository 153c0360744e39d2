"""Apache Kafka through aiokafka: idempotent producer (acks=all), consumer groups with
manual offset commits, and a rebalance listener that saves finished work on revoke.
A consumer's handled positions go to the broker together, at most once per
`commit_interval_ms` (`commit_soon`), and at once on a clean stop or a rebalance.

While the broker is away the bus stays quiet and patient: `start` is one attempt (the
runtime retries it on a backoff), a failed metadata refresh waits before the next one
(aiokafka retries it at once, thousands of times a second), a watcher notices when the
broker goes and comes back, and the outage is logged once each way (`OutageLog`).

Consumers are static group members (KIP-345) when the process has a stable instance
id (`KAFKA_GROUP_INSTANCE_ID`, or INSTANCE and the host name): a member killed and
restarted within the session timeout gets its partitions back at once, with no
rebalance. A member that stops cleanly leaves the group, so its partitions move to
the others at once rather than after the session timeout.

For metrics, read at scrape time: a member's lag is its partitions' high watermarks
less where it has handled to (committed, or waiting to be); a group's backlog on any
topic (a dead-letter topic's depth) comes from an admin client and a consumer in no
group, both opened at the first scrape and kept until the bus stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    for_code,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from shared.bus.base import Bus, BusUnavailable, Consumer, Record, next_positions
from shared.logging import OutageLog

if TYPE_CHECKING:
    from shared.settings import Settings

log = logging.getLogger(__name__)

# How often the watcher asks the broker whether it is there, while it is, and while
# it is not (a metadata request for no topics: one small round trip).
WATCH_SECONDS = 2.0
WATCH_DOWN_SECONDS = 1.0
# The most a clean stop waits to commit the positions still waiting.
STOP_COMMIT_SECONDS = 5.0
# A wait cut to end when waiting positions are due may end this much early (the event
# loop's timer): they are due then.
_TIMER_SLACK = 0.005


@dataclass(frozen=True)
class KafkaOptions:
    """How the clients wait and how the groups behave (see `shared.settings`)."""

    # Between retries of a failed request, and the most a failed metadata refresh
    # waits before the next (it doubles from `retry_backoff_ms`).
    retry_backoff_ms: int = 300
    retry_backoff_max_ms: int = 2_000
    # A member that stops heartbeating for this long is out of its group; a static one
    # that restarts within it gets its partitions back without a rebalance.
    session_timeout_ms: int = 15_000
    heartbeat_interval_ms: int = 3_000
    # How long a rebalance waits for the members to rejoin.
    rebalance_timeout_ms: int = 30_000
    # The most a handled batch's position waits to be committed with later ones
    # (`commit_soon`); 0 commits each at once.
    commit_interval_ms: int = 1_000
    # Static membership: this process's stable id (each group adds its name); None
    # for dynamic membership.
    instance_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaOptions:
        instance_id: str | None = None
        if settings.kafka_static_membership:
            instance_id = settings.kafka_group_instance_id or (
                f"{settings.instance}-{socket.gethostname()}"
            )
        return cls(
            retry_backoff_ms=settings.kafka_retry_backoff_ms,
            retry_backoff_max_ms=settings.kafka_retry_backoff_max_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
            commit_interval_ms=settings.kafka_commit_interval_ms,
            instance_id=instance_id,
        )

    def group_instance_id(self, group: str) -> str | None:
        """The static member id of this process in `group` (Kafka allows letters,
        digits, '.', '_' and '-', up to 249 characters)."""
        if not self.instance_id:
            return None
        return re.sub(r"[^A-Za-z0-9._-]", "-", f"{self.instance_id}-{group}")[:249]


def is_broker_outage(exc: BaseException) -> bool:
    """The broker (or the network to it) is away, not a request it refused."""
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, KafkaConnectionError | KafkaTimeoutError)
    return isinstance(exc, OSError | TimeoutError)


class _PatientClient(AIOKafkaClient):  # type: ignore[misc]
    """aiokafka's client, except that a failed refresh of the cluster's metadata waits
    before the next: the producer's sender and the consumer's fetcher ask for one as
    soon as the last failed, so without a pause they spin (and log) while the broker
    is away. The pause doubles from `retry_backoff_ms` up to `_backoff_max`."""

    _failed_refreshes = 0
    _backoff_max = 2.0

    async def _metadata_update(self, cluster_metadata: Any, topics: Any) -> bool:
        updated: bool = await super()._metadata_update(cluster_metadata, topics)
        if cluster_metadata is self.cluster:  # the refresher's, not a one-off probe
            if updated:
                self._failed_refreshes = 0
            else:
                self._failed_refreshes += 1
                delay = self._retry_backoff * 2 ** min(self._failed_refreshes - 1, 16)
                await asyncio.sleep(min(delay, self._backoff_max))
        return updated


def _patient(client: AIOKafkaClient, options: KafkaOptions) -> None:
    # The producer and the consumer build their client themselves; it is given the
    # pause on failed refreshes by class (the subclass adds no state of its own).
    client.__class__ = _PatientClient
    client._backoff_max = options.retry_backoff_max_ms / 1000


class KafkaBus(Bus):
    """Publishes with an idempotent, acks=all producer; hands out group consumers."""

    remote = True

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        topics: Sequence[str] = (),
        partitions: int = 3,
        replication_factor: int = 1,
        options: KafkaOptions | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.topics = list(topics)
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.options = options or KafkaOptions()
        self.outage = OutageLog("broker", log)
        self._producer: AIOKafkaProducer | None = None
        self._available = False
        self._watcher: asyncio.Task[None] | None = None
        # For `backlog` (scrape time): a consumer in no group that only reads offsets,
        # and an admin client that reads a group's committed positions and a topic's
        # partitions; started at the first scrape, kept until the bus stops.
        self._offsets: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._probing = asyncio.Lock()

    def tune(self, settings: Settings) -> None:
        self.options = KafkaOptions.from_settings(settings)

    @property
    def available(self) -> bool:
        return self._producer is not None and self._available

    def is_outage(self, exc: BaseException) -> bool:
        return is_broker_outage(exc)

    async def start(self) -> None:
        """One attempt to connect: creates missing topics and starts the producer.
        Raises while the broker is away (logged once per outage)."""
        if self._producer is not None:
            return
        try:
            if self.topics:
                await self.ensure_topics(self.topics)
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=2,
                retry_backoff_ms=self.options.retry_backoff_ms,
            )
            _patient(producer.client, self.options)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
        except Exception as exc:
            if is_broker_outage(exc):
                self.outage.failed(exc, bootstrap_servers=self.bootstrap_servers)
            raise
        self._producer = producer
        self._available = True
        self.outage.recovered()
        self._watcher = asyncio.create_task(self._watch(producer), name="kafka-watcher")

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics with the configured partitions and replication factor.

        With more than one replica a write (acks=all) must reach all but one of them
        (`min.insync.replicas`), so losing one broker loses no acknowledged event.
        """
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id=f"{self.client_id}-admin"
        )
        try:
            await admin.start()
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
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        offsets, self._offsets = self._offsets, None
        admin, self._admin = self._admin, None
        if offsets is not None:
            await offsets.stop()
        if admin is not None:
            await admin.close()
        producer, self._producer = self._producer, None
        self._available = False
        if producer is not None:
            await producer.stop()

    async def ready(self) -> bool:
        return self.available

    async def _watch(self, producer: AIOKafkaProducer) -> None:
        """Notice the broker going and coming back, without waiting for a publish."""
        while True:
            try:
                await asyncio.wait_for(self._probe(producer), 5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._available = False
                self.outage.failed(exc, bootstrap_servers=self.bootstrap_servers)
            else:
                self._available = True
                self.outage.recovered()
            await asyncio.sleep(WATCH_SECONDS if self._available else WATCH_DOWN_SECONDS)

    @staticmethod
    async def _probe(producer: AIOKafkaProducer) -> None:
        client = producer.client
        node = client.get_random_node()
        if node is None:
            raise KafkaConnectionError("no broker known")
        await client.send(node, MetadataRequest([]))

    async def publish(self, records: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None:
            raise BusUnavailable("the Kafka producer is not started")
        try:
            pending = [
                await producer.send(r.topic, value=r.value, key=r.key, headers=list(r.headers))
                for r in records
            ]
            # Each future resolves only when the broker acknowledged with acks=all.
            await asyncio.gather(*pending)
        except KafkaError as exc:
            if is_broker_outage(exc):
                self._available = False
                self.outage.failed(exc, bootstrap_servers=self.bootstrap_servers)
            raise
        if not self._available:
            self._available = True
            self.outage.recovered()

    async def backlog(self, *, group: str, topics: Sequence[str]) -> dict[str, int]:
        if not self.available:
            # Not before `start` has created the topics: asking for a topic's metadata
            # would have the broker create it with its own defaults.
            raise BusUnavailable("the Kafka bus is not connected")
        offsets, admin = await self._probes()
        described = await admin.describe_topics(list(topics))
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if t["error_code"] == 0
            for p in t["partitions"]
        ]
        totals = dict.fromkeys(topics, 0)
        if not partitions:
            return totals
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        ends = await offsets.end_offsets(partitions)
        firsts = await offsets.beginning_offsets(partitions)
        for tp in partitions:
            position = committed[tp].offset if tp in committed else -1
            # Retention may have deleted records the group never read: they are gone.
            start = max(position, firsts[tp])
            totals[tp.topic] += max(0, ends[tp] - start)
        return totals

    async def _probes(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        async with self._probing:
            if self._offsets is None:
                offsets = AIOKafkaConsumer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=f"{self.client_id}-offsets",
                    group_id=None,
                    enable_auto_commit=False,
                    retry_backoff_ms=self.options.retry_backoff_ms,
                )
                _patient(offsets._client, self.options)
                try:
                    await offsets.start()
                except BaseException:
                    await offsets.stop()
                    raise
                self._offsets = offsets
            if self._admin is None:
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.bootstrap_servers, client_id=f"{self.client_id}-probe"
                )
                try:
                    await admin.start()
                except BaseException:
                    await admin.close()
                    raise
                self._admin = admin
            return self._offsets, self._admin

    def consumer(self, *, group: str, topics: Sequence[str]) -> Consumer:
        return KafkaGroupConsumer(
            self.bootstrap_servers,
            group=group,
            topics=list(topics),
            client_id=self.client_id,
            options=self.options,
            outage=self.outage,
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


# LeaveGroup v3 (KIP-345) on the wire, which aiokafka lacks; named as Kafka names them.
class _LeaveGroupResponse_v3(Response):  # type: ignore[misc]
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        (
            "members",
            Array(
                ("member_id", String("utf-8")),
                ("group_instance_id", String("utf-8")),
                ("error_code", Int16),
            ),
        ),
    )


class _LeaveGroupRequest_v3(RequestStruct):  # type: ignore[misc]
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = _LeaveGroupResponse_v3
    SCHEMA = Schema(
        ("group", String("utf-8")),
        ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")))),
    )


class _LeaveAsStaticMember(Request[_LeaveGroupRequest_v3]):  # type: ignore[misc]
    """LeaveGroup v3 (KIP-345) naming the member by its static id, which aiokafka's
    own LeaveGroup (v0-v1) cannot: aiokafka never makes a static member leave."""

    API_KEY = 13

    def __init__(self, group: str, instance_id: str) -> None:
        self.group = group
        self.instance_id = instance_id

    def build(self, request_struct_class: type[_LeaveGroupRequest_v3]) -> _LeaveGroupRequest_v3:
        # An empty member id names the member by its instance id alone.
        return request_struct_class(self.group, [("", self.instance_id)])


class KafkaGroupConsumer(Consumer):
    """A consumer-group member; offsets are committed only when the caller says so."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group: str,
        topics: list[str],
        client_id: str,
        options: KafkaOptions | None = None,
        outage: OutageLog | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group = group
        self.topics = topics
        self.client_id = f"{client_id}-{group}"
        self.options = options or KafkaOptions()
        self.instance_id = self.options.group_instance_id(group)
        self.outage = outage or OutageLog("broker", log)
        self._consumer: AIOKafkaConsumer | None = None
        self.joined = False
        # Work finished by the handler (its transaction committed) but whose offset
        # is not committed yet; saved on revoke so the next owner skips it.
        self._done: dict[TopicPartition, int] = {}
        # When `_done` last went to the broker (or began to wait for it).
        self._committed_at = time.monotonic()

    def _new_consumer(self) -> AIOKafkaConsumer:
        options = self.options
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group,
            client_id=self.client_id,
            group_instance_id=self.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
            session_timeout_ms=options.session_timeout_ms,
            heartbeat_interval_ms=options.heartbeat_interval_ms,
            rebalance_timeout_ms=options.rebalance_timeout_ms,
            retry_backoff_ms=options.retry_backoff_ms,
        )
        _patient(consumer._client, options)
        return consumer

    async def start(self) -> None:
        """Join the group: returns once partitions are assigned. One attempt: raises
        while the broker is away (logged once per outage); call again later."""
        if self._consumer is not None:
            return
        consumer = self._new_consumer()
        consumer.subscribe(self.topics, listener=_SaveOnRevoke(self))
        self._consumer = consumer
        try:
            await consumer.start()
        except BaseException as exc:
            self._consumer = None
            await consumer.stop()
            if isinstance(exc, Exception) and is_broker_outage(exc):
                self.outage.failed(exc, group=self.group)
            raise
        self.joined = True
        self.outage.recovered()

    async def stop(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            # Bounded: aiokafka retries a commit while the broker is away. What is not
            # committed is redelivered to the next member, and its inbox ignores it.
            async with asyncio.timeout(STOP_COMMIT_SECONDS):
                await self._commit_done(None)
        except TimeoutError:
            log.warning(
                "positions not committed at stop; records will be redelivered",
                extra={"group": self.group},
            )
        finally:
            self._consumer = None
            await consumer.stop()
        if self.joined and self.instance_id is not None:
            await self._leave()
        self.joined = False

    async def _leave(self) -> None:
        """Take this static member out of its group now (a clean stop): its partitions
        go to the other members at once instead of after the session timeout."""
        assert self.instance_id is not None
        client = AIOKafkaClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            request_timeout_ms=5_000,
        )
        try:
            async with asyncio.timeout(5):
                await client.bootstrap()
                coordinator = await client.coordinator_lookup(0, self.group)
                response = await client.send(
                    coordinator, _LeaveAsStaticMember(self.group, self.instance_id)
                )
            errors = [response.error_code, *(m[2] for m in response.members)]
            if any(errors):
                raise for_code(next(e for e in errors if e))()
        except Exception as exc:
            log.info(
                "could not leave the group; its partitions move after the session timeout",
                extra={"group": self.group, "error": type(exc).__name__},
            )
        finally:
            await client.close()

    async def fetch(self, *, timeout: float, max_records: int) -> list[Record]:
        consumer = self._consumer
        if consumer is None:
            raise BusUnavailable(f"the consumer of {self.group} is not started")
        # Positions due go before the fetch: getmany moves the member past what it
        # returns, so nothing may fail between it and the caller.
        if self._waiting() and self._commit_due_in() <= _TIMER_SLACK:
            await self._commit_done(None)
        waiting = self._waiting()
        if waiting:
            # The rest are not due yet: an idle wait ends when they are.
            timeout = min(timeout, max(0.0, self._commit_due_in()))
        batches = await consumer.getmany(
            timeout_ms=math.ceil(timeout * 1000), max_records=max_records
        )
        if not batches and waiting and self._commit_due_in() <= _TIMER_SLACK:
            await self._commit_done(None)  # nothing handed out: nothing to lose
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

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per partition this member owns: the partition's end (its high watermark) less
        where it has handled to: the group's committed offset (or, before the group's
        first commit, the first offset kept), or a handled position still waiting to be
        committed. Round trips to the broker, asked at scrape time."""
        consumer = self._consumer
        if consumer is None:
            return {}
        owned = sorted(consumer.assignment())
        if not owned:
            return {}
        ends = await consumer.end_offsets(owned)
        committed = await asyncio.gather(*(consumer.committed(tp) for tp in owned))
        firsts: dict[TopicPartition, int] = {}
        if any(offset is None for offset in committed):
            firsts = await consumer.beginning_offsets(owned)
        return {
            (tp.topic, tp.partition): max(
                0,
                ends[tp] - max(firsts[tp] if offset is None else offset, self._done.get(tp, 0)),
            )
            for tp, offset in zip(owned, committed, strict=True)
        }

    def mark_done(self, record: Record) -> None:
        tp = TopicPartition(record.topic, record.partition)
        self._done[tp] = max(self._done.get(tp, 0), record.offset + 1)

    async def commit(self, records: Sequence[Record]) -> None:
        for (topic, partition), offset in next_positions(records).items():
            tp = TopicPartition(topic, partition)
            self._done[tp] = max(self._done.get(tp, 0), offset)
        await self._commit_done(None)

    async def commit_soon(self, records: Sequence[Record]) -> None:
        for (topic, partition), offset in next_positions(records).items():
            tp = TopicPartition(topic, partition)
            self._done[tp] = max(self._done.get(tp, 0), offset)
        if self._commit_due_in() <= _TIMER_SLACK:
            await self._commit_done(None)

    def _waiting(self) -> bool:
        """Handled positions wait for a commit that `commit_soon` put off (with no
        interval, every commit goes at once, and one that met an outage waits for
        the next batch's, as `commit` has it)."""
        return bool(self._done) and self.options.commit_interval_ms > 0

    def _commit_due_in(self) -> float:
        """Seconds until the positions noted in `_done` are due at the broker."""
        interval = self.options.commit_interval_ms / 1000
        return self._committed_at + interval - time.monotonic()

    async def _commit_done(self, only: set[TopicPartition] | None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        if only is None:
            self._committed_at = time.monotonic()
            # A partition moved to another member after its revoke was saved: the new
            # owner re-reads from the group's position (its inbox ignores the repeat).
            for tp in [tp for tp in self._done if tp not in assigned]:
                del self._done[tp]
        offsets = {
            tp: offset
            for tp, offset in self._done.items()
            if tp in assigned and (only is None or tp in only)
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member mid-batch: it re-reads from the
            # last committed offset and the inbox makes the repeat a no-op.
            log.warning(
                "offset commit refused; records will be redelivered",
                extra={"group": self.group, "error": type(exc).__name__},
            )
        except KafkaError as exc:
            if not is_broker_outage(exc):
                raise
            # The broker is away: the positions stay noted and go with the next commit
            # (a crash meanwhile redelivers, and the inbox makes that a no-op).
            self.outage.failed(exc, group=self.group)
            return
        for tp in offsets:
            self._done.pop(tp, None)
