"""Locations: one by id, or a person's own track, each with the place it is at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from udaconnect.contracts.api import Location
from udaconnect.errors import NotFound
from udaconnect.places.store import place_of

_SELECT = f"""
SELECT l.id, l.person_id, ST_X(l.coordinate::geometry) AS longitude, ST_Y(l.coordinate::geometry) AS latitude,
       l.creation_time, pl.place::json AS place
FROM (SELECT * FROM location WHERE {{where}} ORDER BY creation_time, id LIMIT :limit) AS l
{place_of("l.coordinate")}
ORDER BY l.creation_time, l.id
"""
_TRACK = text(_SELECT.replace("{where}", "person_id = :person AND creation_time >= :start AND creation_time < :end"))
_ONE = text(_SELECT.replace("{where}", "id = :id"))


def track(conn: Connection, person_id: int, start: datetime, end: datetime, limit: int) -> list[Location]:
    """The person's own locations in [start, end), by time."""
    rows = conn.execute(_TRACK, {"person": person_id, "start": start, "end": end, "limit": limit}).all()
    return [Location.model_validate(row._mapping) for row in rows]


def get_location(conn: Connection, location_id: int) -> Location:
    row = conn.execute(_ONE, {"id": location_id, "limit": 1}).first()
    if row is None:
        raise NotFound(f"location {location_id} does not exist")
    return Location.model_validate(row._mapping)
