"""Migrations: upgrade from nothing, downgrade, upgrade again; the search's indexes exist and are used."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from conftest import create_database
from udaconnect.queries.connections import STATEMENTS, ConnectionSearch
from udaconnect.seed import seed
from udaconnect.storage import database
from udaconnect.synthetic import BoothGrid


def test_upgrade_downgrade_upgrade(postgres_server: str) -> None:
    settings = create_database(postgres_server, "udaconnect_migrations")
    engine = database.engine(settings)
    columns = {c["name"]: c for c in inspect(engine).get_columns("location")}
    assert str(columns["coordinate"]["type"]).startswith("geography(POINT,4326)")
    assert "TIMESTAMP WITH TIME ZONE" in str(columns["creation_time"]["type"]).upper() or \
        columns["creation_time"]["type"].timezone
    uniques = {u["name"]: u["column_names"] for u in inspect(engine).get_unique_constraints("location")}
    assert uniques["location_event_key"] == ["event_source", "event_id", "event_index"]
    outbox = {c["name"] for c in inspect(engine).get_columns("event_outbox")}
    assert {"seq", "id", "source", "type", "attributes", "data", "created_at", "attempts", "last_error"} <= outbox
    uniques = {u["name"]: u["column_names"] for u in inspect(engine).get_unique_constraints("event_outbox")}
    assert uniques["event_outbox_event_key"] == ["source", "id"]
    database.downgrade(settings, "0002")
    assert not inspect(engine).has_table("event_outbox") and inspect(engine).has_table("location")
    database.downgrade(settings, "base")
    assert not inspect(engine).has_table("location")
    database.upgrade(settings)
    engine.dispose()
    assert inspect(database.engine(settings)).has_table("location")
    assert inspect(database.engine(settings)).has_table("event_outbox")


def test_an_event_is_stored_once_in_the_outbox(db) -> None:
    """(source, id) is unique: the same event cannot wait twice."""
    insert = text("INSERT INTO event_outbox (source, id, type) VALUES ('/s', '1', 't')")
    with db.begin() as conn:
        conn.execute(text("TRUNCATE event_outbox"))
        conn.execute(insert)
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(insert)
    with db.begin() as conn:
        assert conn.execute(text("SELECT attributes, attempts FROM event_outbox")).one() == ({}, 0)
        conn.execute(text("TRUNCATE event_outbox"))


def test_cascade_deletes_a_persons_locations(db) -> None:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES ('a', 'b', 'c')"))
        conn.execute(text("INSERT INTO location (person_id, coordinate, creation_time) "
                          "VALUES (1, 'SRID=4326;POINT(-122 37)', now())"))
        conn.execute(text("DELETE FROM person WHERE id = 1"))
        assert conn.execute(text("SELECT count(*) FROM location")).scalar() == 0


def test_the_search_uses_the_space_time_index(db) -> None:
    seed(db, BoothGrid(persons=400, fixes_per_person=50, booths=40), show_progress=False)
    search = ConnectionSearch(7, datetime(2020, 7, 3, tzinfo=UTC), datetime(2020, 7, 10, tzinfo=UTC), 5.0)
    name, params = search.statement()
    types, sql = STATEMENTS[name]
    raw = db.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute(f"PREPARE plan_check {types} AS {sql}")
            cur.execute("SET plan_cache_mode = force_generic_plan")
            cur.execute(f"EXPLAIN (ANALYZE, FORMAT TEXT) EXECUTE plan_check ({', '.join(['%s'] * len(params))})",
                        params)
            plan = "\n".join(row[0] for row in cur.fetchall())
    finally:
        raw.close()
    lines = plan.splitlines()
    grid = next(line for line in lines if "location_cell_time_idx" in line)
    assert "Index Only Scan" in grid and "rows=0 " not in grid, plan  # short distances probe the grid...
    gist = next(line for line in lines if "location_coordinate_time_gist" in line)
    assert "never executed" in gist or "loops=0" in gist, plan  # ...not the GiST
    assert "location_person_time_idx" in plan, plan
    assert "Seq Scan on location" not in plan, plan


def test_0005_keys_fixes_by_index_and_its_downgrade_keeps_every_row(postgres_server: str) -> None:
    settings = create_database(postgres_server, "udaconnect_migration_0005")
    engine = database.engine(settings)
    insert = ("INSERT INTO location (person_id, coordinate, creation_time, event_source, event_id{}) "
              "VALUES (1, 'SRID=4326;POINT(1 2)', now(), '/devices/p', 'e'{})")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES ('a', 'b', 'c')"))
        for index in range(3):
            conn.execute(text(insert.format(", event_index", f", {index}")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(insert.format(", event_index", ", 2")))
    database.downgrade(settings, "0004")
    with engine.connect() as conn:
        ids = sorted(conn.execute(text("SELECT event_id FROM location")).scalars())
    assert ids == ["e", "e#1", "e#2"]
    database.upgrade(settings)
    engine.dispose()
