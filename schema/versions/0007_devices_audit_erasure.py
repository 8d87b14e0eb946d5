"""Security: enrolled devices, the audit log of organizers' reads, and the ids of erased persons.

- `device`: a phone an attendee enrolled. Its bearer token is a signed JWT naming the device; only its SHA-256
  is kept, so a database dump holds no usable credential. `revoked_at` set = the device may no longer report
  (persist drops its in-flight events in the transaction that would store them).
- `audit_log`: every read of a person's data by someone else (an organizer): who, what, whose, when. It keeps
  the person's id only (no foreign key), so it outlives an erasure and still says who looked.
- `person_erasure`: the id of each erased person and when, nothing else: persist drops (and counts) events of an
  erased person still in flight instead of dead-lettering them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE device (
            id uuid PRIMARY KEY,
            person_id integer NOT NULL REFERENCES person (id) ON DELETE CASCADE,
            name text NOT NULL DEFAULT '' CONSTRAINT device_name_form CHECK (length(name) <= 100),
            token_sha256 bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )""")
    op.execute("CREATE INDEX device_person_idx ON device (person_id)")
    op.execute("""
        CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            action text NOT NULL,
            person_id integer,
            detail text NOT NULL DEFAULT ''
        )""")
    op.execute("CREATE INDEX audit_log_at_idx ON audit_log (at)")
    op.execute("""
        CREATE TABLE person_erasure (
            person_id integer PRIMARY KEY,
            erased_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE person_erasure")
    op.execute("DROP TABLE audit_log")
    op.execute("DROP TABLE device")
