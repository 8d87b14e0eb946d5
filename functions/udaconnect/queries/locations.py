"""Locations: one by id, or a person's own track."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from udaconnect.contracts.api import Location
from udaconnect.errors import NotFound
from udaconnect.storage.tables import location

_GEOMETRY = func.ST_GeomFromWKB(func.ST_AsBinary(location.c.coordinate))
_COLUMNS = (
    location.c.id,
    location.c.person_id,
    func.ST_X(_GEOMETRY).label("longitude"),
    func.ST_Y(_GEOMETRY).label("latitude"),
    location.c.creation_time,
)


def track(conn: Connection, person_id: int, start: datetime, end: datetime, limit: int) -> list[Location]:
    """The person's own locations in [start, end), by time."""
    rows = conn.execute(
        select(*_COLUMNS)
        .where(location.c.person_id == person_id, location.c.creation_time >= start, location.c.creation_time < end)
        .order_by(location.c.creation_time, location.c.id)
        .limit(limit)
    ).all()
    return [Location.model_validate(row._mapping) for row in rows]


def get_location(conn: Connection, location_id: int) -> Location:
    row = conn.execute(select(*_COLUMNS).where(location.c.id == location_id)).first()
    if row is None:
        raise NotFound(f"location {location_id} does not exist")
    return Location.model_validate(row._mapping)
