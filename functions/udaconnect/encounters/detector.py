"""Group detection: concurrent deliveries of stored fixes share one detection transaction, each answered after it.

One thread per process drains a queue: everything waiting (up to MAX_BATCH) is detected in one transaction
(udaconnect.encounters.store), the new encounters' announcements are written to the outbox in it, and each
waiter is woken once it committed; the announcements are then published (what the broker does not take waits in
the outbox). Detection is serialised in the database anyway, so batching is what gives it throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from udaconnect.errors import InfrastructureError
from udaconnect.settings import Settings
from udaconnect.telemetry import metrics

log = logging.getLogger(__name__)
MAX_BATCH = 1000


@dataclass
class _Pending:
    report: tuple[str, str, int | None]
    future: asyncio.Future[None]
    error: BaseException | None = field(default=None, repr=False)


class Detector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.batches = self.fixes = self.created = 0
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="encounters", daemon=True)
        self._started = threading.Lock()

    async def detect(self, report: tuple[str, str, int | None], timeout: float = 25.0) -> None:
        """Return once the fix of `report` (source, id, index in a multi-fix report or None) is taken into
        account and committed."""
        pending = _Pending(report, asyncio.get_running_loop().create_future())
        if not self._thread.is_alive():
            with self._started:
                if not self._thread.is_alive():
                    self._thread.start()
        self._queue.put(pending)
        try:
            async with asyncio.timeout(timeout):
                await pending.future
        except TimeoutError:
            raise InfrastructureError(f"encounters were not committed within {timeout:.0f} s") from None
        if pending.error is not None:
            raise InfrastructureError(f"the database failed: {pending.error}") from pending.error

    def _run(self) -> None:
        from udaconnect.encounters import store
        from udaconnect.events import outbox
        from udaconnect.storage.database import engine as engine_for

        engine = engine_for(self.settings)
        window = timedelta(minutes=self.settings.encounter_window)
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = []
            try:
                with engine.begin() as conn:
                    created = store.detect(conn, [p.report for p in batch], self.settings.encounter_distance, window)
                    events = store.detected_events(created)
                    if events:
                        outbox.add(conn, events)
                self.batches += 1
                self.fixes += len(batch)
                self.created += len(created)
                metrics.ENCOUNTERS_OPENED.inc(len(created))
            except Exception as error:  # this batch fails (the broker redelivers it); the thread lives on
                log.warning("detection of %d fixes failed: %s", len(batch), error)
                for pending in batch:
                    pending.error = error
            _wake(batch)
            if events:
                outbox.deliver(engine, self.settings, events)


def _wake(batch: list[_Pending]) -> None:
    for pending in batch:
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting any more
            pending.future.get_loop().call_soon_threadsafe(_settle, pending.future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@lru_cache(maxsize=2)
def for_settings(settings: Settings) -> Detector:
    return Detector(settings)
