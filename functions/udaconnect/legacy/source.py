"""Reading an original UdaConnect database: one consistent, read-only snapshot, streamed in batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extensions

from udaconnect.errors import InfrastructureError
from udaconnect.storage.urls import libpq

BATCH = 5000

_LOCATIONS = """
    SELECT id, person_id, creation_time, GeometryType(coordinate), ST_SRID(coordinate),
           CASE WHEN GeometryType(coordinate) IN ('POINT', 'POINTM') AND NOT ST_IsEmpty(coordinate)
                THEN ST_X(coordinate) END,
           CASE WHEN GeometryType(coordinate) IN ('POINT', 'POINTM') AND NOT ST_IsEmpty(coordinate)
                THEN ST_Y(coordinate) END
    FROM location ORDER BY id
"""


@dataclass(frozen=True)
class LegacyLocation:
    id: int
    person_id: int
    #: aware, in UTC: the original's TIMESTAMP column held naive UTC times
    creation_time: datetime | None
    geometry_type: str | None
    srid: int
    x: float | None
    y: float | None


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class LegacySource:
    """An open original database; every read sees the same snapshot (REPEATABLE READ, read only)."""

    def __init__(self, dsn: str) -> None:
        try:
            self._conn = psycopg2.connect(libpq(dsn), connect_timeout=10, application_name="udaconnect-import")
        except psycopg2.Error as exc:
            raise InfrastructureError(f"cannot connect to the original database: {exc}".strip()) from exc
        self._conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        self._cursors = 0

    @property
    def name(self) -> str:
        """host/database: the stable part of the DSN (the port and user may change between runs)."""
        info = self._conn.info
        return f"{info.host}/{info.dbname}"

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()

    def __enter__(self) -> LegacySource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def scalar(self, sql: str) -> Any:
        with self._conn.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
            return row[0] if row else None

    def _stream(self, sql: str) -> Iterator[list[tuple[Any, ...]]]:
        # a server-side (named) cursor: a large table is never held in memory at once
        self._cursors += 1
        with self._conn.cursor(name=f"legacy_import_{self._cursors}") as cur:
            cur.itersize = BATCH
            cur.execute(sql)
            while rows := cur.fetchmany(BATCH):
                yield rows

    def persons(self) -> Iterator[list[tuple[int, str | None, str | None, str | None]]]:
        yield from self._stream("SELECT id, first_name, last_name, company_name FROM person ORDER BY id")

    def locations(self) -> Iterator[list[LegacyLocation]]:
        for rows in self._stream(_LOCATIONS):
            yield [
                LegacyLocation(id, person_id, _utc(time), kind, srid or 0, x, y)
                for id, person_id, time, kind, srid, x, y in rows
            ]
