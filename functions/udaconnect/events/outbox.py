"""The transactional outbox: events are written with the change they announce and relayed to the broker after.

At least once, never lost: a row is deleted only after the broker acknowledged its event, and a relay holds
its rows locked (FOR UPDATE SKIP LOCKED) from the select to the delete, so several processes relaying at
once never publish the same row in one pass. A crash between the acknowledgement and the delete publishes
the row again later: the same event (same source and id), which consumers drop as a duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from udaconnect.errors import InfrastructureError
from udaconnect.events.event import Event
from udaconnect.settings import Settings
from udaconnect.storage.tables import event_outbox

if TYPE_CHECKING:
    from udaconnect.events.publisher import Publisher

log = logging.getLogger(__name__)

#: Leftover rows a successful publish in a request also relays: bounded, so a backlog never slows one request much.
RELAY_LIMIT = 100
_KEYS = ("id", "source", "type")

_t = event_outbox.c


def add(conn: Connection, events: Sequence[Event]) -> None:
    """Write `events` in the caller's transaction: they exist if and only if the change they announce commits."""
    conn.execute(sa.insert(event_outbox), [
        {**{k: e.attributes[k] for k in _KEYS}, "data": e.data,
         "attributes": {k: v for k, v in e.attributes.items() if k not in _KEYS}} for e in events])


def _event(row: Any) -> Event:
    return Event({**row.attributes, "id": row.id, "source": row.source, "type": row.type}, row.data)


def _pass(engine: Engine, publisher: Publisher, condition: Any, limit: int) -> list[int]:
    """Publish up to `limit` unlocked rows matching `condition`, oldest first; delete them once acknowledged.
    A failed publish is recorded on the rows (attempts, last error) and raised."""
    failure: InfrastructureError | None = None
    with engine.begin() as conn:
        rows = conn.execute(sa.select(_t.seq, _t.id, _t.source, _t.type, _t.attributes, _t.data).where(condition)
                            .order_by(_t.seq).limit(limit).with_for_update(skip_locked=True)).all()
        if not rows:
            return []
        seqs = [row.seq for row in rows]
        try:
            publisher.publish([_event(row) for row in rows])
        except InfrastructureError as error:
            failure = error
            conn.execute(sa.update(event_outbox).where(_t.seq.in_(seqs)).values(
                attempts=_t.attempts + 1, last_attempt_at=sa.func.now(), last_error=str(error)[:2000]))
        else:
            conn.execute(sa.delete(event_outbox).where(_t.seq.in_(seqs)))
    if failure is not None:
        raise failure
    return seqs


def publish(engine: Engine, publisher: Publisher, events: Sequence[Event]) -> int:
    """Publish these events from the outbox now; a row another relay holds is left to it. Raises as _pass."""
    keys = sa.or_(*(sa.and_(_t.source == e.attributes["source"], _t.id == e.attributes["id"]) for e in events))
    return len(_pass(engine, publisher, keys, len(events)))


def relay(engine: Engine, publisher: Publisher, limit: int | None = None,
          batch: int = 100) -> tuple[int, InfrastructureError | None]:
    """Publish the rows no other relay holds, oldest first, `batch` per broker round trip, up to `limit`
    (None: until none is left). How many were published, and the broker's failure that stopped it, if any.
    One pass walks the outbox forward once: a row is never published twice by it."""
    done, after = 0, 0
    while limit is None or done < limit:
        try:
            seqs = _pass(engine, publisher, _t.seq > after, batch if limit is None else min(batch, limit - done))
        except InfrastructureError as error:
            return done, error
        if not seqs:
            break
        done, after = done + len(seqs), max(seqs)
    return done, None


def configured(settings: Settings) -> bool:
    """Whether these settings name a broker to publish to."""
    return bool(settings.broker_url if settings.publisher == "http" else settings.kafka_bootstrap_servers)


def deliver(engine: Engine, settings: Settings, events: Sequence[Event]) -> bool:
    """After the commit: publish `events` (already in the outbox), then relay up to RELAY_LIMIT leftovers.
    Never raises: whatever is not published stays in the outbox for the next relay."""
    if not configured(settings):
        log.warning("no broker configured: %d event(s) wait in the outbox (udaconnect outbox flush)", len(events))
        return False
    from udaconnect.events import publisher as publishers

    try:
        publisher = publishers.for_settings(settings)
        publish(engine, publisher, events)
    except Exception as error:  # the change is committed: its answer must not fail
        log.error("%s kept in the outbox: %s", [e.attributes["id"] for e in events], error)
        return False
    try:
        failure: Exception | None = relay(engine, publisher, RELAY_LIMIT)[1]
    except Exception as error:  # the database, say: the rows wait for the next relay
        failure = error
    if failure is not None:
        log.warning("outbox relay stopped: %s", failure)
    return True


_background: Any = None
_background_lock = threading.Lock()


def deliver_soon(engine: Engine, settings: Settings, events: Sequence[Event]) -> Future[bool]:
    """deliver() on this process's one outbox thread: an answer never waits on the broker (a stalled Kafka took
    the publish timeout, 10 s, per request). The outbox holds the events meanwhile, so nothing depends on it."""
    global _background
    with _background_lock:
        if _background is None:
            _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        return _background.submit(deliver, engine, settings, events)


def settle(timeout: float = 15.0) -> None:
    """Wait until what deliver_soon queued so far has run (tests; a clean stop)."""
    with _background_lock:
        background = _background
    if background is not None:
        background.submit(lambda: None).result(timeout)


def pending(conn: Connection) -> list[Any]:
    """The rows waiting, oldest first, with their age in seconds."""
    age = sa.func.extract("epoch", sa.func.now() - _t.created_at).label("age")
    return list(conn.execute(sa.select(_t.seq, _t.id, _t.source, _t.type, _t.attributes, _t.created_at, age,
                                       _t.attempts, _t.last_error).order_by(_t.seq)).all())
