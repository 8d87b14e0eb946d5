"""A fix's index in its report: locations are keyed by (event_source, event_id, event_index).

An io.udaconnect.locations.reported.v1 event carries a device's buffered fixes under one CloudEvent id; each fix
is known by its position in the event (0 for a single-fix event), so a redelivered report stores each fix once.
Adding a NOT NULL column with a constant default rewrites nothing (PostgreSQL 11+); the new unique index is built
once, under the migration's lock. The downgrade keeps every row: a fix past the first of a multi-fix report gets
the id `<id>#<index>`, so (event_source, event_id) is unique again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE location ADD COLUMN event_index integer NOT NULL DEFAULT 0 "
               "CONSTRAINT location_event_index_check CHECK (event_index >= 0)")
    op.execute("ALTER TABLE location DROP CONSTRAINT location_event_key")
    op.execute("ALTER TABLE location ADD CONSTRAINT location_event_key UNIQUE (event_source, event_id, event_index)")


def downgrade() -> None:
    op.execute("UPDATE location SET event_id = event_id || '#' || event_index WHERE event_index > 0")
    op.execute("ALTER TABLE location DROP CONSTRAINT location_event_key")
    op.execute("ALTER TABLE location DROP COLUMN event_index")
    op.execute("ALTER TABLE location ADD CONSTRAINT location_event_key UNIQUE (event_source, event_id)")
