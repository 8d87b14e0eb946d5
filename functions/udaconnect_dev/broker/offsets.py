"""Per-partition bookkeeping: which records wait, which are being delivered, the offset safe to commit, and the
Committer that commits it."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

log = logging.getLogger("udaconnect_dev.broker.consumer")


class PartitionTracker:
    """The committable offset never passes an unfinished record, so a crash loses no accepted event.
    Not thread-safe: the owner holds a lock."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self.pending: deque[tuple[int, Any]] = deque()
        self.in_flight: set[int] = set()
        #: One past the highest offset seen; None until the first record.
        self.next_offset: int | None = None

    def add(self, offset: int, item: Any) -> None:
        self.pending.append((offset, item))
        self._seen(offset)

    def skip(self, offset: int) -> None:
        """A record that needs no delivery (filtered out): done as soon as everything before it is."""
        self._seen(offset)

    def startable(self) -> list[tuple[int, Any]]:
        """Records to start now; ordered delivery is max_in_flight = 1."""
        started = []
        while self.pending and len(self.in_flight) < self.max_in_flight:
            offset, item = self.pending.popleft()
            self.in_flight.add(offset)
            started.append((offset, item))
        return started

    def finish(self, offset: int) -> None:
        self.in_flight.discard(offset)

    def committable(self) -> int | None:
        """The offset to commit: the lowest unfinished record, else one past the last seen."""
        unfinished = list(self.in_flight)
        if self.pending:
            unfinished.append(self.pending[0][0])
        return min(unfinished) if unfinished else self.next_offset

    @property
    def size(self) -> int:
        return len(self.pending) + len(self.in_flight)

    def _seen(self, offset: int) -> None:
        if self.next_offset is None or offset >= self.next_offset:
            self.next_offset = offset + 1


class Committer:
    """Commits each partition's committable offset once it moved, at most every `interval` seconds unless forced."""

    def __init__(self, group: str, interval: float) -> None:
        self.group, self.interval = group, interval
        self.committed: dict[Any, int] = {}
        self._last = 0.0

    async def commit(
        self,
        member: Any,
        trackers: dict[Any, PartitionTracker],
        lock: threading.Lock,
        force: bool = False,
        only: set[Any] | None = None,
    ) -> None:
        """`member`: the group member (kafka_adapter.GroupMember) whose partitions these are."""
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
            await member.commit(positions)
            with lock:
                self.committed.update(positions)
        except Exception as exc:  # e.g. a rebalance in progress: the next commit carries the same offsets
            log.warning("%s: commit failed: %s", self.group, exc)
