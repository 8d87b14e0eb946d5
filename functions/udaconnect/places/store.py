"""Places in PostGIS: a venue imported whole, the venue read back as GeoJSON, and the place of a location.

`place_of(point)` is the SQL that names where a location is: the smallest place holding the point, else the
nearest within about NEAR_M meters, else nothing. It is a LATERAL subquery over place's GiST index (a box test,
then planar tests on the two or three places it leaves, their JSON rendered at import): ~8 us a row, used by the
short answers (a track, one location). The search's long answers use `place_by_cell(row)`, the same answer read
from the cell maps of migration 0008 as runs (migration 0009; looked up by the location's grid cell, then its
sub-cell, then the exact test, only where a cell straddles a boundary): tests/test_place_cells.py proves them
equal, and `nox -s bench -- places` measures both.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, text

from udaconnect.errors import FieldError
from udaconnect.places.geojson import InvalidVenue, Venue

#: A location within this many meters of a place (and in none) is "at" it: indoor fixes stray a few meters.
NEAR_M = 3.0


def place_of(point: str, alias: str = "pl") -> str:
    """`LEFT JOIN LATERAL (...) AS alias ON true` giving alias.place: the place JSON text of `point` (a
    geography), or NULL. Planar tests in degrees: `near_deg` is NEAR_M in degrees of longitude at the place, so a
    location is "near" within NEAR_M east-west and NEAR_M / cos(latitude) north-south (4 m at 40 degrees)."""
    return f"""LEFT JOIN LATERAL ({exact_place(point)}) AS {alias} ON true"""


def exact_place(point: str) -> str:
    """The exact test as a subquery: the place JSON text of `point` (a geography), no row if none (see place_of)."""
    return f"""
        SELECT pl_.ref AS place FROM place pl_
        WHERE pl_.reach && ({point})::geometry AND ST_DWithin(pl_.area, ({point})::geometry, pl_.near_deg)
        ORDER BY ST_Distance(pl_.area, ({point})::geometry), pl_.area_m2, pl_.id
        LIMIT 1"""


def place_by_cell(row: str) -> str:
    """The place of `row`'s location (row.cell, row.coordinate) from migration 0009's lookup, as the place JSON
    text or 'null': the run holding the cell (`width_bucket`, a binary search), its answer a jsonb array subscript
    (~0.1 us a row on the 1M bench, 2026-12); where the cell straddles a boundary, the same in the sub-cells'
    runs; where a sub-cell still straddles one, the exact test. The row is read once per statement (InitPlans)."""
    point = f"{row}.coordinate"
    subcell = f"udaconnect_subcell(ST_X(({point})::geometry), ST_Y(({point})::geometry))"
    return f"""coalesce(
        {_lookup("cell_answers")} ->> (width_bucket({row}.cell, {_lookup("cell_starts")}) - 1),
        {_lookup("subcell_answers")} ->> (width_bucket({subcell}, {_lookup("subcell_starts")}) - 1),
        ({exact_place(point)}), 'null')"""


def _lookup(column: str) -> str:
    """A column of place_lookup as a value of its own: the stored one is compressed or out of line (TOAST), and
    every call taking it would decompress it again (17 us a row instead of 0.1 on the 1M bench, 2026-12); a
    concatenation with an empty array makes the InitPlan return it plain."""
    empty = "'[]'::jsonb" if column.endswith("answers") else "'{}'::bigint[]"
    return f"(SELECT {column} || {empty} FROM place_lookup)"


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
    conn.execute(text(f"""
        UPDATE place SET area_m2 = ST_Area(area::geography),
            near_deg = {NEAR_M} / (111320.0 * greatest(cos(radians(ST_Y(ST_Centroid(area)))), 0.05)),
            ref = json_build_object('id', id, 'name', name, 'kind', kind)::text"""))
    conn.execute(text("UPDATE place SET reach = ST_Expand(area, near_deg)"))
    # the cell maps are rebuilt at commit (migration 0008's deferred trigger); now, so this transaction sees them
    conn.execute(text("SET CONSTRAINTS place_cells_refresh IMMEDIATE"))
    conn.execute(text("SET CONSTRAINTS place_cells_refresh DEFERRED"))
    return len(venue.places)


def days_zone(engine: Engine, time_zone: str) -> str:
    """The zone a whole day of the API is taken in: `time_zone` (UDACONNECT_VENUE_TIME_ZONE) once a venue is
    imported, else UTC (the original API's days). One index probe a request: not cached, so an import or a
    removal of the venue takes effect at once in every function."""
    with engine.connect() as conn:
        venue = bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM place)")).scalar())
    return time_zone if venue else "UTC"


def venue_geojson(conn: Connection, time_zone: str) -> dict[str, Any]:
    """Every place as a GeoJSON FeatureCollection (largest first, so drawn in order booths end on top)."""
    rows = conn.execute(text(
        "SELECT id, name, kind, properties, ST_AsGeoJSON(area, 7)::json AS geometry FROM place "
        "ORDER BY area_m2 DESC, id")).all()
    return {
        "type": "FeatureCollection",
        "time_zone": time_zone if rows else "UTC",  # the API's days: the venue's, UTC without one
        "features": [{"type": "Feature", "id": r.id, "geometry": r.geometry,
                      "properties": {**r.properties, "name": r.name, "kind": r.kind}} for r in rows],
    }
