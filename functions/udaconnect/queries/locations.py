"""Single locations by id."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from udaconnect.contracts.api import Location
from udaconnect.errors import NotFound
from udaconnect.storage.tables import location

_GEOMETRY = func.ST_GeomFromWKB(func.ST_AsBinary(location.c.coordinate))


def get_location(conn: Connection, location_id: int) -> Location:
    row = conn.execute(
        select(
            location.c.id,
            location.c.person_id,
            func.ST_X(_GEOMETRY).label("longitude"),
            func.ST_Y(_GEOMETRY).label("latitude"),
            location.c.creation_time,
        ).where(location.c.id == location_id)
    ).first()
    if row is None:
        raise NotFound(f"location {location_id} does not exist")
    return Location.model_validate(row._mapping)
