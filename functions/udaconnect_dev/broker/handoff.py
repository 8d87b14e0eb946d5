"""Between a consumer's poll thread and the DeliveryLoop: started deliveries cross in batches (one loop wake-up
per poll) and finished ones go back to their PartitionTrackers in batches (one lock acquisition per batch)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from udaconnect.events.event import Event
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.offsets import PartitionTracker

log = logging.getLogger(__name__)
Started = list[tuple[PartitionTracker, int, Event]]


class Handoff:
    """`lock` guards the trackers (the consumer holds it while polling); outcomes other than "aborted" finish
    their record, and each batch of finishes starts what its trackers now allow (unless stopping)."""

    def __init__(
        self, loop: DeliveryLoop, deliver: Callable[[Event], Awaitable[str]], lock: threading.Lock, name: str = ""
    ) -> None:
        self.loop, self.deliver, self.lock, self.name = loop, deliver, lock, name
        self.tasks: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[PartitionTracker, int, str]] = []

    def submit(self, started: Started) -> None:
        """From the poll thread."""
        if started:
            self.loop.call(self._launch, started)

    def _launch(self, started: Started) -> None:
        loop = self.loop.loop
        for tracker, offset, event in started:
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
        if not self._finished:
            self.loop.loop.call_soon(self._flush)
        self._finished.append((tracker, offset, outcome))

    def _flush(self) -> None:
        finished, self._finished = self._finished, []
        if not finished:
            return
        started: Started = []
        with self.lock:
            for tracker, offset, outcome in finished:
                if outcome != "aborted":  # an aborted record stays unfinished: redelivered after a restart
                    tracker.finish(offset)
            if not self.loop.stop.is_set():
                for tracker in {id(t): t for t, _, _ in finished}.values():
                    started.extend((tracker, offset, event) for offset, event in tracker.startable())
        if started:
            self._launch(started)

    def drain(self, timeout: float) -> None:
        """From the poll thread, once stopping: wait up to `timeout` for running deliveries, cancel the rest."""
        self.loop.run(self._drain(timeout), timeout + 5)

    async def _drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        late = set(self.tasks)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        self._flush()
