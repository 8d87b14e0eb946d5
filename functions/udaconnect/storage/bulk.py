"""Bulk loading with COPY: persons and locations from iterables, in chunks."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import islice

from udaconnect.storage.copy_text import text as _text

CHUNK = 50_000


def _copy(cursor, table: str, columns: str, lines: Iterable[str]) -> int:
    buffer = io.StringIO()
    count = 0
    for line in lines:
        buffer.write(line)
        count += 1
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
    return count


def copy_persons(dbapi_connection, persons: Iterable[tuple[int, str, str, str]]) -> int:
    """COPY (id, first_name, last_name, company_name) rows, then move the id sequence past them."""
    with dbapi_connection.cursor() as cur:
        lines = (f"{i}\t{_text(f)}\t{_text(la)}\t{_text(c)}\n" for i, f, la, c in persons)
        count = _copy(cur, "person", "id, first_name, last_name, company_name", lines)
        cur.execute("SELECT setval(pg_get_serial_sequence('person', 'id'), "
                    "coalesce((SELECT max(id) FROM person), 0) + 1, false)")
    return count


def copy_locations(
    dbapi_connection,
    fixes: Iterable[tuple[int, float, float, datetime]],
    progress: Callable[[int], None] | None = None,
    event_source: str | None = None,
) -> int:
    """COPY (person_id, longitude, latitude, time) fixes in chunks; `progress` gets each chunk's size.

    With `event_source`, each row also gets the CloudEvent identity ingest would have given it
    (source `<event_source>/<person_id>`, a random UUID as id), so the rows are as wide as ingested ones.
    """
    total = 0
    iterator = iter(fixes)
    columns = "person_id, coordinate, creation_time" + (", event_source, event_id" if event_source else "")
    with dbapi_connection.cursor() as cur:
        while chunk := list(islice(iterator, CHUNK)):
            if event_source:
                lines = (f"{p}\tSRID=4326;POINT({lon!r} {lat!r})\t{t.isoformat()}\t{_text(event_source)}/{p}"
                         f"\t{uuid.uuid4()}\n" for p, lon, lat, t in chunk)
            else:
                lines = (f"{p}\tSRID=4326;POINT({lon!r} {lat!r})\t{t.isoformat()}\n" for p, lon, lat, t in chunk)
            total += _copy(cur, "location", columns, lines)
            if progress:
                progress(len(chunk))
    return total


def copy_reports(dbapi_connection, fixes: Iterable, progress: Callable[[int], None] | None = None,
                 event_source: str = "/devices/synthetic") -> int:
    """COPY fixes as phones uploaded them (udaconnect.synthetic.Fix: person, position, time, accuracy, upload and
    index in it): each upload one CloudEvent (source `<event_source>/<person_id>`, id `<person_id>-<upload>`),
    so the rows are what ingest and persist would have written."""
    total = 0
    iterator = iter(fixes)
    columns = "person_id, coordinate, creation_time, accuracy, event_source, event_id, event_index"
    source = _text(event_source)
    with dbapi_connection.cursor() as cur:
        while chunk := list(islice(iterator, CHUNK)):
            lines = (f"{p}\tSRID=4326;POINT({lon!r} {lat!r})\t{t.isoformat()}\t{a!r}\t{source}/{p}\t{p}-{r}\t{i}\n"
                     for p, lon, lat, t, a, r, i in chunk)
            total += _copy(cur, "location", columns, lines)
            if progress:
                progress(len(chunk))
    return total

