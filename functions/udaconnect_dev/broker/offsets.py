"""Per-partition bookkeeping: which records wait, which are being delivered, and the offset safe to commit."""

from __future__ import annotations

from collections import deque
from typing import Any


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
