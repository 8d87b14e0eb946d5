"""The legacy import against the original project's real schema and seed rows, in a scratch PostGIS."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from conftest import create_database
from udaconnect.legacy import Order, import_legacy
from udaconnect.storage import database
from udaconnect.storage.urls import libpq

SQL_FILES = ["2020-08-15_init-db.sql", "udaconnect_public_person.sql", "udaconnect_public_location.sql"]
BAY_AREA = (-122.29, 37.55)  # (lon, lat) of the seed's 17 Bay Area fixes
ALBUQUERQUE = (-106.57, 35.06)
#: the original's tables (2020-08-15_init-db.sql), for data sets made up here
ORIGINAL_DDL = """
    CREATE TABLE person (id SERIAL PRIMARY KEY, first_name VARCHAR NOT NULL, last_name VARCHAR NOT NULL,
                         company_name VARCHAR NOT NULL);
    CREATE TABLE location (id SERIAL PRIMARY KEY, person_id INT NOT NULL REFERENCES person (id),
                           coordinate GEOMETRY NOT NULL, creation_time TIMESTAMP NOT NULL DEFAULT NOW());
"""


def _admin_dsn(server: str, name: str) -> str:
    return libpq(f"{server}/{name}")


def _scratch(server: str, name: str) -> str:
    """A fresh database holding PostGIS (as the original's did); returns its libpq URI."""
    admin = psycopg2.connect(_admin_dsn(server, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    _run_sql(_admin_dsn(server, name), "CREATE EXTENSION IF NOT EXISTS postgis")
    return _admin_dsn(server, name)


def _run_sql(uri: str, sql: str) -> None:
    # the dumps may carry psql meta commands (\connect, \set ...): the server does not understand them
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("\\"))
    conn = psycopg2.connect(uri)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _target(server: str, name: str):
    return database.engine(create_database(server, name))


@pytest.fixture(scope="session")
def original(postgres_server, shared_reference):
    uri = _scratch(postgres_server, "legacy_original")
    for name in SQL_FILES:
        _run_sql(uri, (shared_reference / "udaconnect-original" / name).read_text())
    return uri


def _seed_points(folder: Path) -> dict[int, tuple[float, float, datetime]]:
    """Location id -> (x, y, naive time) decoded straight from the seed's WKB, independently of PostGIS."""
    rows = {}
    for match in re.finditer(
        r"values \((\d+), \d+, '([0-9A-F]+)', '([^']+)'\)", (folder / "udaconnect_public_location.sql").read_text()
    ):
        x, y = struct.unpack("<dd", bytes.fromhex(match[2])[5:21])
        rows[int(match[1])] = (x, y, datetime.fromisoformat(match[3]))
    return rows


def test_import_fixes_axes_keeps_ids_and_is_idempotent(postgres_server, original, shared_reference):
    target = _target(postgres_server, "legacy_target_seed")
    report = import_legacy(original, target)

    assert report.source.startswith("legacy:") and report.source.endswith("/legacy_original")
    assert (report.persons_read, report.persons_added) == (5, 5)
    assert (report.locations_read, report.locations_added) == (39, 39)
    assert report.swapped == 22 and report.skipped_total == 0 and report.renumbered == 0
    with target.connect() as conn:
        persons = conn.execute(text("SELECT id, first_name, last_name FROM person ORDER BY id")).all()
        located = conn.execute(
            text(
                "SELECT id, person_id, ST_X(coordinate::geometry), ST_Y(coordinate::geometry), creation_time, "
                "event_source, event_id FROM location ORDER BY id"
            )
        ).all()
    assert [tuple(p) for p in persons] == [
        (1, "Pam", "Trexler"),
        (5, "Taco", "Fargo"),
        (6, "Frank", "Shader"),
        (8, "Paul", "Badman"),
        (9, "Otto", "Spring"),
    ]
    seed = _seed_points(shared_reference / "udaconnect-original")
    assert [row.id for row in located] == sorted(seed)
    places = {"bay area": 0, "albuquerque": 0}
    for id, _person, lon, lat, time, source, event_id in located:
        x, y, naive = seed[id]
        assert (lon, lat) in {(x, y), (y, x)}, "coordinates must be the stored numbers, at most swapped"
        place = "bay area" if abs(lon - BAY_AREA[0]) < 0.1 else "albuquerque"
        expected = BAY_AREA if place == "bay area" else ALBUQUERQUE
        # two seed rows sit a degree off the venue (ids 55, 56): still the right continent and order
        assert abs(lon - expected[0]) < 1.1 and abs(lat - expected[1]) < 1.1, (id, lon, lat)
        places[place] += 1
        assert time == naive.replace(tzinfo=UTC) and time.utcoffset().total_seconds() == 0
        assert (source, event_id) == (report.source, str(id))
    assert places == {"bay area": 17, "albuquerque": 22}

    # the same source again, named as a SQLAlchemy URL: nothing new
    again = import_legacy(original.replace("postgresql://", "postgresql+psycopg2://"), target)
    assert (again.persons_added, again.locations_added, again.locations_read, again.swapped) == (0, 0, 39, 22)
    with target.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM location")).scalar() == 39
        # the original's bug: explicit seed ids without a sequence reset made the first inserts fail
        new_person = conn.execute(
            text("INSERT INTO person (first_name, last_name, company_name) VALUES ('New', 'Comer', 'X') RETURNING id")
        ).scalar()
        new_location = conn.execute(
            text(
                "INSERT INTO location (person_id, coordinate, creation_time) "
                "VALUES (:p, 'SRID=4326;POINT(-122.29 37.55)', now()) RETURNING id"
            ),
            {"p": new_person},
        ).scalar()
    assert new_person == 10 and new_location == 69


def test_ambiguous_rows_are_decided_by_nearby_fixes_or_reported(postgres_server):
    source = _scratch(postgres_server, "legacy_original_mixed")
    _run_sql(
        source,
        ORIGINAL_DDL
        + """
        INSERT INTO person VALUES (1, 'Ana', 'Memphis', 'Blues Inc'), (2, 'Ben', 'Oslo', 'Fjord AS');
        INSERT INTO location (id, person_id, coordinate, creation_time) VALUES
          (1, 1, 'POINT(35.149 -90.049)', '2021-11-01 09:00'),  -- certain: -90.049 cannot be a latitude
          (2, 1, 'POINT(35.15 -89.97)', '2021-11-01 10:00'),    -- ambiguous; only (lat, lon) is near Memphis
          (3, 2, 'POINT(10.75 59.91)', '2021-11-01 11:00'),     -- ambiguous, nothing certain near: reported
          (4, 2, 'POINT(200 300)', '2021-11-01 12:00'),         -- out of range both ways
          (5, 2, 'LINESTRING(0 0, 1 1)', '2021-11-01 13:00'),   -- not a point
          (6, 1, 'POINT(5 5)', '2021-11-01 14:00');             -- x = y: the same point both ways
    """,
    )
    target = _target(postgres_server, "legacy_target_mixed")
    report = import_legacy(source, target)
    assert dict(report.skipped_counts) == {"ambiguous axis order": 1, "coordinate out of range": 1, "not a point": 1}
    assert {(s.id, s.reason) for s in report.skipped} == {
        (3, "ambiguous axis order"),
        (4, "coordinate out of range"),
        (5, "not a point"),
    }
    assert report.locations_added == 3 and report.swapped == 2

    # the operator names the Oslo venue (longitude, latitude): the stored reading is the one near it
    again = import_legacy(source, target, venues=[(10.7522, 59.9139)])
    assert again.locations_added == 1 and again.swapped == 2 and again.skipped_counts["ambiguous axis order"] == 0
    with target.connect() as conn:
        rows = dict(
            conn.execute(
                text("SELECT id, ARRAY[ST_X(coordinate::geometry), ST_Y(coordinate::geometry)] FROM location")
            ).all()
        )
    assert rows == {1: [-90.049, 35.149], 2: [-89.97, 35.15], 3: [10.75, 59.91], 6: [5.0, 5.0]}


def test_explicit_assumption_and_person_id_collisions(postgres_server):
    source = _scratch(postgres_server, "legacy_original_clash")
    _run_sql(
        source,
        ORIGINAL_DDL
        + """
        INSERT INTO person VALUES (1, 'Ana', 'A', 'X'), (2, 'Ben', 'B', 'Y');
        INSERT INTO location VALUES (1, 1, 'POINT(59.91 10.75)', '2021-01-01'), (2, 2, 'POINT(10 20)', '2021-01-01');
    """,
    )
    target = _target(postgres_server, "legacy_target_clash")
    with target.begin() as conn:  # the target already has someone else under id 2, and a location with id 1
        conn.execute(
            text(
                "INSERT INTO person (id, first_name, last_name, company_name) VALUES "
                "(2, 'Someone', 'Else', 'Z'), (3, 'Cy', 'C', 'Z')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO location (id, person_id, coordinate, creation_time) "
                "VALUES (1, 3, 'SRID=4326;POINT(1 2)', now())"
            )
        )
    report = import_legacy(source, target, assume=Order.SWAPPED)
    assert report.persons_added == 1 and report.assumed == 1 and report.renumbered == 1
    assert {(s.table, s.id, s.reason) for s in report.skipped} == {
        ("person", 2, "person id taken by a different person in the target"),
        ("location", 2, "unknown person"),
    }
    with target.connect() as conn:
        moved = conn.execute(
            text(
                "SELECT id, ST_X(coordinate::geometry), ST_Y(coordinate::geometry) "
                "FROM location WHERE event_source = :s"
            ),
            {"s": report.source},
        ).one()
    assert moved[0] > 1 and (moved[1], moved[2]) == (10.75, 59.91)
    assert import_legacy(source, target, assume=Order.SWAPPED).locations_added == 0


def test_import_legacy_command(postgres_server, original):
    """`udaconnect import-legacy <DSN>` migrates the original and prints the report."""
    import subprocess
    import sys

    target = create_database(postgres_server, "legacy_target_cli")
    env = {"DATABASE_URL": target.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "udaconnect.cli", "import-legacy", original,
                           "--venue=-106.57,35.06"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "39" in done.stdout and "5" in done.stdout, done.stdout
    with database.engine(target).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM location")).scalar() == 39
    bad = subprocess.run([sys.executable, "-m", "udaconnect.cli", "import-legacy", original, "--venue", "x"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "LON,LAT" in bad.stderr


def test_a_time_no_read_could_hold_is_reported_not_imported():
    """Issue 10, finding 5: a row outside years 1900-9998 stored once made every read of it a 500."""
    from datetime import UTC, datetime

    from udaconnect.legacy import report
    from udaconnect.legacy.importer import _check
    from udaconnect.legacy.source import LegacyLocation

    def at(year: int) -> LegacyLocation:
        return LegacyLocation(1, 5, datetime(year, 1, 1, tzinfo=UTC), "POINT", 0, -122.4, 37.7)

    assert _check(at(1899), {5})[0] == report.TIME_OUT_OF_RANGE  # type: ignore[index]
    assert _check(at(9999), {5})[0] == report.TIME_OUT_OF_RANGE  # type: ignore[index]
    assert _check(at(2020), {5}) is None
