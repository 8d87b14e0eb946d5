"""Fixes the record keeps but does not believe: `location_untrusted`, each with the reason it was not trusted.

persist judges every fix against its person's neighbouring fixes (udaconnect.plausibility): one that arrived too
late, needs an impossible speed, repeats within a second, or says its own accuracy is too poor is written here
instead of `location`. Kept apart rather than flagged in `location`, so the connection search, encounter
detection, the live stream and the grid and place indexes cannot use one by forgetting a predicate: nothing
there reads this table. The owner's own track shows them (marked) and organizers count them by reason.

Its key (event_source, event_id, event_index) is unique here as in `location`, and persist never writes a key
to one table that the other holds, so a redelivered fix is stored once, whatever it was judged the first time.
The person's foreign key cascades (erasure); retention deletes by creation_time as in `location`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE location_untrusted (
            -- from location's own sequence: a fix's id names it in either table
            id bigint PRIMARY KEY DEFAULT nextval(pg_get_serial_sequence('location', 'id')),
            person_id integer NOT NULL REFERENCES person (id) ON DELETE CASCADE,
            coordinate geography(POINT, 4326) NOT NULL,
            creation_time timestamptz NOT NULL,
            accuracy real,
            event_source text,
            event_id text,
            event_index integer NOT NULL DEFAULT 0 CONSTRAINT location_untrusted_event_index_check
                CHECK (event_index >= 0),
            reason text NOT NULL CONSTRAINT location_untrusted_reason_check
                CHECK (reason IN ('late', 'speed', 'burst', 'imprecise')),
            received_at timestamptz,
            CONSTRAINT location_untrusted_event_key UNIQUE (event_source, event_id, event_index)
        )""")
    op.execute("CREATE INDEX location_untrusted_person_time_idx ON location_untrusted (person_id, creation_time)")
    op.execute("CREATE INDEX location_untrusted_time_idx ON location_untrusted (creation_time)")


def downgrade() -> None:
    op.execute("DROP TABLE location_untrusted")
