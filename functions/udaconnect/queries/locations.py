"""Locations: one by id, or a person's own track, each with the place it is at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from udaconnect.contracts.api import Location, TrackedLocation
from udaconnect.errors import NotFound
from udaconnect.places.store import place_of

_SELECT = f"""
SELECT l.id, l.person_id, ST_X(l.coordinate::geometry) AS longitude, ST_Y(l.coordinate::geometry) AS latitude,
       l.creation_time, pl.place::json AS place
FROM (SELECT * FROM location WHERE {{where}} ORDER BY creation_time, id LIMIT :limit) AS l
{place_of("l.coordinate")}
ORDER BY l.creation_time, l.id
"""
_IN_RANGE = "person_id = :person AND creation_time >= :start AND creation_time < :end"
# both tables, each cut at the limit by its index, then the two merged in time order and cut again
_TRACK = text(f"""
SELECT l.id, l.person_id, ST_X(l.coordinate::geometry) AS longitude, ST_Y(l.coordinate::geometry) AS latitude,
       l.creation_time, l.untrusted, pl.place::json AS place
FROM (
    SELECT * FROM (
        (SELECT id, person_id, coordinate, creation_time, NULL::text AS untrusted FROM location
         WHERE {_IN_RANGE} ORDER BY creation_time, id LIMIT :limit)
        UNION ALL
        (SELECT id, person_id, coordinate, creation_time, reason FROM location_untrusted
         WHERE {_IN_RANGE} ORDER BY creation_time, id LIMIT :limit)
    ) AS both_tables ORDER BY creation_time, id LIMIT :limit
) AS l
{place_of("l.coordinate")}
ORDER BY l.creation_time, l.id
""")
_ONE = text(_SELECT.replace("{where}", "id = :id"))


def track(conn: Connection, person_id: int, start: datetime, end: datetime, limit: int) -> list[TrackedLocation]:
    """The person's own locations in [start, end), by time: the untrusted too, marked."""
    rows = conn.execute(_TRACK, {"person": person_id, "start": start, "end": end, "limit": limit}).all()
    return [TrackedLocation.model_validate(row._mapping) for row in rows]


def get_location(conn: Connection, location_id: int) -> Location:
    row = conn.execute(_ONE, {"id": location_id, "limit": 1}).first()
    if row is None:
        raise NotFound(f"location {location_id} does not exist")
    return Location.model_validate(row._mapping)


def record_counts(conn: Connection) -> tuple[int, dict[str, int]]:
    """The fixes believed, and those kept apart as untrusted by reason (udaconnect.plausibility.REASONS, each
    present, 0 when none): what an operator reads in `udaconnect status`."""
    from udaconnect.plausibility import REASONS

    believed = int(conn.execute(text("SELECT count(*) FROM location")).scalar_one())
    by_reason = dict.fromkeys(REASONS, 0)
    for reason, count in conn.execute(text("SELECT reason, count(*) FROM location_untrusted GROUP BY reason")):
        by_reason[reason] = int(count)
    return believed, by_reason
