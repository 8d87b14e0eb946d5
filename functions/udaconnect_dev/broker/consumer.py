"""One Trigger's consumer group: poll the broker topic, filter, hand matching events to the DeliveryLoop
(ordered: one at a time per partition; unordered: bounded concurrency) and commit only finished offsets."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from udaconnect.events.event import Event, validated
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.handoff import Handoff, Started
from udaconnect_dev.broker.kafka_adapter import GroupMember
from udaconnect_dev.broker.offsets import Committer, PartitionTracker
from udaconnect_dev.broker.progress import ProgressWatch, watch
from udaconnect_dev.broker.tuning import ConsumerTuning

__all__ = ["ConsumerTuning", "TriggerConsumer"]

log = logging.getLogger(__name__)


class TriggerConsumer:
    def __init__(
        self,
        group: str,
        topic: str,
        bootstrap_servers: str,
        matches: Callable[[Mapping[str, str]], bool],
        deliver: Callable[[Event], Awaitable[str]],
        ordered: bool,
        loop: DeliveryLoop,
        tuning: ConsumerTuning | None = None,
    ) -> None:
        self.group, self.topic, self.bootstrap_servers = group, topic, bootstrap_servers
        self.matches, self.ordered, self.stop = matches, ordered, loop.stop
        self.tuning = tuning = tuning or ConsumerTuning()
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.trackers: dict[Any, PartitionTracker] = {}
        self.committer = Committer(group, tuning.commit_interval)
        self.progress = ProgressWatch(tuning.stall_after)
        self._last_watch = 0.0
        self._lock = threading.Lock()  # the trackers, shared with the DeliveryLoop's thread
        self.handoff = Handoff(loop, deliver, self._lock, group)
        self._thread = threading.Thread(target=self._run, name=group, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def in_flight(self) -> int:
        with self._lock:
            return sum(t.size for t in self.trackers.values())

    def progress_status(self) -> dict[str, Any]:
        """Records in Kafka not yet fetched (fetch_lag) and partitions that stopped short of them (ProgressWatch)."""
        with self._lock:
            progress = self.progress
            return {
                "fetch_lag": sum(progress.lag.values()),
                "stalled": sorted(tp.partition for tp in progress.stalled),
                "stalls": progress.stalls,
            }

    # Rebalance callbacks: the group member calls them inside poll, on this thread.
    def on_partitions_revoked(self, revoked: Any) -> None:
        self._commit(self._consumer, force=True, only=set(revoked))
        with self._lock:
            for tp in revoked:
                self.trackers.pop(tp, None)
                self.committer.committed.pop(tp, None)
                self.progress.forget(tp)

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self._lock:
            for tp in assigned:
                self.trackers.setdefault(tp, self._tracker())

    def _tracker(self) -> PartitionTracker:
        return PartitionTracker(1 if self.ordered else self.tuning.max_in_flight_per_partition)

    def _run(self) -> None:
        try:
            self._consumer = self._join()
            while not self._loop(self._consumer):
                # Stuck outside the group: a new member joins afresh and resumes from the committed offsets.
                self._consumer.close()
                self._consumer = self._join()
        except BaseException as exc:  # surfaced to the data plane, which refuses to start
            self.failed = exc
            log.exception("consumer group %s failed", self.group)
            self.ready.set()

    def _join(self) -> GroupMember:
        return GroupMember(self.group, self.topic, self.bootstrap_servers, self.tuning, self)

    def _loop(self, consumer: GroupMember) -> bool:
        """Poll until stopped (True), or until the member has held no partition for `rejoin_after` seconds
        (False): seen after a restart of tansu, a rebalance that never completed while the consumer polled on."""
        unassigned_since = time.monotonic()
        while not self.stop.is_set():
            batches = consumer.poll(timeout_ms=100)
            if consumer.assignment():
                unassigned_since = time.monotonic()
            elif time.monotonic() - unassigned_since > self.tuning.rejoin_after:
                log.warning("%s: no partitions for %.0f s; leaving and joining the group again",
                            self.group, self.tuning.rejoin_after)
                return False
            if not self.ready.is_set() and consumer.assignment():
                self.ready.set()  # its start offsets were committed before it joined (kafka_adapter.init_offsets)
            started: Started = []
            with self._lock:
                for tp, records in batches.items():
                    tracker = self.trackers.setdefault(tp, self._tracker())
                    for offset, event in records:
                        self._accept(tracker, offset, event)
                    started.extend((tracker, offset, event) for offset, event in tracker.startable())
                self._flow_control(consumer)
            self.handoff.submit(started)  # one wake-up of the loop per poll
            self._commit(consumer)
            self._watch(consumer)
        self._drain(consumer)
        return True

    def _accept(self, tracker: PartitionTracker, offset: int, event: Event) -> None:
        try:
            matched = self.matches(validated(event).attributes)
        except Exception as exc:  # an unreadable record is skipped, as the broker never accepts one
            log.warning("%s: skipping record %s: %s", self.group, offset, exc)
            matched = False
        if matched:
            tracker.add(offset, event)
        else:
            tracker.skip(offset)

    def _flow_control(self, consumer: GroupMember) -> None:
        limit = self.tuning.buffer_per_partition
        paused = consumer.paused()
        for tp, tracker in self.trackers.items():
            if tracker.size >= limit and tp not in paused:
                consumer.pause(tp)
            elif tracker.size < limit // 2 and tp in paused:
                consumer.resume(tp)

    def _watch(self, consumer: GroupMember) -> None:
        now = time.monotonic()
        if now - self._last_watch >= 1.0 and self.ready.is_set():
            self._last_watch = now
            watch(consumer, self.progress, self._lock, self.group, now)

    def _commit(self, consumer: GroupMember, force: bool = False, only: set[Any] | None = None) -> None:
        self.committer.commit(consumer, self.trackers, self._lock, force, only)

    def _drain(self, consumer: GroupMember) -> None:
        self.handoff.drain(self.tuning.drain_timeout)
        self._commit(consumer, force=True)
        consumer.close()
