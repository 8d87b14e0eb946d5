"""Live encounters: one LISTEN connection per process fans PostgreSQL's NOTIFY out to every open stream.

The detector NOTIFYs each new encounter at its commit, whichever replica detected it; every replica serving
streams LISTENs, so a stream on any replica hears it within milliseconds (no Trigger per replica, no broker
round trip, no polling). A notification only wakes a stream: the stream then reads its person's encounters after
the last id it sent, so a notification lost while the listener reconnects is caught up by the next one or by the
stream's periodic read (every HEARTBEAT seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

from udaconnect.encounters.store import CHANNEL

log = logging.getLogger(__name__)
#: Seconds between a stream's keep-alive comments (and catch-up reads).
HEARTBEAT = 15.0


@dataclass(eq=False)
class Subscription:
    person_id: int
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.listening = threading.Event()
        self._subscribers: dict[int, set[Subscription]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def subscribe(self, person_id: int) -> Subscription:
        subscription = Subscription(person_id, asyncio.get_running_loop())
        with self._lock:
            self._subscribers.setdefault(person_id, set()).add(subscription)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="encounters-listen", daemon=True)
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            found = self._subscribers.get(subscription.person_id)
            if found is not None:
                found.discard(subscription)
                if not found:
                    del self._subscribers[subscription.person_id]

    def _notify(self, persons: list[int]) -> None:
        with self._lock:
            woken = [s for p in persons for s in self._subscribers.get(p, ())]
        for subscription in woken:
            with contextlib.suppress(RuntimeError):  # its loop closed
                subscription.loop.call_soon_threadsafe(subscription.wake.set)

    def _everyone(self) -> list[int]:
        with self._lock:
            return list(self._subscribers)

    def _listen(self) -> None:
        import psycopg2

        while True:
            connection = None
            try:
                connection = psycopg2.connect(self.dsn, connect_timeout=5, application_name="udaconnect-live")
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                self._notify(self._everyone())  # whatever was missed while not listening: read it now
                while True:
                    if select.select([connection], [], [], HEARTBEAT) == ([], [], []):
                        continue
                    connection.poll()
                    persons: list[int] = []
                    while connection.notifies:
                        note = connection.notifies.pop(0)
                        with contextlib.suppress(ValueError):
                            _, a, b = note.payload.split(",")
                            persons += [int(a), int(b)]
                    if persons:
                        self._notify(persons)
            except Exception as error:
                self.listening.clear()
                log.warning("live encounters: listening failed (%s); again in 1 s", error)
                time.sleep(1)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()


@lru_cache(maxsize=2)
def hub_for(dsn: str) -> Hub:
    return Hub(dsn)
