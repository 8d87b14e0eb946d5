"""Group commit: concurrent deliveries share one transaction, and each is answered only after it committed.

One writer thread drains a queue: it takes one waiting row, then everything else queued (up to MAX_BATCH),
writes them in one transaction (execute_values, ON CONFLICT DO NOTHING on the event's (source, id)),
commits, and wakes each waiting request with its own outcome.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from udaconnect.errors import InfrastructureError

log = logging.getLogger(__name__)
MAX_BATCH = 1000
STORED, DUPLICATE, UNKNOWN_PERSON = "stored", "duplicate", "unknown-person"
_INSERT = ("INSERT INTO location (person_id, coordinate, creation_time, accuracy, event_source, event_id) "
           "VALUES %s ON CONFLICT (event_source, event_id) DO NOTHING RETURNING event_source, event_id")
_TEMPLATE = "(%s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s, %s, %s, %s)"


@dataclass(frozen=True)
class Row:
    person_id: int
    longitude: float
    latitude: float
    recorded_at: datetime
    accuracy: float | None
    event_source: str
    event_id: str


@dataclass
class _Pending:
    row: Row
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str = ""
    error: BaseException | None = None


class GroupCommitWriter:
    def __init__(self, dsn: str, max_batch: int = MAX_BATCH, connect_timeout: int = 3) -> None:
        self.dsn, self.max_batch, self.connect_timeout = dsn, max_batch, connect_timeout
        self.batches = self.rows = 0  # how many transactions committed, holding how many rows
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._connection = None
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._started = threading.Lock()

    def write(self, row: Row, timeout: float = 25.0) -> str:
        """STORED, DUPLICATE (an earlier delivery stored it) or UNKNOWN_PERSON; InfrastructureError when the
        database failed or did not answer in time (the row may still commit: a redelivery is then a DUPLICATE)."""
        with self._started:
            if not self._thread.is_alive():
                self._thread.start()
        pending = _Pending(row)
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise InfrastructureError(f"the database did not commit within {timeout:.0f} s")
        if pending.error is not None:
            raise InfrastructureError(f"the database failed: {pending.error}") from pending.error
        return pending.outcome

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception as error:  # one failed transaction fails its batch only; the thread lives on
                log.warning("group commit of %d rows failed: %s", len(batch), error)
                self._discard_connection()
                for pending in batch:
                    pending.error = error
            for pending in batch:
                pending.done.set()

    def _connect(self):  # noqa: ANN202 - a psycopg2 connection
        if self._connection is None or self._connection.closed:
            import psycopg2

            self._connection = psycopg2.connect(self.dsn, connect_timeout=self.connect_timeout,
                                                application_name="udaconnect-persist")
        return self._connection

    def _discard_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken
                connection.close()

    def _commit(self, batch: list[_Pending]) -> None:
        from psycopg2.extras import execute_values

        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                # Checked inside the transaction, so one event naming an unknown person never fails its neighbours.
                cursor.execute("SELECT id FROM person WHERE id = ANY(%s)",
                               (sorted({p.row.person_id for p in batch}),))
                known = {row[0] for row in cursor.fetchall()}
                storable = [p.row for p in batch if p.row.person_id in known]
                inserted: set[tuple[str, str]] = set()
                if storable:
                    values = [(r.person_id, r.longitude, r.latitude, r.recorded_at, r.accuracy, r.event_source,
                               r.event_id) for r in storable]
                    returned = execute_values(cursor, _INSERT, values, _TEMPLATE, page_size=len(values), fetch=True)
                    inserted = {(source, event_id) for source, event_id in returned}
            connection.commit()
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise
        self.batches += 1
        self.rows += len(storable)
        for pending in batch:
            row = pending.row
            if row.person_id not in known:
                pending.outcome = UNKNOWN_PERSON
            else:
                pending.outcome = STORED if (row.event_source, row.event_id) in inserted else DUPLICATE


def dsn(database_url: str) -> str:
    """A libpq URI from a SQLAlchemy URL (postgresql+psycopg2://... -> postgresql://...)."""
    scheme, sep, rest = database_url.partition("://")
    scheme = scheme.split("+")[0]
    return ("postgresql" if scheme == "postgres" else scheme) + sep + rest


@lru_cache(maxsize=4)
def for_url(database_url: str) -> GroupCommitWriter:
    """The process's writer for this database (one thread, one connection)."""
    return GroupCommitWriter(dsn(database_url))
