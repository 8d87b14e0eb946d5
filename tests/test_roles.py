"""One database role per function: each may do what ROLES grants it and nothing more; every table is granted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError

from udaconnect.settings import Settings
from udaconnect.storage import database, tables
from udaconnect.storage.roles import OWNER_ONLY, ROLES, apply, role_name

PASSWORDS = {function: f"test-{function}-'quote\"" for function in ROLES}


def test_every_table_is_granted_to_a_function_and_every_grant_names_a_table() -> None:
    # place and its maps are queried as SQL text
    known = set(tables.metadata.tables) | {"place", "place_cell", "place_subcell", "place_lookup"}
    granted = {table for grants in ROLES.values() for table in grants}
    assert granted <= known, granted - known
    assert known - OWNER_ONLY <= granted, f"no function may use {known - granted}: grant it in storage/roles.py"
    assert "ingest" not in ROLES  # ingest never touches the database: no credentials at all


@pytest.fixture(scope="module")
def as_role(settings: Settings) -> Iterator[dict[str, Engine]]:
    with database.engine(settings).begin() as conn:
        apply(conn, PASSWORDS)
        apply(conn, PASSWORDS)  # idempotent: the Job runs it at every release
    url = make_url(settings.database_url)
    engines = {f: create_engine(url.set(username=role_name(f), password=PASSWORDS[f])) for f in ROLES}
    yield engines
    for engine in engines.values():
        engine.dispose()


def _can(engine: Engine, sql: str) -> bool:
    with engine.connect() as conn:
        try:
            conn.execute(text(sql))
        except ProgrammingError as error:
            assert "permission denied" in str(error), error
            return False
        finally:
            conn.rollback()
    return True


PERSON = "INSERT INTO person (first_name, last_name, company_name) VALUES ('A', 'B', 'C')"
LOCATION = ("INSERT INTO location (person_id, coordinate, creation_time) "
            "SELECT id, ST_GeogFromText('POINT(1 2)'), now() FROM person LIMIT 1")


def test_each_function_may_do_its_job_and_no_more(db: Engine, as_role: dict[str, Engine]) -> None:
    with db.begin() as conn:
        conn.execute(text(PERSON))
    assert _can(as_role["persons"], PERSON) and _can(as_role["persons"], "DELETE FROM person")
    assert _can(as_role["persist"], LOCATION)
    assert not _can(as_role["persist"], "DELETE FROM person") and not _can(as_role["persist"], "DELETE FROM location")
    assert _can(as_role["connections"], "SELECT count(*) FROM location")
    assert not _can(as_role["connections"], PERSON) and not _can(as_role["connections"], LOCATION)
    assert not _can(as_role["relay"], "SELECT count(*) FROM person")
    assert _can(as_role["retention"], "DELETE FROM location WHERE creation_time < now() - interval '30 days'")
    assert not _can(as_role["retention"], "DELETE FROM person")
    assert _can(as_role["encounters"], "TRUNCATE encounter, encounter_scan")
    for engine in as_role.values():
        assert not _can(engine, "CREATE TABLE mine (id int)")
        assert not _can(engine, "SELECT count(*) FROM alembic_version")
