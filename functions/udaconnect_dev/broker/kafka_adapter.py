"""Every Kafka client touch of the local broker: a Trigger's consumer group member (aiokafka, on the delivery loop),
and the topics and initial offsets the Knative controllers would make (kafka-python, before the loop runs; the
broker's writes go through the runtime's udaconnect.events.kafka_client).

Why aiokafka for the groups (the functions keep kafka-python, as the design card says): `python -m udaconnect_dev.bench
dispatch`, 2026-12-01, 2 cores, load 0.3-0.8, five runs each interleaved, medians: this broker 48.5 us of CPU per
event, 14.1k events/s, 3 % of a core idle; the broker before the move (its groups on kafka-python, a poll thread per
Trigger handing batches to the loop) 65.5 us, 12.3k events/s, 9 % idle (the only other change between the two, the
dispatcher's parser, measured equal in `bench http-client`). Consuming alone, kafka-python cost 21-26 us a
record, aiokafka 9-12. It also needs no patch of kafka-python 3.0.x's private fetcher state (a paused partition's
parked records were never handed back; see fetch_fix.py in the history).

The emulator's own module rather than more of udaconnect.events.kafka_client: no function joins a consumer group,
creates topics or pauses partitions, so none of this belongs in the image.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from udaconnect.events.event import Event
from udaconnect.events.kafka_binding import KafkaMessage, from_binary
from udaconnect.events.kafka_client import offsets
from udaconnect_dev.broker.errors import ConfigError

log = logging.getLogger(__name__)
Partition = Any  # aiokafka's TopicPartition (topic, partition): an opaque key outside this module


class Rebalance(Protocol):
    """Awaited inside poll(), on the delivery loop."""

    async def on_partitions_revoked(self, revoked: Any) -> None: ...

    async def on_partitions_assigned(self, assigned: Any) -> None: ...


class GroupMember:
    """A member of `group` reading `topic` on the running event loop (aiokafka): manual commits only; rebalances
    are told to `listener`. `await GroupMember.join(...)` returns once it started."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer

    @classmethod
    async def join(
        cls, group: str, topic: str, bootstrap_servers: str, tuning: Any, listener: Rebalance
    ) -> GroupMember:
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: Any) -> None:
                await listener.on_partitions_revoked(revoked)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                await listener.on_partitions_assigned(assigned)

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            # Every group has committed offsets before it joins (init_offsets), so a partition without one only
            # means Kafka lost them (an in-memory Kafka restarted, its topic new): read it from its start.
            auto_offset_reset="earliest",
            session_timeout_ms=tuning.session_timeout_ms,
            heartbeat_interval_ms=tuning.heartbeat_interval_ms,
            max_poll_interval_ms=tuning.max_poll_interval_ms,
            max_poll_records=tuning.max_poll_records,
            fetch_max_wait_ms=tuning.fetch_max_wait_ms,
        )
        consumer.subscribe([topic], listener=Listener())
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return cls(consumer)

    async def poll(self, timeout_ms: int) -> dict[Partition, list[tuple[int, Event]]]:
        """partition -> (offset, event) for the records fetched (events not validated)."""
        batches = await self.consumer.getmany(timeout_ms=timeout_ms)
        return {tp: [(record.offset, _event(record)) for record in records] for tp, records in batches.items()}

    def assignment(self) -> set[Partition]:
        return set(self.consumer.assignment())

    def paused(self) -> set[Partition]:
        return set(self.consumer.paused())

    def pause(self, tp: Partition) -> None:
        self.consumer.pause(tp)

    def resume(self, tp: Partition) -> None:
        self.consumer.resume(tp)

    async def position(self, tp: Partition) -> int:
        return int(await self.consumer.position(tp))

    def highwater(self, tp: Partition) -> int | None:
        return self.consumer.highwater(tp)

    def refetch(self, tp: Partition, position: int) -> None:
        """Fetch `tp` again from `position` (none skipped): the cure once a partition is seen stuck."""
        self.consumer.seek(tp, position)

    async def commit(self, positions: dict[Partition, int]) -> None:
        """Commit partition -> next offset; raises on failure (e.g. a rebalance in progress)."""
        await self.consumer.commit(positions)

    async def close(self) -> None:
        await self.consumer.stop()


def _event(record: Any) -> Event:
    return from_binary(KafkaMessage(dict(record.headers or ()), record.key, record.value))


def ensure_topics(bootstrap_servers: str, topics: dict[str, tuple[int, int]],
                  configs: dict[str, dict[str, str]] | None = None) -> None:
    """Create the topics (name -> partitions, replication factor) that do not exist yet, with their configs."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="udaconnect-broker")
    except KafkaError as exc:
        raise ConfigError(f"Kafka at {bootstrap_servers} is not reachable: {exc!r}") from exc
    try:
        brokers = max(len(admin.describe_cluster().get("brokers") or []), 1)
        existing = set(admin.list_topics())
        for topic, (partitions, replication) in topics.items():
            if topic in existing:
                continue
            # The cluster's factor (one Strimzi broker) may exceed a local single-node Kafka's broker count.
            factor = min(replication, brokers)
            try:
                admin.create_topics([NewTopic(topic, partitions, factor, topic_configs=(configs or {}).get(topic))])
                log.info("created topic %s (%d partitions, replication %d)", topic, partitions, factor)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def init_offsets(bootstrap_servers: str, groups: dict[str, str], start: str = "end") -> dict[str, dict[int, int]]:
    """Commit, for every partition a group has no committed offset for, the end of that partition now (or its
    beginning, for topics made anew after a Kafka that kept them in memory restarted).

    Knative's rule (eventing-kafka's InitOffsets, called by the Kafka broker's Trigger reconciler before the
    Trigger is Ready): a new Trigger starts at the end of the topic *as of its creation*, and that start is
    committed at once, so no event written afterwards is skipped however late the group joins or rebalances.
    A group that has offsets keeps them (a restart resumes where it stopped). Returns what was committed.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    done: dict[str, dict[int, int]] = {}
    for group, topic in groups.items():
        try:
            # A consumer that assigns partitions itself never joins the group: its commit is the group's
            # starting point, accepted while the group has no members (as the controller's offset manager does).
            consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False)
        except KafkaError as exc:
            raise ConfigError(f"Kafka at {bootstrap_servers} is not reachable: {exc!r}") from exc
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not partitions:
                raise ConfigError(f"topic {topic} of consumer group {group} does not exist")
            missing = [tp for tp in partitions if consumer.committed(tp) is None]
            if missing:
                ends = consumer.end_offsets(missing) if start == "end" else consumer.beginning_offsets(missing)
                consumer.commit(offsets(ends))
                done[group] = {tp.partition: offset for tp, offset in ends.items()}
                log.info("%s: initial offsets committed at the end of %s: %s", group, topic, done[group])
        finally:
            consumer.close(autocommit=False)
    return done
