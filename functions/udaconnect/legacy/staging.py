"""Writing imported rows into our schema: COPY into a staging table, then one set-based INSERT per batch."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg2.extras import execute_values

from udaconnect.storage import copy_text

_PERSONS = (
    "INSERT INTO person (id, first_name, last_name, company_name) VALUES %s ON CONFLICT (id) DO NOTHING RETURNING id"
)
_STAGE = (
    "CREATE TEMP TABLE legacy_location (id bigint, person_id integer, lon float8, lat float8,"
    " creation_time timestamptz, event_id text) ON COMMIT DROP"
)
_LOCATIONS = """
    INSERT INTO location ({id}person_id, coordinate, creation_time, event_source, event_id)
    SELECT {id}person_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, creation_time, %(source)s, event_id
    FROM legacy_location AS s {where}
    ON CONFLICT DO NOTHING
"""
# after the first INSERT, a staged row absent under its event key lost only because its id was taken
_NOT_IMPORTED = (
    "WHERE NOT EXISTS (SELECT 1 FROM location AS l WHERE l.event_source = %(source)s AND l.event_id = s.event_id)"
)


def bump_sequence(cur: Any, table: str, at_least: int = 0) -> None:
    """Make the identity's next value exceed both `at_least` and every id in the table (never move it back)."""
    cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
    sequence = cur.fetchone()[0]
    cur.execute(f"SELECT last_value + is_called::int FROM {sequence}")
    next_value = cur.fetchone()[0]
    cur.execute(f"SELECT COALESCE(max(id), 0) + 1 FROM {table}")
    cur.execute("SELECT setval(%s, %s, false)", (sequence, max(next_value, at_least + 1, cur.fetchone()[0])))


def insert_persons(cur: Any, rows: Sequence[tuple[Any, ...]]) -> tuple[set[int], dict[int, tuple[Any, ...]]]:
    """Insert (id, first, last, company) rows keeping their ids: the ids added, and the rows already present."""
    if not rows:
        return set(), {}
    added = {i for (i,) in execute_values(cur, _PERSONS, rows, fetch=True, page_size=1000)}
    others = [row[0] for row in rows if row[0] not in added]
    if not others:
        return added, {}
    cur.execute("SELECT id, first_name, last_name, company_name FROM person WHERE id = ANY(%s)", (others,))
    return added, {row[0]: tuple(row) for row in cur.fetchall()}


class LocationWriter:
    """Writes (id, person_id, lon, lat, creation_time) rows under one event_source, keyed by the original id."""

    def __init__(self, cur: Any, source: str) -> None:
        self._cur = cur
        self._source = source
        cur.execute(_STAGE)

    def write(self, rows: Iterable[tuple[int, int, float, float, datetime]]) -> tuple[int, int]:
        """Stage and insert; returns (rows added under their original id, rows added under a new id)."""
        buffer = io.StringIO()
        for id, person_id, lon, lat, time in rows:
            buffer.write(copy_text.line(id, person_id, float(lon), float(lat), time, str(id)))
        if not buffer.tell():
            return 0, 0
        buffer.seek(0)
        cur, params = self._cur, {"source": self._source}
        cur.execute("TRUNCATE legacy_location")
        cur.copy_expert("COPY legacy_location FROM STDIN", buffer)
        staged = buffer.getvalue().count("\n")
        cur.execute(_LOCATIONS.format(id="id, ", where=""), params)
        added = cur.rowcount
        if added == staged:
            return added, 0
        # the original id belongs to another row here: keep the fix under a new id rather than lose it
        cur.execute(_LOCATIONS.format(id="", where=_NOT_IMPORTED), params)
        return added, cur.rowcount
