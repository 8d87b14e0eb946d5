"""The composition root: one context per process, built lazily from Settings on first use, closed at exit.

Every function target gets its dependencies here and nowhere else: the settings, the SQLAlchemy engine (persons,
connections, encounters, retention), the database URL (persist's group commit, encounters' LISTEN), the event
publisher (ingest, persist, persons). Each is made on first use, so a target builds only what it touches: ingest
never imports SQLAlchemy (tests/test_cold_imports.py). Whatever was made is closed when the process stops.

Shutdown: functions-framework 3.10 builds the ASGI app (Starlette) itself and takes no lifespan handler from the
function, and its Flask server has no shutdown hook either; uvicorn returns from run() after its own graceful
shutdown on SIGTERM (Knative's), and the interpreter then runs atexit, so both kinds of target close through
`atexit` (nothing here needs the event loop that served requests).
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from udaconnect.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from udaconnect.events.publisher import Publisher

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Context:
    settings: Settings
    _closers: list[Callable[[], object]] = field(default_factory=list, repr=False)
    _shared: dict[Callable[..., Any], Any] = field(default_factory=dict, repr=False)

    @cached_property
    def engine(self) -> Engine:
        from udaconnect.storage.database import engine

        made = engine(self.settings)
        self.on_close(made.dispose)
        return made

    @cached_property
    def replica(self) -> Engine | None:
        """The read replica's engine (DATABASE_READ_URL), or None."""
        if not self.settings.database_read_url:
            return None
        from udaconnect.storage.database import engine_for
        from udaconnect.storage.urls import normalised

        made = engine_for(normalised(self.settings.database_read_url), self.settings.pool_size)
        self.on_close(made.dispose)
        return made

    def reader(self) -> Engine:
        """The engine a read should use now: the replica when it has replayed everything the primary had written
        when this was called (so a person sees their own new fixes), else the primary (udaconnect.storage.replica)."""
        from udaconnect.telemetry import metrics

        if self.replica is None:
            metrics.READS.labels("primary").inc()
            return self.engine
        from udaconnect.storage.replica import caught_up_or_primary

        engine, which = caught_up_or_primary(self.engine, self.replica, self.settings.read_replica_wait)
        metrics.READS.labels(which).inc()
        return engine

    @cached_property
    def database_url(self) -> str:
        """DATABASE_URL (normalised) or the embedded cluster's, worked out once."""
        from udaconnect.storage.urls import database_url

        return database_url(self.settings)

    @cached_property
    def publisher(self) -> Publisher:
        from udaconnect.events import publisher

        made = publisher.for_settings(self.settings)
        self.on_close(made.close)
        return made

    def shared(self, make: Callable[[Context], T], close: Callable[[T], object] | None = None) -> T:
        """`make(self)` once per context (a target's own dependency), closed with it by `close`."""
        try:
            return self._shared[make]
        except KeyError:
            made = self._shared[make] = make(self)
            if close is not None:
                self.on_close(lambda: close(made))
            return made

    def on_close(self, closer: Callable[[], object]) -> None:
        """Call `closer` when the process stops (last registered, first closed)."""
        self._closers.append(closer)

    def close(self) -> None:
        """Close what this context made: producers, HTTP clients, database pools and connections."""
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as error:  # one failing close must not keep the others open
                log.warning("closing %r failed: %s", closer, error)

    @contextmanager
    def dbapi(self, engine: Engine | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
        """A pooled psycopg2 connection (of `engine`, the primary's by default) and its per-connection `info`
        dict, committed on success."""
        connection = (engine or self.engine).raw_connection()
        try:
            yield connection, connection.info
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()


@lru_cache(maxsize=1)
def context() -> Context:
    """The process's context, from the environment; closed when the process exits."""
    made = Context(Settings.from_env())
    atexit.register(made.close)
    return made


def reset() -> None:
    """Forget the process's context: the next context() reads the environment again (tests that change it). What
    it made stays open: the per-process singletons it handed out (publishers, writers) are shared."""
    if context.cache_info().currsize:
        atexit.unregister(context().close)
    context.cache_clear()
