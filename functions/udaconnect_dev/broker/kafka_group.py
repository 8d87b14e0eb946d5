"""Open a kafka-python consumer in a Trigger's consumer group, and the offsets it commits."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from udaconnect.events.kafka_client import offsets
from udaconnect_dev.broker.offsets import PartitionTracker

log = logging.getLogger("udaconnect_dev.broker.consumer")


class GroupMember(Protocol):
    def on_partitions_revoked(self, revoked: Any) -> None: ...

    def on_partitions_assigned(self, assigned: Any) -> None: ...


def open_consumer(group: str, topic: str, bootstrap_servers: str, tuning: Any, member: GroupMember) -> Any:
    """Manual commits only; rebalance callbacks (run inside poll, on the polling thread) go to `member`."""
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked: Any) -> None:
            member.on_partitions_revoked(revoked)

        def on_partitions_assigned(self, assigned: Any) -> None:
            member.on_partitions_assigned(assigned)

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        # Every group has committed offsets before it joins (topics.init_offsets), so a partition without one
        # only means Kafka lost them (an in-memory Kafka restarted, its topic new): read it from its start.
        auto_offset_reset="earliest",
        session_timeout_ms=tuning.session_timeout_ms,
        heartbeat_interval_ms=tuning.heartbeat_interval_ms,
        max_poll_interval_ms=tuning.max_poll_interval_ms,
        max_poll_records=tuning.max_poll_records,
        fetch_max_wait_ms=tuning.fetch_max_wait_ms,
    )
    consumer.subscribe([topic], listener=Listener())
    return consumer


class Committer:
    """Commits each partition's committable offset once it moved, at most every `interval` seconds unless forced."""

    def __init__(self, group: str, interval: float) -> None:
        self.group, self.interval = group, interval
        self.committed: dict[Any, int] = {}
        self._last = 0.0

    def commit(
        self,
        consumer: Any,
        trackers: dict[Any, PartitionTracker],
        lock: threading.Lock,
        force: bool = False,
        only: set[Any] | None = None,
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        with lock:
            positions = {
                tp: offset
                for tp, tracker in trackers.items()
                if (only is None or tp in only)
                and (offset := tracker.committable()) is not None
                and offset != self.committed.get(tp)
            }
        if not positions:
            return
        try:
            consumer.commit(offsets(positions))
            with lock:
                self.committed.update(positions)
        except Exception as exc:  # e.g. a rebalance in progress: the next commit carries the same offsets
            log.warning("%s: commit failed: %s", self.group, exc)
