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


#: What each function's role may do, written from the security model (docs/security.md), not read from
#: storage/roles.py: a grant added or widened there fails here until this table agrees. S I U D T: SELECT, INSERT,
#: UPDATE, DELETE, TRUNCATE; "I+id": INSERT and SELECT of the id column alone (append-only: the audit log).
EXPECTED_GRANTS: dict[str, dict[str, str]] = {
    "persons": {"person": "SIUD", "device": "SIUD", "device_ended": "SI", "event_outbox": "SIUD",
                "person_erasure": "SI", "location": "SD", "location_untrusted": "SD", "encounter": "SD",
                "encounter_scan": "SD", "audit_log": "I+id", "place": "S"},
    "connections": {"person": "S", "location": "S", "location_untrusted": "S", "place": "S", "place_cell": "S",
                    "place_subcell": "S", "place_lookup": "S", "encounter": "S", "device": "S", "audit_log": "I+id"},
    "persist": {"location": "SI", "location_untrusted": "SI", "person": "S", "person_erasure": "S", "device": "S",
                "event_outbox": "SI"},
    "encounters": {"encounter": "SIUDT", "encounter_scan": "SIUDT", "location": "S", "person": "S", "place": "S",
                   "device": "S", "audit_log": "I+id"},
    "relay": {"event_outbox": "SUD"},
    "retention": {"location": "SD", "location_untrusted": "SD", "encounter": "SD", "encounter_scan": "SD",
                  "event_outbox": "SD"},
}
_LETTERS = {"SELECT": "S", "INSERT": "I", "UPDATE": "U", "DELETE": "D", "TRUNCATE": "T"}


def test_each_roles_grants_in_the_database_are_the_table_written_by_hand(db: Engine, as_role) -> None:  # noqa: ARG001
    """What PostgreSQL itself says each role holds (its catalog, after the Job's `apply`), table by table and
    column by column; the audit log is append-only for every role: nobody but the owner updates or deletes it."""
    found: dict[str, dict[str, str]] = {}
    with db.connect() as conn:
        for function in EXPECTED_GRANTS:
            role = role_name(function)
            tables_ = conn.execute(text(
                "SELECT table_name, string_agg(privilege_type, ',') FROM information_schema.role_table_grants "
                "WHERE grantee = :r GROUP BY table_name"), {"r": role}).all()
            grants = {t: "".join(sorted((_LETTERS[p] for p in ps.split(",") if p in _LETTERS),
                                        key="SIUDT".index)) for t, ps in tables_}
            columns = conn.execute(text(
                "SELECT table_name, column_name FROM information_schema.column_privileges WHERE grantee = :r "
                "AND privilege_type = 'SELECT' AND table_name NOT IN (SELECT table_name FROM "
                "information_schema.role_table_grants WHERE grantee = :r AND privilege_type = 'SELECT')"),
                {"r": role}).all()
            for table, column in columns:
                grants[table] = grants.get(table, "") + f"+{column}"
            found[function] = {t: g for t, g in grants.items() if g}
    assert found == EXPECTED_GRANTS
    for function in EXPECTED_GRANTS:
        assert not _can(as_role[function], "UPDATE audit_log SET actor = actor") \
            and not _can(as_role[function], "DELETE FROM audit_log"), f"{function} may rewrite the audit log"
        assert not _can(as_role[function], "DELETE FROM person_erasure"), f"{function} may forget an erasure"
