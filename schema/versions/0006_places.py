"""Places: the named areas of a venue (halls, rooms, booths, coffee, entrances) a location falls in or is near.

A place is a polygon (or point) in WGS 84 degrees with a stable text id (its GeoJSON feature id, so a venue can
be imported again without changing what answers already said), a name, a kind and free properties (a booth's
exhibitor). `area_m2` orders nested places (a booth inside a hall): the smallest place that holds a location wins.
The GiST index on `reach` serves the lookup of the places within a few meters of a point (udaconnect.places.store).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE place (
            id text PRIMARY KEY CONSTRAINT place_id_form CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
            name text NOT NULL CONSTRAINT place_name_form CHECK (length(name) BETWEEN 1 AND 200),
            kind text NOT NULL CONSTRAINT place_kind_form CHECK (kind ~ '^[a-z][a-z_-]{0,31}$'),
            properties jsonb NOT NULL DEFAULT '{}',
            area geometry(Geometry, 4326) NOT NULL,
            area_m2 float8 NOT NULL DEFAULT 0,
            -- set at import: the area's box widened by the few meters a nearby location may be off (in degrees
            -- at the place's latitude), that distance in degrees of longitude, and {"id","name","kind"} as JSON
            -- text, so the lookup of an answered row is a planar test and no JSON is built per row
            reach geometry(Polygon, 4326),
            near_deg float8 NOT NULL DEFAULT 0,
            ref text
        )""")
    op.execute("CREATE INDEX place_reach_idx ON place USING gist (reach)")


def downgrade() -> None:
    op.execute("DROP TABLE place")
