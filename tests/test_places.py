"""Places: a venue imported from GeoJSON (every bad feature named), served as GeoJSON, and named in every answer."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from udaconnect.places import DEMO_VENUE, InvalidVenue, read_venue
from udaconnect.places.store import import_venue, place_of
from udaconnect.storage import bulk
from udaconnect.synthetic import Conference


@pytest.fixture
def venue_db(db):
    with db.begin() as conn:
        import_venue(conn, read_venue(DEMO_VENUE))
    yield db
    with db.begin() as conn:
        conn.execute(text("DELETE FROM place"))


def test_the_demo_venue_is_a_plausible_conference() -> None:
    venue = read_venue(DEMO_VENUE)
    kinds = [p.kind for p in venue.places]
    assert kinds.count("hall") == 2 and 40 <= kinds.count("booth") <= 80
    assert 6 <= kinds.count("room") + kinds.count("stage") <= 10
    assert {"coffee", "food", "entrance", "lobby"} <= set(kinds)
    assert all(p.properties.get("exhibitor") for p in venue.places if p.kind == "booth")
    assert venue.time_zone == "America/Los_Angeles"


def test_every_bad_feature_is_named() -> None:
    good = json.loads(DEMO_VENUE.read_text())["features"][0]
    features = [
        good,
        {**good, "id": "a b"},
        {**good, "id": "x1", "properties": {"kind": "booth"}},
        {**good, "id": "x2", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 2]]]}},
        {**good, "id": "x3", "geometry": {"type": "Point", "coordinates": [37.78, -122.4]}},
        {**good, "id": "x4", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
        {**good},  # the same id again
        "not a feature",
    ]
    with pytest.raises(InvalidVenue) as caught:
        read_venue({"type": "FeatureCollection", "features": features})
    fields = [e.field for e in caught.value.errors]
    assert fields == ["features[1] (a b).id", "features[2] (x1).properties.name", "features[3] (x2).geometry",
                      "features[4] (x3).geometry", "features[5] (x4).geometry", "features[6] (hall-a).id",
                      "features[7]"]
    assert "longitude, latitude" in caught.value.errors[3].message
    for bad in (b"{", b"[]", b'{"type": "FeatureCollection", "features": []}'):
        with pytest.raises(InvalidVenue):
            read_venue(bad)


def test_postgis_refuses_a_self_intersecting_polygon(db) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    venue = read_venue({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "ok", "geometry": {"type": "Point", "coordinates": [0, 0]},
         "properties": {"name": "Ok", "kind": "coffee"}},
        {"type": "Feature", "id": "bow", "geometry": bowtie, "properties": {"name": "Bow", "kind": "room"}}]})
    with pytest.raises(InvalidVenue) as caught, db.begin() as conn:
        import_venue(conn, venue)
    assert caught.value.errors[0].field == "features[1] (bow).geometry"
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM place")).scalar() == 0  # nothing half-imported


def test_the_command_imports_and_reports_each_bad_feature(settings, db, tmp_path) -> None:
    env = {"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "udaconnect.cli", "places", "import"]
    done = subprocess.run([*command, str(DEMO_VENUE)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "imported 76 places" in done.stdout
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "b1", "geometry": None, "properties": {"name": "B", "kind": "Booth"}}]}))
    refused = subprocess.run([*command, str(bad)], capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "features[0] (b1).properties.kind" in refused.stderr and "features[0] (b1).geometry" in refused.stderr
    with db.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM place")).scalar() == 76  # the bad file changed nothing
        conn.execute(text("DELETE FROM place"))


def _at(place_id: str, east: float = 0.0) -> tuple[float, float]:
    """The centre of a demo place, moved `east` meters."""
    venue = read_venue(DEMO_VENUE)
    ring = next(p for p in venue.places if p.id == place_id).geometry["coordinates"][0]
    lon = sum(x for x, _ in ring[:-1]) / 4 + east / (111_320 * 0.7903)
    return lon, sum(y for _, y in ring[:-1]) / 4


def test_answers_name_the_place_of_each_location(venue_db, connections_client) -> None:
    raw = venue_db.raw_connection()
    bulk.copy_persons(raw, [(1, "Ada", "Lovelace", "Acme"), (2, "Alan", "Turing", "Bletchley"),
                            (3, "Grace", "Hopper", "Navy"), (4, "Far", "Away", "Elsewhere")])
    t = datetime(2020, 7, 7, 17, 14, tzinfo=UTC)
    booth = _at("booth-12")
    aisle = _at("booth-12", east=6.5)  # 2 m east of the booth's edge: in Hall A, near nothing smaller
    bulk.copy_locations(raw, [(1, *booth, t), (2, booth[0], booth[1] + 0.00001, t), (3, *aisle, t),
                              (4, -122.0, 37.0, t)])
    raw.commit()
    raw.close()
    reply = connections_client.get("/api/persons/1/connection?start_date=2020-07-07&end_date=2020-07-07&distance=10")
    assert reply.status_code == 200, reply.data
    places = {c["person"]["id"]: c["location"]["place"] for c in reply.get_json()}
    assert places == {2: {"id": "booth-12", "name": "Booth 12", "kind": "booth"},
                      3: {"id": "hall-a", "name": "Hall A", "kind": "hall"}}
    geo = connections_client.get("/api/persons/1/connection?start_date=2020-07-07&end_date=2020-07-07",
                                 headers={"Accept": "application/geo+json"}).get_json()
    assert geo["features"][0]["properties"]["place"]["name"] == "Booth 12"
    track = connections_client.get("/api/persons/4/locations?start_date=2020-07-07&end_date=2020-07-07").get_json()
    assert track[0]["place"] is None
    one = connections_client.get(f"/api/locations/{track[0]['id'] - 3}").get_json()
    assert one["place"]["name"] == "Booth 12" and list(one)[:5] == ["id", "person_id", "longitude", "latitude",
                                                                   "creation_time"]


def test_a_location_a_few_meters_outside_a_place_is_at_it(venue_db) -> None:
    lon, lat = Conference().offset(-2.5, 86)  # 2.5 m west of the lobby's west wall, beside the west entrance
    with venue_db.connect() as conn:
        sql = ("SELECT pl.place::json->>'id' FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g) "
               f"AS p {place_of('p.g')}")
        assert conn.execute(text(sql), {"lon": lon, "lat": lat}).scalar() == "entrance-west"
        far_lon, far_lat = Conference().offset(-10, 40)
        assert conn.execute(text(sql), {"lon": far_lon, "lat": far_lat}).scalar() is None


def test_places_are_served_as_geojson_with_the_venue_time_zone(venue_db, connections_client) -> None:
    reply = connections_client.get("/api/places")
    assert reply.status_code == 200 and reply.content_type == "application/geo+json"
    body = reply.get_json()
    assert body["type"] == "FeatureCollection" and body["time_zone"] == "America/Los_Angeles"
    booth = next(f for f in body["features"] if f["id"] == "booth-12")
    assert booth["properties"]["exhibitor"] and booth["geometry"]["type"] == "Polygon"
    assert body["features"][0]["properties"]["kind"] == "hall"  # largest first: booths are drawn on top
    assert connections_client.post("/api/places").status_code == 405
