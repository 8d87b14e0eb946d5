"""Places in PostGIS: a venue imported whole, the venue read back as GeoJSON, and the place of a location.

`place_of(point)` is the SQL every answer uses to name where a location is: the smallest place holding the point,
else the nearest within NEAR_M meters, else nothing. It is a LATERAL subquery over place's GiST index (a bounding
box test on a few dozen polygons, then a spherical distance on the two or three it leaves), evaluated only for the
rows an answer returns.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from udaconnect.errors import FieldError
from udaconnect.places.geojson import InvalidVenue, Venue

#: A location within this many meters of a place (and in none) is "at" it: indoor fixes stray a few meters.
NEAR_M = 3.0


def place_of(point: str, alias: str = "pl") -> str:
    """`LEFT JOIN LATERAL (...) AS alias ON true` giving alias.place: the place JSON of `point` (a geography), or
    NULL. The bounding box is ~11 m of latitude and as many meters of longitude at the point's latitude."""
    return f"""LEFT JOIN LATERAL (
        SELECT json_build_object('id', pl_.id, 'name', pl_.name, 'kind', pl_.kind) AS place FROM place pl_
        WHERE pl_.area && ST_Expand(({point})::geometry,
                                    0.0001 / greatest(cos(radians(ST_Y(({point})::geometry))), 0.05), 0.0001)
          AND ST_DWithin(pl_.area::geography, {point}, {NEAR_M}, false)
        ORDER BY ST_Distance(pl_.area::geography, {point}, false), pl_.area_m2, pl_.id
        LIMIT 1) AS {alias} ON true"""


def import_venue(conn: Connection, venue: Venue) -> int:
    """Replace every place by the venue's (one transaction: the caller's); InvalidVenue if PostGIS finds a polygon
    invalid (self-intersecting, ...), naming each."""
    conn.execute(text("DELETE FROM place"))
    for place in venue.places:
        conn.execute(text(
            "INSERT INTO place (id, name, kind, properties, area) "
            "VALUES (:id, :name, :kind, CAST(:properties AS jsonb), ST_SetSRID(ST_GeomFromGeoJSON(:geometry), 4326))"),
            {"id": place.id, "name": place.name, "kind": place.kind, "properties": json.dumps(place.properties),
             "geometry": json.dumps(place.geometry)})
    bad = conn.execute(text(
        "SELECT id, ST_IsValidReason(area) FROM place WHERE NOT ST_IsValid(area) ORDER BY id")).all()
    if bad:
        index = {p.id: i for i, p in enumerate(venue.places)}
        raise InvalidVenue(f"{len(bad)} invalid geometr{'y' if len(bad) == 1 else 'ies'} in the venue",
                           [FieldError(f"features[{index[pid]}] ({pid}).geometry", reason) for pid, reason in bad])
    conn.execute(text("UPDATE place SET area_m2 = ST_Area(area::geography)"))
    return len(venue.places)


def venue_geojson(conn: Connection, time_zone: str) -> dict[str, Any]:
    """Every place as a GeoJSON FeatureCollection (largest first, so drawn in order booths end on top)."""
    rows = conn.execute(text(
        "SELECT id, name, kind, properties, ST_AsGeoJSON(area, 7)::json AS geometry FROM place "
        "ORDER BY area_m2 DESC, id")).all()
    return {
        "type": "FeatureCollection",
        "time_zone": time_zone,
        "features": [{"type": "Feature", "id": r.id, "geometry": r.geometry,
                      "properties": {**r.properties, "name": r.name, "kind": r.kind}} for r in rows],
    }
