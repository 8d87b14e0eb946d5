"""Every kafka-python touch of the local broker: a Trigger's consumer group member, the topics and initial offsets
the Knative controllers would make, and the one workaround for kafka-python's fetcher (see GroupMember.poll).

The emulator's own module rather than more of udaconnect.events.kafka_client: no function joins a consumer group,
creates topics or pauses partitions, so none of this belongs in the image. It uses kafka_client's record and offset
conversions (tooling may import the runtime, never the reverse). kafka-python is pinned to 3.0.x (pyproject.toml):
the workaround reads that version's fetcher state directly.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from udaconnect.events.event import Event
from udaconnect.events.kafka_client import event_of, offsets
from udaconnect_dev.broker.errors import ConfigError

log = logging.getLogger(__name__)
Partition = Any  # kafka-python's TopicPartition (topic, partition): an opaque key outside this module


class Rebalance(Protocol):
    """Called inside poll(), on the polling thread."""

    def on_partitions_revoked(self, revoked: Any) -> None: ...

    def on_partitions_assigned(self, assigned: Any) -> None: ...


class GroupMember:
    """A member of `group` reading `topic`: manual commits only; rebalances are told to `listener`."""

    def __init__(self, group: str, topic: str, bootstrap_servers: str, tuning: Any, listener: Rebalance) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                listener.on_partitions_revoked(revoked)

            def on_partitions_assigned(self, assigned: Any) -> None:
                listener.on_partitions_assigned(assigned)

        self.consumer = KafkaConsumer(
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
        self.consumer.subscribe([topic], listener=Listener())

    def poll(self, timeout_ms: int) -> dict[Partition, list[tuple[int, Event]]]:
        """partition -> (offset, event) for the records fetched (events not validated)."""
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        release_parked(self.consumer)  # else a partition paused by flow control may never deliver again
        return {tp: [(record.offset, event_of(record)) for record in records] for tp, records in batches.items()}

    def assignment(self) -> set[Partition]:
        return set(self.consumer.assignment())

    def paused(self) -> set[Partition]:
        return set(self.consumer.paused())

    def pause(self, tp: Partition) -> None:
        self.consumer.pause(tp)

    def resume(self, tp: Partition) -> None:
        self.consumer.resume(tp)

    def position(self, tp: Partition) -> int:
        return int(self.consumer.position(tp))

    def highwater(self, tp: Partition) -> int | None:
        return self.consumer.highwater(tp)

    def refetch(self, tp: Partition, position: int) -> None:
        """Drop whatever the fetcher parked for `tp` and fetch it again from `position` (none skipped): the cure
        once a partition is seen stuck."""
        fetcher = self.consumer._fetcher
        fetcher._paused_partition_records.pop(tp, None)
        fetcher._paused_completed_fetches.pop(tp, None)
        self.consumer.seek(tp, position)

    def commit(self, positions: dict[Partition, int]) -> None:
        """Commit partition -> next offset; raises on failure (e.g. a rebalance in progress)."""
        self.consumer.commit(offsets(positions))

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def release_parked(consumer: Any) -> bool:
    """Let the fetcher hand back records it parked for a paused partition; call after every poll.

    kafka-python (3.0.12, its port of KAFKA-7548) parks a paused partition's half-returned records and restores
    them only while its in-line slot is None; but a fully drained slot keeps the spent (falsy) PartitionRecords, and
    a parked partition is never fetched again. So once pause() met half-returned records, that partition silently
    stopped for good after resume(): no error, no rebalance, position below the high-water mark. Emptying the spent
    slot is what the fetcher itself means by "fully consumed". Returns whether it did anything.
    """
    fetcher = consumer._fetcher
    slot = fetcher._next_partition_records
    if not fetcher._paused_partition_records or slot is None or slot:  # nothing parked, slot free or still full
        return False
    fetcher._next_partition_records = None
    return True


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
