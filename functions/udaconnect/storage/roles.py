"""One database role per function with the least privilege it needs; the migration Job alone owns the schema.

The migration Job runs this right after `udaconnect db upgrade`, as the schema's owner:

    python -m udaconnect.storage.roles --passwords /etc/udaconnect/db-roles

For each function in ROLES it creates the login role `udaconnect_<function>` if absent, sets its password from
the file of that name (a mounted Secret, never the repository), revokes everything and grants exactly what ROLES
lists, so a privilege removed here is removed from the database. ingest has no role: it never touches the
database. No role may create objects (nothing but the owner has CREATE on the schema).

Why not an Alembic migration: passwords differ per deployment, and migrations run the same everywhere (tests, the
local stack, where one owner does everything). The grants live next to the table list instead: a table that no
role names fails tests/test_roles.py, so a new migration's table is granted in the same change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Connection, text

from udaconnect.settings import Settings

ALL = "SELECT, INSERT, UPDATE, DELETE"
#: Append-only: SQLAlchemy's INSERT ... RETURNING audit_log.id needs SELECT on that column (without it every
#: audited read answered 500 "permission denied for table audit_log": tests/deploy/test_pods.py); the entries
#: themselves stay unreadable.
AUDIT = "INSERT, SELECT (id)"
#: function -> table -> privileges. Erasure's cascades (location, encounter ... ON DELETE CASCADE) run as the
#: tables' owner, so persons needs DELETE only where it deletes by itself.
ROLES: dict[str, dict[str, str]] = {
    # the API on persons, their devices and erasure; its announcements go through the outbox
    "persons": {"person": ALL, "device": ALL, "device_ended": "SELECT, INSERT", "event_outbox": ALL,
                "person_erasure": "SELECT, INSERT",
                "location": "SELECT, DELETE", "location_untrusted": "SELECT, DELETE", "encounter": "SELECT, DELETE",
                "encounter_scan": "SELECT, DELETE", "audit_log": AUDIT, "place": "SELECT"},
    # searches and tracks: reads, and the audit of an organizer's reads
    "connections": {"person": "SELECT", "location": "SELECT", "location_untrusted": "SELECT", "place": "SELECT",
                    "place_cell": "SELECT", "place_subcell": "SELECT", "place_lookup": "SELECT", "encounter": "SELECT",
                    "device": "SELECT", "audit_log": AUDIT},
    # writes locations (the untrusted apart); drops the events of erased persons and revoked devices
    "persist": {"location": "SELECT, INSERT", "location_untrusted": "SELECT, INSERT", "person": "SELECT",
                "person_erasure": "SELECT", "device": "SELECT", "event_outbox": "SELECT, INSERT"},
    # its own tables (rebuilt with TRUNCATE), reading locations
    "encounters": {"encounter": ALL + ", TRUNCATE", "encounter_scan": ALL + ", TRUNCATE", "location": "SELECT",
                   "person": "SELECT", "place": "SELECT", "device": "SELECT", "audit_log": AUDIT},
    # the outbox relay CronJob publishes and marks what the outbox holds
    "relay": {"event_outbox": "SELECT, UPDATE, DELETE"},
    # the retention function (PingSource): deletes what is older than UDACONNECT_RETENTION_DAYS. No rights on the
    # audit log or the erasure records: who looked stays known, and an erased id is never reused (docs/security.md)
    "retention": {"location": "SELECT, DELETE", "location_untrusted": "SELECT, DELETE", "encounter": "SELECT, DELETE",
                  "encounter_scan": "SELECT, DELETE", "event_outbox": "SELECT, DELETE"},
}
#: Tables no function touches: the migration's own bookkeeping.
OWNER_ONLY = frozenset({"alembic_version", "spatial_ref_sys"})


def role_name(function: str) -> str:
    return f"udaconnect_{function}"


def apply(conn: Connection, passwords: dict[str, str]) -> None:
    """Create or update every role of ROLES and its grants (in the caller's transaction)."""
    tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    for function, grants in ROLES.items():
        role = role_name(function)
        if function not in passwords:
            raise SystemExit(f"no password for {role}: the Secret udaconnect-db-roles needs the key {function}")
        conn.execute(text(f"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
        # the password is never part of a DDL statement (what log_statement=ddl writes out): format() quotes it
        conn.execute(text("SELECT set_config('udaconnect.password', :password, true)"),
                     {"password": passwords[function]})
        conn.execute(text(f"DO $$ BEGIN EXECUTE format('ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                          f"NOREPLICATION PASSWORD %L', current_setting('udaconnect.password')); END $$"))
        conn.execute(text("SELECT set_config('udaconnect.password', '', true)"))
        conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}"))
        for table, privileges in grants.items():
            if table in tables:  # e.g. a table a later migration adds: granted once it exists
                conn.execute(text(f"GRANT {privileges} ON {table} TO {role}"))
        if any("INSERT" in privileges for privileges in grants.values()):
            conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))


def read_passwords(directory: Path) -> dict[str, str]:
    """function -> password, from one file per function (a mounted Secret's keys)."""
    return {path.name: path.read_text().strip() for path in directory.iterdir()
            if path.is_file() and path.name in ROLES and path.read_text().strip()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect.storage.roles", description=__doc__.split("\n")[0])
    parser.add_argument("--passwords", type=Path, required=True, help="a directory with one file per function")
    args = parser.parse_args(argv)
    from udaconnect.storage import database

    with database.engine(Settings.from_env()).begin() as conn:
        apply(conn, read_passwords(args.passwords))
    print(f"roles granted: {', '.join(role_name(f) for f in ROLES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
