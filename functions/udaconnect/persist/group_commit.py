"""Group commit: concurrent deliveries share one transaction, and each is answered only after it committed.

One writer thread drains a queue: it takes one waiting delivery (one row, or a multi-fix report's rows), then
everything else queued (up to MAX_BATCH rows),
stores them in one transaction (udaconnect.persist.store), commits, and hands each waiter its own outcome: an
asyncio waiter through one call_soon_threadsafe per batch, a thread through its own threading.Event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from udaconnect.errors import InfrastructureError
from udaconnect.persist.store import DUPLICATE, ERASED, REVOKED, STORED, UNKNOWN_PERSON, UNTRUSTED, Row, prepare, store
from udaconnect.plausibility import Rules
from udaconnect.storage.urls import libpq
from udaconnect.telemetry import metrics

__all__ = ["DUPLICATE", "ERASED", "REVOKED", "STORED", "UNKNOWN_PERSON", "UNTRUSTED", "GroupCommitWriter", "Row",
           "for_url"]
log = logging.getLogger(__name__)
MAX_BATCH = 2000


@dataclass
class _Pending:
    rows: list[Row]
    done: threading.Event | None = None  # a waiting thread
    future: asyncio.Future[str] | None = None  # or a waiting coroutine
    outcomes: list[str] = field(default_factory=list)
    error: BaseException | None = field(default=None, repr=False)


class GroupCommitWriter:
    def __init__(self, dsn: str, max_batch: int = MAX_BATCH, connect_timeout: int = 3,
                 devices_checked: bool = True, rules: Rules | None = None) -> None:
        self.dsn, self.max_batch, self.connect_timeout = dsn, max_batch, connect_timeout
        self.devices_checked = devices_checked  # off with UDACONNECT_AUTH=open: no devices to check against
        self.rules = rules  # each fix judged before it may prove a meeting (udaconnect.plausibility)
        self.untrusted = 0  # fixes kept apart, not believed
        self.batches = self.rows = 0  # how many transactions committed, holding how many rows
        self.erased = 0  # fixes of erased persons dropped (never stored, never dead-lettered)
        self.revoked = 0  # fixes of revoked or unknown devices dropped (the same)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()  # None: stop
        self._connection: Any = None
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._started = threading.Lock()

    def write(self, row: Row, timeout: float = 25.0) -> str:
        """STORED, DUPLICATE (an earlier delivery stored it) or UNKNOWN_PERSON; InfrastructureError when the
        database failed or did not answer in time (the row may still commit: a redelivery is then a DUPLICATE)."""
        pending = _Pending([row], done=threading.Event())
        self._enqueue(pending)
        if not pending.done.wait(timeout):  # type: ignore[union-attr]
            raise InfrastructureError(f"the database did not commit within {timeout:.0f} s")
        return _outcomes(pending)[0]

    async def write_async(self, row: Row, timeout: float = 25.0) -> str:
        """As write(), for a coroutine: the event loop is never blocked while the group commits."""
        return (await self.write_many_async([row], timeout))[0]

    async def write_many_async(self, rows: list[Row], timeout: float = 25.0) -> list[str]:
        """As write_async() for a multi-fix report's rows, committed in one group: each row's outcome, in order."""
        pending = _Pending(rows, future=asyncio.get_running_loop().create_future())
        self._enqueue(pending)
        try:
            async with asyncio.timeout(timeout):
                await pending.future  # type: ignore[misc]
        except TimeoutError:
            raise InfrastructureError(f"the database did not commit within {timeout:.0f} s") from None
        return _outcomes(pending)

    def _enqueue(self, pending: _Pending) -> None:
        if not self._thread.is_alive():
            with self._started:
                if not self._thread.is_alive():
                    self._thread.start()
        self._queue.put(pending)

    def close(self) -> None:
        """Stop the thread once what is queued is written, and close its connection (a later write starts
        them again)."""
        with self._started:
            if self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(10)
            self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._discard_connection()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            size = len(first.rows)
            while size < self.max_batch:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is None:  # stop after this batch
                    self._queue.put(None)
                    break
                batch.append(pending)
                size += len(pending.rows)
            started = time.perf_counter()
            try:
                outcomes = store(self._connect(), [row for p in batch for row in p.rows], self.devices_checked,
                                 self.rules)
                _measured(outcomes, time.perf_counter() - started)
                self.batches += 1
                self.rows += outcomes.count(STORED)
                self.erased += outcomes.count(ERASED)
                self.revoked += outcomes.count(REVOKED)
                self.untrusted += outcomes.count(UNTRUSTED)
                start = 0
                for pending in batch:
                    pending.outcomes = outcomes[start:start + len(pending.rows)]
                    start += len(pending.rows)
            except Exception as error:  # one failed transaction fails its batch only; the thread lives on
                log.warning("group commit of %d rows failed: %s", len(batch), error)
                metrics.COMMIT_FAILURES.inc()
                self._discard_connection()
                for pending in batch:
                    pending.error = error
            _wake(batch)

    def _connect(self) -> Any:
        if self._connection is None or self._connection.closed:
            import psycopg2

            self._connection = psycopg2.connect(self.dsn, connect_timeout=self.connect_timeout,
                                                application_name="udaconnect-persist")
            try:
                prepare(self._connection)
            except BaseException:
                self._discard_connection()
                raise
        return self._connection

    def _discard_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken
                connection.close()


def _measured(outcomes: list[str], seconds: float) -> None:
    metrics.COMMIT_SECONDS.observe(seconds)
    metrics.GROUP_FIXES.observe(len(outcomes))
    for outcome, count in Counter(outcomes).items():
        metrics.PERSIST_FIXES.labels(outcome).inc(count)


def _outcomes(pending: _Pending) -> list[str]:
    if pending.error is not None:
        raise InfrastructureError(f"the database failed: {pending.error}") from pending.error
    return pending.outcomes


def _wake(batch: list[_Pending]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[str]]] = defaultdict(list)
    for pending in batch:
        if pending.future is not None:
            by_loop[pending.future.get_loop()].append(pending.future)
        elif pending.done is not None:
            pending.done.set()
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, futures)


def _settle(futures: list[asyncio.Future[str]]) -> None:
    for future in futures:
        if not future.done():  # a waiter that timed out cancelled its future
            future.set_result("")


def for_url(database_url: str, devices_checked: bool = True, rules: Rules | None = None) -> GroupCommitWriter:
    """The process's writer for this database (one thread, one connection)."""
    return _for_url(database_url, devices_checked, rules)


@lru_cache(maxsize=4)
def _for_url(database_url: str, devices_checked: bool, rules: Rules | None) -> GroupCommitWriter:
    return GroupCommitWriter(libpq(database_url), devices_checked=devices_checked, rules=rules)


for_url.cache_clear = _for_url.cache_clear  # type: ignore[attr-defined]
