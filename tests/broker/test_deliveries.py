"""A consumer's deliveries on the DeliveryLoop: bounded per partition, finished into their trackers, drained on stop."""

from __future__ import annotations

import asyncio
import threading
import time

from udaconnect.events.event import Event
from udaconnect_dev.broker.consumer import Deliveries
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.offsets import PartitionTracker


def _wait(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def _start(loop: DeliveryLoop, deliveries: Deliveries, tracker: PartitionTracker, offsets: range) -> None:
    """What the consumer does after a poll, on the loop."""

    def start() -> None:
        with deliveries.lock:
            for offset in offsets:
                tracker.add(offset, Event({"id": str(offset)}))
            deliveries.start(tracker)

    loop.call(start)


def test_every_event_is_delivered_within_each_partitions_limit_and_committed():
    stop = threading.Event()
    loop = DeliveryLoop(stop).start()
    busy = {"now": 0, "max": 0}
    delivered: list[str] = []

    async def deliver(event: Event) -> str:
        busy["now"] += 1
        busy["max"] = max(busy["max"], busy["now"])
        await asyncio.sleep(0.001)  # a delivery that takes a while, so deliveries overlap (not a wait for anything)
        busy["now"] -= 1
        delivered.append(event.attributes["id"])
        return "delivered"

    try:
        deliveries = Deliveries(deliver, threading.Lock(), stop)
        unordered, ordered = PartitionTracker(5), PartitionTracker(1)
        _start(loop, deliveries, unordered, range(0, 100))
        _start(loop, deliveries, ordered, range(0, 30))
        _start(loop, deliveries, unordered, range(100, 150))
        assert _wait(lambda: len(delivered) == 180)
        assert _wait(lambda: unordered.committable() == 150 and ordered.committable() == 30)
        assert busy["max"] <= 5 + 1 and unordered.size == ordered.size == 0  # five unordered, one ordered at most
    finally:
        loop.close()


def test_drain_cancels_what_does_not_finish_and_leaves_it_uncommitted():
    stop = threading.Event()
    loop = DeliveryLoop(stop).start()
    outcomes: list[bool] = []

    async def deliver(event: Event) -> str:
        if event.attributes["id"] == "1":
            await asyncio.sleep(60)  # a subscriber that never answers
        if event.attributes["id"] == "2":
            outcomes.append(await loop.pause(60))  # a backoff wait, ended by stopping
            return "aborted"
        return "delivered"

    try:
        deliveries = Deliveries(deliver, threading.Lock(), stop)
        tracker = PartitionTracker(10)
        _start(loop, deliveries, tracker, range(0, 4))
        assert _wait(lambda: tracker.in_flight == {1, 2})
        stop.set()
        loop.wake()
        began = time.monotonic()
        loop.run(deliveries.drain(0.3), 5)
        assert 0.25 < time.monotonic() - began < 3 and outcomes == [True]
        assert tracker.committable() == 1 and tracker.in_flight == {1, 2} and not deliveries.tasks
    finally:
        loop.close()
