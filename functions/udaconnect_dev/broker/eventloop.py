"""The one asyncio event loop thread every Trigger's consumer group and deliveries run on (uvloop when installed)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (it halves the loop's own cost) unless UDACONNECT_UVLOOP=0; else asyncio's."""
    if os.environ.get("UDACONNECT_UVLOOP", "1") != "0":
        try:
            import uvloop

            return uvloop.new_event_loop()
        except ImportError:
            pass
    return asyncio.new_event_loop()


class DeliveryLoop:
    """Runs a loop on its own thread. `pause` is the backoff sleep, cut short once `stop` is set and `wake()`d."""

    def __init__(self, stop: threading.Event, name: str = "broker-deliveries") -> None:
        self.stop = stop
        self.loop = new_loop()
        self._sleepers: set[asyncio.Future[None]] = set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> DeliveryLoop:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, callback: Any, *args: Any) -> None:
        """Run `callback(*args)` on the loop, from any thread (nothing once the loop is closed)."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(callback, *args)

    def run(self, coroutine: Awaitable[T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    async def pause(self, delay: float) -> bool:
        """Sleep `delay` seconds; True (at once) when stopping."""
        if self.stop.is_set():
            return True
        sleeper: asyncio.Future[None] = self.loop.create_future()
        timer = self.loop.call_later(delay, _settle, sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)
        return self.stop.is_set()

    def wake(self) -> None:
        """End every pause now (call after setting `stop`), from any thread."""
        self.call(self._wake)

    def _wake(self) -> None:
        for sleeper in list(self._sleepers):
            _settle(sleeper)

    def close(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            if not self.loop.is_closed() and not self.loop.is_running():
                self.loop.close()
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
