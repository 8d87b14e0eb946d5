"""Notice a partition that stops moving while Kafka holds records past it (the standing rule: none are lost)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from udaconnect_dev.broker.kafka_adapter import GroupMember

log = logging.getLogger(__name__)


class ProgressWatch:
    """Per partition: lag (high-water mark minus fetch position) and whether it stalled: not paused, records past
    its position, and the position unchanged for `stall_after` seconds. Not thread-safe: the owner holds a lock."""

    def __init__(self, stall_after: float = 10.0) -> None:
        self.stall_after = stall_after
        self.lag: dict[Any, int] = {}
        self.stalled: set[Any] = set()
        self.stalls = 0  # episodes so far
        self._still: dict[Any, tuple[int, float]] = {}  # tp -> (position, unchanged since)

    def observe(self, tp: Any, position: int, highwater: int | None, paused: bool, now: float) -> bool:
        """Record one look at `tp`; True when it has just stalled (once per episode)."""
        lag = self.lag[tp] = max(highwater - position, 0) if highwater is not None else 0
        seen = self._still.get(tp)
        if seen is None or seen[0] != position or paused or not lag:
            self._still[tp] = (position, now)
            self.stalled.discard(tp)
            return False
        if tp in self.stalled or now - seen[1] < self.stall_after:
            return False
        self.stalled.add(tp)
        self.stalls += 1
        return True

    def forget(self, tp: Any) -> None:
        self.lag.pop(tp, None)
        self.stalled.discard(tp)
        self._still.pop(tp, None)


async def watch(consumer: GroupMember, progress: ProgressWatch, lock: threading.Lock, group: str, now: float) -> None:
    """Look at every assigned partition once; a stalled one is re-fetched from its position."""
    paused = consumer.paused()
    for tp in consumer.assignment():
        position = await consumer.position(tp)
        with lock:
            stalled = progress.observe(tp, position, consumer.highwater(tp), tp in paused, now)
        if stalled:
            # Not expected: say so loudly, and fetch it again from the same position.
            log.warning(
                "%s: %s stalled at offset %s below high-water mark %s; fetching it again",
                group,
                tp,
                position,
                consumer.highwater(tp),
            )
            consumer.refetch(tp, position)
