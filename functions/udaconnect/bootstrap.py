"""The composition root: one context per process, built lazily from the environment on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Engine

from udaconnect.settings import Settings


@dataclass
class Context:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        from udaconnect.storage.database import engine

        return engine(self.settings)

    @contextmanager
    def dbapi(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """A pooled psycopg2 connection and its per-connection `info` dict, committed on success."""
        connection = self.engine.raw_connection()
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
    """The process's context, from the environment."""
    return Context(Settings.from_env())
