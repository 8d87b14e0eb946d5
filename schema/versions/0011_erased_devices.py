"""Devices ended by an erasure: `device_ended`, their ids alone, so the revocation feed names them.

A device row goes with its person (ON DELETE CASCADE), but its token (valid 365 days) does not: ingest refuses a
token only when GET /api/devices/revoked names its device, and that feed read `device.revoked_at`, which an erased
person's devices no longer have. The erasure now writes each of their device ids here, in its own transaction; the
feed reads both. Only the id and when: nothing of the person (a random UUID names no one), so retention leaves
them; after udaconnect.queries.devices.TOKEN_TTL no token of the device can be valid and the feed no longer
names it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE device_ended (
            id uuid PRIMARY KEY,
            ended_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX device_ended_at_idx ON device_ended (ended_at)")


def downgrade() -> None:
    op.execute("DROP TABLE device_ended")
