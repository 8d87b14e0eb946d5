"""Place cells: the place of every location grid cell worked out once, so a search names places by a join.

`place_cell` maps a cell of migration 0002's grid (the `cell` column, ~8 m) to the place that answers for every
point of it, as the JSON text the search writes ('null' where the answer is no place), or to NULL where the cell
straddles a boundary (points in it may get different answers). `place_subcell` holds the same for the 8 x 8
sub-cells (~1 m) of each such straddling cell, under `udaconnect_subcell(longitude, latitude)`; NULL there too
where a sub-cell still straddles a boundary, and only those points pay the exact test (udaconnect.places.store).
A cell in neither table is farther than every place's reach: no place.

"Answers for every point" is proved, not sampled: the cell's square, widened by EPS_DEG so float rounding of a
point's cell cannot put it outside, must be covered by the smallest place (by area_m2, then id: the exact test's
order) of those it touches. A square touching no place but within a place's reach is mixed ("nearest within a
few meters" differs across it); one in no place's reach answers 'null'.

The maps are rebuilt from `place` at the commit of any transaction that changed it (a deferred trigger, once per
transaction however many rows changed), and emptied by TRUNCATE place, so they never disagree with it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = 5_009_400  # migration 0002's cells around a parallel
PER_DEGREE = f"({COLUMNS} / 360.0)"
#: Sub-cells per cell side: ~1 m x 0.8 m at 38 degrees; on the 1M bench conference 1.6 % of locations are left
#: to the exact test (16: 1.0 %, for 4 x the rows and build time).
SUB = 8
#: Margin of a cell's square, in degrees (~0.1 mm): far above a double's rounding of (latitude + 90) * PER_DEGREE.
EPS_DEG = 1e-9
_SUB_FLAG = 1 << 62  # sub-cell keys never equal a cell id (ids are below 2^54)

# The answer for each square: the smallest place it touches (DISTINCT ON's order), when that place covers it;
# NULL (mixed) when it touches none but lies within a place's reach, or its smallest touching place leaves part
# of it out; absent when no place reaches it. `wrapped` squares (across the antimeridian) are always mixed.
_ANSWERS = """
    SELECT key, CASE WHEN NOT wrapped AND touches AND ST_Covers(area, square) THEN ref END AS place
    FROM (
        SELECT DISTINCT ON (s.key) s.key, s.wrapped, s.square, p.area, p.ref,
               ST_Intersects(p.area, s.square) AS touches
        FROM squares s JOIN place p ON p.reach && s.square AND ST_DWithin(p.area, s.square, p.near_deg)
        ORDER BY s.key, s.wrapped DESC, ST_Intersects(p.area, s.square) DESC, p.area_m2, p.id
    ) AS first"""


def upgrade() -> None:
    op.execute("CREATE TABLE place_cell (cell bigint PRIMARY KEY, place text)")
    op.execute("CREATE TABLE place_subcell (subcell bigint PRIMARY KEY, place text)")
    op.execute(f"""
        CREATE FUNCTION udaconnect_subcell(longitude float8, latitude float8) RETURNS bigint
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT {_SUB_FLAG}::bigint | (floor((latitude + 90) * {PER_DEGREE} * {SUB})::bigint << 32)
                 | floor((longitude + 180) * {PER_DEGREE} * {SUB})::bigint
        $$""")
    op.execute(f"""
        CREATE FUNCTION udaconnect_place_cells() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM place_subcell;
            DELETE FROM place_cell;
            INSERT INTO place_cell (cell, place)
            WITH spans AS (
                SELECT DISTINCT y, x FROM place,
                    generate_series(floor((ST_YMin(reach) - {EPS_DEG} + 90) * {PER_DEGREE})::bigint,
                                    floor((ST_YMax(reach) + {EPS_DEG} + 90) * {PER_DEGREE})::bigint) AS y,
                    generate_series(floor((ST_XMin(reach) - {EPS_DEG} + 180) * {PER_DEGREE})::bigint,
                                    floor((ST_XMax(reach) + {EPS_DEG} + 180) * {PER_DEGREE})::bigint) AS x
                WHERE reach IS NOT NULL
            ), squares AS (
                SELECT (y << 32) | mod(mod(x, {COLUMNS}) + {COLUMNS}, {COLUMNS}) AS key,
                       x < 0 OR x >= {COLUMNS} - 1 OR x = 0 AS wrapped,
                       ST_MakeEnvelope(x / {PER_DEGREE} - 180 - {EPS_DEG}, y / {PER_DEGREE} - 90 - {EPS_DEG},
                                       (x + 1) / {PER_DEGREE} - 180 + {EPS_DEG},
                                       (y + 1) / {PER_DEGREE} - 90 + {EPS_DEG}, 4326) AS square
                FROM spans
            ){_ANSWERS};
            -- every sub-cell of a mixed cell is listed, 'null' where no place reaches it: a missing one means
            -- "test exactly"
            INSERT INTO place_subcell (subcell, place)
            WITH squares AS (
                SELECT {_SUB_FLAG}::bigint | (y << 32) | x AS key, false AS wrapped,
                       ST_MakeEnvelope(x / ({PER_DEGREE} * {SUB}) - 180 - {EPS_DEG},
                                       y / ({PER_DEGREE} * {SUB}) - 90 - {EPS_DEG},
                                       (x + 1) / ({PER_DEGREE} * {SUB}) - 180 + {EPS_DEG},
                                       (y + 1) / ({PER_DEGREE} * {SUB}) - 90 + {EPS_DEG}, 4326) AS square
                FROM place_cell c,
                    generate_series((c.cell >> 32) * {SUB}, (c.cell >> 32) * {SUB} + {SUB - 1}) AS y,
                    generate_series((c.cell & 4294967295) * {SUB}, (c.cell & 4294967295) * {SUB} + {SUB - 1}) AS x
                WHERE c.place IS NULL AND (c.cell & 4294967295) BETWEEN 1 AND {COLUMNS - 2}
            ), answers AS ({_ANSWERS})
            SELECT s.key, CASE WHEN a.key IS NULL THEN 'null' ELSE a.place END
            FROM squares s LEFT JOIN answers a USING (key);
            ANALYZE place_cell;
            ANALYZE place_subcell;
        END $$""")
    # place changes: mark it, and rebuild once at commit (the first call of the deferred row trigger does the work)
    op.execute("""
        CREATE FUNCTION udaconnect_place_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('udaconnect.place_cells_stale', 'on', true);
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION udaconnect_place_cells_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('udaconnect.place_cells_stale', true) = 'on' THEN
                PERFORM udaconnect_place_cells();
                PERFORM set_config('udaconnect.place_cells_stale', 'off', true);
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION udaconnect_place_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM place_subcell;
            DELETE FROM place_cell;
            RETURN NULL;
        END $$""")
    # BEFORE: the mark is set before any row's refresh fires, deferred or not (SET CONSTRAINTS ... IMMEDIATE)
    op.execute("CREATE TRIGGER place_changed BEFORE INSERT OR UPDATE OR DELETE ON place "
               "FOR EACH STATEMENT EXECUTE FUNCTION udaconnect_place_changed()")
    op.execute("CREATE CONSTRAINT TRIGGER place_cells_refresh AFTER INSERT OR UPDATE OR DELETE ON place "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION udaconnect_place_cells_refresh()")
    op.execute("CREATE TRIGGER place_truncated AFTER TRUNCATE ON place "
               "FOR EACH STATEMENT EXECUTE FUNCTION udaconnect_place_truncated()")
    op.execute("SELECT udaconnect_place_cells()")


def downgrade() -> None:
    op.execute("DROP TRIGGER place_truncated ON place")
    op.execute("DROP TRIGGER place_cells_refresh ON place")
    op.execute("DROP TRIGGER place_changed ON place")
    op.execute("DROP FUNCTION udaconnect_place_truncated()")
    op.execute("DROP FUNCTION udaconnect_place_cells_refresh()")
    op.execute("DROP FUNCTION udaconnect_place_changed()")
    op.execute("DROP FUNCTION udaconnect_place_cells()")
    op.execute("DROP FUNCTION udaconnect_subcell(float8, float8)")
    op.execute("DROP TABLE place_subcell")
    op.execute("DROP TABLE place_cell")
