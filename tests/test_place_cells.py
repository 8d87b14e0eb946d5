"""Places by grid cell (migration 0008) answer exactly as the exact test, and the cell maps follow `place`."""

from __future__ import annotations

import math
import random

import pytest
from sqlalchemy import Connection, text

from udaconnect.places import DEMO_VENUE, read_venue
from udaconnect.places.store import NEAR_M, import_venue, place_by_cell, place_of

#: Both lookups side by side for every point of `probe` (cell and coordinate as a location row has them: the cell
#: of the geography's longitude, which wraps into [-180, 180]).
COMPARE = f"""
    SELECT p.i, p.lon, p.lat, coalesce(pl.place, 'null') AS exact, {place_by_cell('p')} AS by_cell
    FROM (SELECT i, lon, lat, udaconnect_cell(ST_X(coordinate::geometry), ST_Y(coordinate::geometry)) AS cell,
                 coordinate
          FROM (SELECT i, lon, lat, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS coordinate
                FROM probe) AS raw) AS p
    {place_of('p.coordinate')}
"""


def _compare(conn: Connection, points: list[tuple[float, float]]) -> list[tuple]:
    """The points where the two lookups differ (none, we hope), and how many points got a place at all."""
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS probe (i int, lon float8, lat float8)"))
    conn.execute(text("TRUNCATE probe"))
    conn.execute(text("INSERT INTO probe SELECT i, lon, lat FROM unnest(CAST(:lons AS float8[]), "
                      "CAST(:lats AS float8[])) WITH ORDINALITY AS t(lon, lat, i)"),
                 {"lons": [p[0] for p in points], "lats": [p[1] for p in points]})
    rows = conn.execute(text(COMPARE)).all()
    assert len(rows) == len(points)
    return rows


def _near_boundaries(venue, rng: random.Random, count: int) -> list[tuple[float, float]]:
    """Points within a few meters of the places' edges and corners (inside and out), on exact cell edges, and
    anywhere around the venue."""
    rings = [ring for p in venue.places if p.geometry["type"] == "Polygon" for ring in p.geometry["coordinates"]]
    rings += [[p.geometry["coordinates"]] for p in venue.places if p.geometry["type"] == "Point"]
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    meter = 1 / 111_320
    per = 5_009_400 / 360.0
    points = []
    for n in range(count):
        ring = rings[rng.randrange(len(rings))]
        a = ring[rng.randrange(len(ring))]
        b = ring[(ring.index(a) + 1) % len(ring)]
        t = rng.random() if n % 3 else 0.0  # corners too
        spread = rng.choice([0.01, 0.3, 1.0, NEAR_M, NEAR_M + 1.5]) * meter
        lon = a[0] + t * (b[0] - a[0]) + rng.uniform(-spread, spread) / math.cos(math.radians(a[1]))
        lat = a[1] + t * (b[1] - a[1]) + rng.uniform(-spread, spread)
        if n % 7 == 0:  # exactly on a cell's edge (its floor), or on a sub-cell's
            lat = math.floor((lat + 90) * per * 8) / (per * 8) - 90
        if n % 11 == 0:
            lon = math.floor((lon + 180) * per) / per - 180
        if n % 13 == 0:  # anywhere around the venue
            lon = rng.uniform(min(xs) - 20 * meter, max(xs) + 20 * meter)
            lat = rng.uniform(min(ys) - 20 * meter, max(ys) + 20 * meter)
        points.append((lon, lat))
    return points


@pytest.fixture
def demo_venue(db):
    with db.begin() as conn:
        import_venue(conn, read_venue(DEMO_VENUE))
    yield read_venue(DEMO_VENUE)


def test_the_cell_maps_answer_as_the_exact_test_near_every_boundary(db, demo_venue) -> None:
    points = _near_boundaries(demo_venue, random.Random(20261202), 30_000)
    with db.begin() as conn:
        rows = _compare(conn, points)
        counts = conn.execute(text("SELECT (SELECT count(*) FROM place_cell), "
                                   "(SELECT count(*) FROM place_cell WHERE place IS NULL), "
                                   "(SELECT count(*) FROM place_subcell)")).one()
        runs = conn.execute(text(
            "SELECT cell_starts, jsonb_array_length(cell_answers), subcell_starts, jsonb_array_length(subcell_answers) "
            "FROM place_lookup")).all()
    differ = [r for r in rows if r.exact != r.by_cell]
    assert not differ, differ[:5]
    named = {r.exact for r in rows}
    assert len(named) > 60 and "null" in named  # nearly every place, and no place, were both answered
    assert counts[0] > 500 and 0 < counts[1] < counts[0] and counts[2] == counts[1] * 64
    # one row of runs (width_bucket needs them sorted), far fewer than the cells and sub-cells they stand for
    [(cells, cell_answers, subcells, subcell_answers)] = runs
    assert cells == sorted(set(cells)) and subcells == sorted(set(subcells)) and cells[0] == subcells[0] == -2**63
    assert (len(cells), len(subcells)) == (cell_answers, subcell_answers)
    assert len(cells) < counts[0] and len(subcells) < counts[2] / 4


def test_nested_touching_tiny_and_point_places(db) -> None:
    """Places smaller than a sub-cell, sharing edges, nested three deep, equal in area (the id decides), a point."""
    lon0, lat0 = 13.4, 52.5  # another latitude: cells are narrower east-west
    m = 1 / 111_320
    k = m / math.cos(math.radians(lat0))

    def box(pid, kind, x0, y0, x1, y1):
        ring = [[lon0 + x0 * k, lat0 + y0 * m], [lon0 + x1 * k, lat0 + y0 * m], [lon0 + x1 * k, lat0 + y1 * m],
                [lon0 + x0 * k, lat0 + y1 * m], [lon0 + x0 * k, lat0 + y0 * m]]
        return {"type": "Feature", "id": pid, "properties": {"name": pid, "kind": kind},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}

    features = [box("hall", "hall", 0, 0, 60, 40), box("room", "room", 10, 10, 30, 30),
                box("booth-a", "booth", 12, 12, 14.5, 14.5), box("booth-b", "booth", 14.5, 12, 17, 14.5),
                box("tiny", "booth", 20.2, 20.2, 20.6, 20.5), box("twin-1", "booth", 40, 5, 43, 8),
                box("twin-2", "booth", 40, 5, 43, 8), box("outside", "booth", 70, 0, 73, 2),
                {"type": "Feature", "id": "kiosk", "properties": {"name": "Kiosk", "kind": "coffee"},
                 "geometry": {"type": "Point", "coordinates": [lon0 + 50 * k, lat0 + 45 * m]}}]
    venue = read_venue({"type": "FeatureCollection", "features": features})
    with db.begin() as conn:
        import_venue(conn, venue)
    rng = random.Random(7)
    points = _near_boundaries(venue, rng, 20_000)
    points += [(lon0 + rng.uniform(-10, 80) * k, lat0 + rng.uniform(-10, 55) * m) for _ in range(10_000)]
    with db.begin() as conn:
        rows = _compare(conn, points)
    assert not [r for r in rows if r.exact != r.by_cell][:5]
    named = {r.exact for r in rows}
    assert {'{"id" : "tiny", "name" : "tiny", "kind" : "booth"}',
            '{"id" : "twin-1", "name" : "twin-1", "kind" : "booth"}',
            '{"id" : "kiosk", "name" : "Kiosk", "kind" : "coffee"}'} <= named


def test_the_cell_maps_follow_every_change_of_place(db, demo_venue) -> None:
    def cells(conn: Connection) -> tuple[int, int]:
        return conn.execute(text("SELECT (SELECT count(*) FROM place_cell), "
                                 "(SELECT count(*) FROM place_subcell)")).one()

    with db.connect() as conn:
        full = cells(conn)
        assert full[0] > 0 and full[1] > 0
    with db.begin() as conn:  # a place moved by hand (not through the import): rebuilt at commit
        conn.execute(text("UPDATE place SET area = ST_Translate(area, 0.01, 0), reach = ST_Translate(reach, 0.01, 0) "
                          "WHERE id = 'booth-12'"))
    with db.begin() as conn:
        moved = conn.execute(text("SELECT ST_X(ST_Centroid(area)) FROM place WHERE id = 'booth-12'")).scalar()
        rows = _compare(conn, [(moved, conn.execute(text(
            "SELECT ST_Y(ST_Centroid(area)) FROM place WHERE id = 'booth-12'")).scalar())])
        assert rows[0].by_cell == rows[0].exact and '"booth-12"' in rows[0].by_cell
    with db.begin() as conn:
        conn.execute(text("DELETE FROM place WHERE kind <> 'hall'"))
    with db.connect() as conn:
        assert 0 < cells(conn)[0] < full[0]
    with db.begin() as conn:
        conn.execute(text("TRUNCATE place"))
    with db.begin() as conn:
        assert cells(conn) == (0, 0)
        # still one row of runs, answering no place without the exact test
        assert conn.execute(text("SELECT cell_starts, cell_answers, subcell_starts, subcell_answers "
                                 "FROM place_lookup")).all() == [([-2**63], ["null"], [-2**63], [None])]
        assert _compare(conn, [(-122.4022, 37.7837)])[0].by_cell == "null"
    with db.connect() as conn, conn.begin() as transaction:  # rolled back: nothing rebuilt, nothing lost
        import_venue(conn, read_venue(DEMO_VENUE))
        assert cells(conn) == full  # the import's own transaction already sees its maps
        transaction.rollback()
    with db.connect() as conn:
        assert cells(conn) == (0, 0)


def test_far_apart_places_and_the_antimeridian(db) -> None:
    """Runs with long gaps between them (places km apart, on other cell rows and columns), and cells across the
    antimeridian (always straddling, no sub-cells: the exact test)."""
    m = 1 / 111_320

    def box(pid, lon, lat, meters):
        k = m / math.cos(math.radians(lat))
        x1, y1 = min(lon + meters * k, 180.0), lat + meters * m
        ring = [[lon, lat], [x1, lat], [x1, y1], [lon, y1], [lon, lat]]
        return {"type": "Feature", "id": pid, "properties": {"name": pid, "kind": "room"},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}

    features = [box("here", 13.4, 52.5, 12), box("there", 13.45, 52.53, 5), box("east", 179.99990, -16.8, 20),
                box("west", -180.0, -16.8, 6), box("south", 2.0, -60.0, 4)]
    venue = read_venue({"type": "FeatureCollection", "features": features})
    with db.begin() as conn:
        import_venue(conn, venue)
    rng = random.Random(180)
    points = _near_boundaries(venue, rng, 20_000)
    points += [(rng.uniform(13.39, 13.46), rng.uniform(52.49, 52.54)) for _ in range(3_000)]  # mostly gaps
    points += [(rng.choice([179.9999, -180.0, -179.99995]) + rng.uniform(0, 5e-5), -16.8 + rng.uniform(-1, 25) * m)
               for _ in range(3_000)]
    with db.begin() as conn:
        rows = _compare(conn, points)
    assert not [r for r in rows if r.exact != r.by_cell][:5]
    named = {r.exact for r in rows}
    assert {f'{{"id" : "{f["id"]}", "name" : "{f["id"]}", "kind" : "room"}}' for f in features} <= named
