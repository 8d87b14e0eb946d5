"""One Trigger's consumer group, a task on the DeliveryLoop: poll the broker topic, filter, start matching events'
deliveries (ordered: one at a time per partition; unordered: bounded concurrency) and commit only finished offsets."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from udaconnect.events.event import Event, validated
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.kafka_adapter import GroupMember
from udaconnect_dev.broker.offsets import Committer, PartitionTracker
from udaconnect_dev.broker.progress import ProgressWatch, watch
from udaconnect_dev.broker.tuning import ConsumerTuning

__all__ = ["ConsumerTuning", "Deliveries", "TriggerConsumer"]

log = logging.getLogger(__name__)


class Deliveries:
    """The deliveries under way, as tasks on the loop. `lock` guards the trackers (status readers are on other
    threads); an outcome other than "aborted" finishes its record and starts what its tracker now allows."""

    def __init__(self, deliver: Callable[[Event], Awaitable[str]], lock: threading.Lock, stop: threading.Event,
                 name: str = "") -> None:
        self.deliver, self.lock, self.stop, self.name = deliver, lock, stop, name
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, tracker: PartitionTracker) -> None:
        """Start what `tracker` allows now; on the loop, holding `lock`."""
        loop = asyncio.get_running_loop()
        for offset, event in tracker.startable():
            task = loop.create_task(self._one(tracker, offset, event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _one(self, tracker: PartitionTracker, offset: int, event: Event) -> None:
        try:
            outcome = await self.deliver(event)
        except asyncio.CancelledError:  # drain gave up on it: it stays unfinished, redelivered after a restart
            outcome = "aborted"
        except Exception as exc:
            log.error("%s: delivery of offset %s crashed: %r", self.name, offset, exc)
            outcome = "aborted"
        with self.lock:
            if outcome != "aborted":  # an aborted record stays unfinished: redelivered after a restart
                tracker.finish(offset)
            if not self.stop.is_set():
                self.start(tracker)

    async def drain(self, timeout: float) -> None:
        """Once stopping: wait up to `timeout` for running deliveries, cancel the rest."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        late = set(self.tasks)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)


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
        self.matches, self.ordered, self.loop, self.stop = matches, ordered, loop, loop.stop
        self.tuning = tuning = tuning or ConsumerTuning()
        self.ready = threading.Event()
        self.done = threading.Event()
        self.failed: BaseException | None = None
        self.trackers: dict[Any, PartitionTracker] = {}
        self.committer = Committer(group, tuning.commit_interval)
        self.progress = ProgressWatch(tuning.stall_after)
        self._last_watch = 0.0
        self._lock = threading.Lock()  # the trackers, read by /status on the ingress's threads
        self.deliveries = Deliveries(deliver, self._lock, self.stop, group)
        self._member: GroupMember | None = None

    def start(self) -> None:
        self.loop.call(self._spawn)

    def _spawn(self) -> None:
        self._task = self.loop.loop.create_task(self._run())

    def join(self, timeout: float | None = None) -> None:
        self.done.wait(timeout)

    def alive(self) -> bool:
        return not self.done.is_set()

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

    # Rebalance callbacks: the group member awaits them inside poll.
    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self._member is not None:
            await self._commit(self._member, force=True, only=set(revoked))
        with self._lock:
            for tp in revoked:
                self.trackers.pop(tp, None)
                self.committer.committed.pop(tp, None)
                self.progress.forget(tp)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        with self._lock:
            for tp in assigned:
                self.trackers.setdefault(tp, self._tracker())

    def _tracker(self) -> PartitionTracker:
        return PartitionTracker(1 if self.ordered else self.tuning.max_in_flight_per_partition)

    async def _run(self) -> None:
        try:
            member = await self._join()
            while not await self._loop(member):
                # Stuck outside the group: a new member joins afresh and resumes from the committed offsets.
                await member.close()
                member = await self._join()
        except BaseException as exc:  # surfaced to the data plane, which refuses to start
            self.failed = exc
            log.exception("consumer group %s failed", self.group)
            self.ready.set()
        finally:
            self.done.set()

    async def _join(self) -> GroupMember:
        self._member = await GroupMember.join(self.group, self.topic, self.bootstrap_servers, self.tuning, self)
        return self._member

    async def _loop(self, member: GroupMember) -> bool:
        """Poll until stopped (True), or until the member has held no partition for `rejoin_after` seconds
        (False): seen after a restart of tansu, a rebalance that never completed while the consumer polled on."""
        unassigned_since = time.monotonic()
        while not self.stop.is_set():
            batches = await member.poll(timeout_ms=100)
            if member.assignment():
                unassigned_since = time.monotonic()
            elif time.monotonic() - unassigned_since > self.tuning.rejoin_after:
                log.warning("%s: no partitions for %.0f s; leaving and joining the group again",
                            self.group, self.tuning.rejoin_after)
                return False
            if not self.ready.is_set() and member.assignment():
                self.ready.set()  # its start offsets were committed before it joined (kafka_adapter.init_offsets)
            with self._lock:
                for tp, records in batches.items():
                    tracker = self.trackers.setdefault(tp, self._tracker())
                    for offset, event in records:
                        self._accept(tracker, offset, event)
                    self.deliveries.start(tracker)
                self._flow_control(member)
            await self._commit(member)
            await self._watch(member)
        await self._drain(member)
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

    def _flow_control(self, member: GroupMember) -> None:
        limit = self.tuning.buffer_per_partition
        paused = member.paused()
        for tp, tracker in self.trackers.items():
            if tracker.size >= limit and tp not in paused:
                member.pause(tp)
            elif tracker.size < limit // 2 and tp in paused:
                member.resume(tp)

    async def _watch(self, member: GroupMember) -> None:
        now = time.monotonic()
        if now - self._last_watch >= 1.0 and self.ready.is_set():
            self._last_watch = now
            await watch(member, self.progress, self._lock, self.group, now)

    async def _commit(self, member: GroupMember, force: bool = False, only: set[Any] | None = None) -> None:
        await self.committer.commit(member, self.trackers, self._lock, force, only)

    async def _drain(self, member: GroupMember) -> None:
        await self.deliveries.drain(self.tuning.drain_timeout)
        await self._commit(member, force=True)
        await member.close()
