"""The connection search: whom a person crossed paths with, as one set-based query answered in JSON by PostGIS.

One statement per request, prepared once per database connection (planning it costs more than running it). It
holds two plans and runs one, chosen inside the statement by an estimate of their costs:

- **probe** (short distances, sparse data): each of the person's own fixes in the range probes either the
  space-time grid (an index-only scan of the few ~8 m cells a short distance can reach, see migration 0002) or,
  for long distances and near the poles, the (coordinate, creation_time) GiST; DISTINCT ON keeps each other
  person's first fix. Its cost is own fixes x fixes near each: it grows with the square of the distance.
- **walk** (when most candidates match): the person's own fixes are collected once into a coarse grid whose
  cells are at least `distance` wide (a JSON object: coarse cell -> the own fixes in it or the 8 around it,
  looked up by binary search); each other person's fixes in the range are walked in time order and the walk
  stops at the first one within `distance` of one of those own fixes. Its cost is one index descent per person
  plus the fixes walked before the first meeting: it follows the answer, not the square of the distance.

The estimate counts the fixes near one of the person's own fixes (the middle one by time, at most one per
person in the database) and compares own fixes x that count with persons x the fixes a walk should take
(`CHOICE`). Both plans test the same predicate (`_ST_DWithin` on the WGS 84 spheroid between two points), so
they give the same answers. PostgreSQL writes the JSON body itself, which halves the time of building it.
A search runs under a statement_timeout (settings.search_timeout): past it PostgreSQL cancels it and the caller
gets SearchTimeout (504), so nothing keeps running after the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from udaconnect.errors import SearchTimeout
from udaconnect.places.store import place_by_cell

#: How a search runs: "auto" chooses by the estimate; "probe" and "walk" force a plan (benchmarks, tests).
PLANS = ("auto", "probe", "walk")
#: Columns of migration 0002's fine grid around a parallel, and its rows per degree of latitude.
_COLUMNS = 5_009_400
_ROWS_PER_DEGREE = _COLUMNS / 360.0
#: Rough costs in microseconds (EXPLAIN ANALYZE on the demo and the 1M benchmark conferences, 2026-12): a
#: candidate pair of the probe plan (index-only scan, distance, DISTINCT ON's sort); a person walked (one index
#: descent); a fix walked (heap fetch, coarse cell, the exact test where the cell matches).
_PAIR_US, _PERSON_US, _FIX_US = 4.0, 15.0, 4.0
#: A candidate pair through the GiST (heap fetch, no index-only scan): long distances.
_GIST_PAIR_US = 12.0
#: Percent of the table's pages sampled where the grid does not reach: ~2,000 rows of ~100 bytes.
_PERCENT = "least(100, 200000.0 / greatest(1, pg_relation_size('location') / 100))"

_OWN = """
WITH own AS MATERIALIZED (
    SELECT coordinate, creation_time, cell, udaconnect_cells_near(coordinate, $4) AS cells FROM location
    WHERE person_id = $1 AND creation_time >= $2 AND creation_time < $3
)"""

_PROBE = """
near AS (
    -- LATERAL makes every probe a parameterised index scan, whatever a generic plan guesses of the sizes
    SELECT o.* FROM own p CROSS JOIN LATERAL unnest(p.cells) AS c(cell) CROSS JOIN LATERAL (
        SELECT o.id, o.person_id, o.coordinate, o.creation_time, o.cell FROM location o
        WHERE o.cell = c.cell
          AND o.creation_time >= $2 AND o.creation_time < $3
          {window}
          AND o.person_id <> $1
          -- the underscore form has no index support, so the planner keeps to the grid here
          AND _ST_DWithin(o.coordinate, p.coordinate, $4, true)
        OFFSET 0  -- keeps the subquery a parameterised probe: never flattened into a hash join
    ) AS o
    UNION ALL
    SELECT o.* FROM own p CROSS JOIN LATERAL (
        SELECT o.id, o.person_id, o.coordinate, o.creation_time, o.cell FROM location o
        WHERE ST_DWithin(o.coordinate, p.coordinate, $4)
          AND o.creation_time >= $2 AND o.creation_time < $3
          {window}
          AND o.person_id <> $1
        OFFSET 0
    ) AS o
    WHERE p.cells IS NULL
), probed AS (
    SELECT DISTINCT ON (person_id) id, person_id, coordinate, creation_time, cell
    FROM near
    ORDER BY person_id, creation_time, id
)"""

# A coarse cell is a block of the fine grid's cells at least `distance` (+1 %) high and wide at the own fixes'
# highest latitude; columns divide a parallel evenly so blocks wrap at the antimeridian. A fix within `distance`
# of an own fix is in that fix's block or one of the 8 around it (`reach`), whose own fixes are then tested.
_WALK = """
grid AS (
    SELECT greatest(1, ceil($4 * 1.01 / 110574.0 * {rows_per_degree}))::bigint AS block_rows,
           greatest(1, floor({columns} / greatest(1, ceil(CASE WHEN lat >= 89 THEN 360.0
                ELSE $4 * 1.01 / (110574.0 * cos(radians(lat))) END * {rows_per_degree}))))::bigint AS block_columns
    FROM (SELECT max(abs(ST_Y(coordinate::geometry))) + $4 * 1.01 / 110574.0 AS lat FROM own) AS bounds
), near_cells AS MATERIALIZED (
    SELECT k.key, o.coordinate, row_number() OVER (ORDER BY k.key) AS i
    FROM own o CROSS JOIN grid g CROSS JOIN LATERAL (
        SELECT ((((o.cell >> 32) / g.block_rows + dr) << 32) | mod(
                   (o.cell & 4294967295) * g.block_columns / {columns} + dc + g.block_columns, g.block_columns)) AS key
        FROM (VALUES (-1), (0), (1)) AS r(dr), (VALUES (-1), (0), (1)) AS c(dc)) AS k
), reach AS (
    -- the own fixes within reach of each coarse cell, as one array sorted by cell and a JSON object from each
    -- cell to its slice of it ([first, last]): JSON finds its keys by binary search, a slice is read in order
    SELECT (SELECT jsonb_object_agg(key::text, jsonb_build_array(first, last)) FROM (
                SELECT key, min(i) AS first, max(i) AS last FROM near_cells GROUP BY key) AS slices) AS cells,
           (SELECT array_agg(coordinate ORDER BY i) FROM near_cells) AS points
), walked AS (
    SELECT f.* FROM person q CROSS JOIN LATERAL (
        SELECT * FROM (
            SELECT w.id, w.person_id, w.coordinate, w.creation_time, w.cell FROM location w
            WHERE w.person_id = q.id AND w.creation_time >= $2 AND w.creation_time < $3
              AND (SELECT cells FROM reach) ? {coarse}::text
              -- a scalar subquery, not EXISTS: a semi-join could be planned as a hash join over every fix,
              -- and the walk would no longer stop at the first meeting
              AND (SELECT true FROM (SELECT (SELECT cells FROM reach) -> {coarse}::text AS slice) AS c
                   CROSS JOIN LATERAL unnest(
                       (SELECT points FROM reach)[(c.slice ->> 0)::int:(c.slice ->> 1)::int]) AS p(point)
                   WHERE _ST_DWithin(w.coordinate, p.point, $4, true) LIMIT 1)
            ORDER BY w.creation_time
            FETCH FIRST 1 ROW WITH TIES  -- the index gives time order; ties are few
        ) AS t
        ORDER BY t.creation_time, t.id
        LIMIT 1
    ) AS f
    WHERE q.id <> $1
)"""

# Lazily evaluated InitPlans: a forced plan ($6 <> 'auto') never runs the estimate.
CHOICE = f"""
persons AS (
    SELECT CASE WHEN reltuples >= 1 THEN reltuples ELSE (SELECT count(*) FROM person) END AS n
    FROM pg_class WHERE oid = 'person'::regclass
), sample AS (
    SELECT coordinate, cells FROM own ORDER BY creation_time OFFSET (SELECT count(*) / 2 FROM own) LIMIT 1
), sampled AS (
    -- fixes near the sample: counted in the grid's cells (index-only, at most one per person) or, where the grid
    -- does not reach (long distances, the poles), estimated from ~0.2 % of the table's pages: a GiST scan would
    -- read every fix ever recorded near the point, whatever the range
    SELECT CASE WHEN s.cells IS NOT NULL THEN (SELECT count(*) FROM (
                SELECT 1 FROM unnest(s.cells) AS c(cell) CROSS JOIN LATERAL (
                    SELECT 1 FROM location nearby
                    WHERE nearby.cell = c.cell AND nearby.creation_time >= $2 AND nearby.creation_time < $3
                      AND _ST_DWithin(nearby.coordinate, s.coordinate, $4, true) OFFSET 0) AS o
                LIMIT (SELECT n FROM persons)::bigint) AS near_one)
           ELSE (SELECT count(*) * 100.0 / {_PERCENT}
                 FROM location nearby TABLESAMPLE SYSTEM ({_PERCENT}) REPEATABLE (0)
                 WHERE nearby.creation_time >= $2 AND nearby.creation_time < $3
                   AND _ST_DWithin(nearby.coordinate, s.coordinate, $4, true)) END::float8 AS n,
           CASE WHEN s.cells IS NULL THEN {_GIST_PAIR_US} ELSE {_PAIR_US} END AS pair_us
    FROM sample s
), choice AS (
    SELECT CASE WHEN $6 <> 'auto' THEN $6 = 'walk'
        ELSE (SELECT count(*) FROM own) * (SELECT n * pair_us FROM sampled)
             > (SELECT n FROM persons) * ({_PERSON_US} + {_FIX_US} * least((SELECT count(*) FROM own),
                   greatest(1.0, (SELECT n FROM persons) / greatest((SELECT n FROM sampled), 1.0))))
        END AS walk
), hits AS (
    SELECT * FROM probed WHERE NOT (SELECT walk FROM choice)
    UNION ALL
    SELECT * FROM walked WHERE (SELECT walk FROM choice)
)"""

# The place of each answered location only (after the LIMIT), by its grid cell (migration 0008's maps as runs,
# 0009): a binary search per row, a second one in the sub-cells' runs, the exact test for the few on a boundary.
PLACED = f"placed AS (\n    SELECT page.*, {place_by_cell('page')} AS place FROM page\n)"

_PAGE = """
page AS (
    SELECT h.*, p.first_name, p.last_name, p.company_name
    FROM hits h JOIN person p ON p.id = h.person_id
    ORDER BY h.creation_time, h.person_id
    LIMIT $5
), {placed}
SELECT '[' || coalesce(string_agg(
    '{"person":{"id":' || person_id
    || ',"first_name":' || to_json(first_name) || ',"last_name":' || to_json(last_name)
    || ',"company_name":' || to_json(company_name)
    || '},"location":{"id":' || id || ',"person_id":' || person_id
    || ',"longitude":' || ST_X(coordinate::geometry) || ',"latitude":' || ST_Y(coordinate::geometry)
    || ',"creation_time":' || to_json(creation_time) || ',"place":' || coalesce(place, 'null') || '}}',
    -- page is sorted and nothing between it and the aggregate reorders rows (no parallel plan, see prepare; the
    -- place is a projection of page): an ORDER BY here would sort the same 10k rows twice
    ','), '') || ']'
FROM placed
""".replace("{placed}", PLACED)
_WINDOW = "AND o.creation_time >= p.creation_time - $6 AND o.creation_time <= p.creation_time + $6"
_TYPES = "(int, timestamptz, timestamptz, float8, bigint, {extra})"


def _walk_sql() -> str:
    coarse = (f"((((w.cell >> 32) / (SELECT block_rows FROM grid)) << 32)"
              f" | ((w.cell & 4294967295) * (SELECT block_columns FROM grid) / {_COLUMNS}))")
    return _WALK.format(columns=_COLUMNS, rows_per_degree=_ROWS_PER_DEGREE, coarse=coarse)


def _chosen_sql() -> str:
    return ",".join([_OWN, _PROBE.replace("{window}", ""), _walk_sql(), CHOICE, _PAGE])


def _window_sql() -> str:
    """Searches with a time window keep to the probe plan: the window already makes every probe small."""
    return ",".join([_OWN, _PROBE.replace("{window}", _WINDOW),
                     "\nhits AS (SELECT * FROM probed)", _PAGE])


STATEMENTS = {
    "udaconnect_connections": (_TYPES.format(extra="text"), _chosen_sql()),
    "udaconnect_connections_window": (_TYPES.format(extra="interval"), _window_sql()),
}


@dataclass(frozen=True)
class ConnectionSearch:
    """Other people within `distance` meters of `person_id`'s fixes in [start, end), optionally `window` apart."""

    person_id: int
    start: datetime
    end: datetime
    distance: float
    window: timedelta | None = None
    limit: int | None = None
    #: "auto", or a forced plan (see PLANS); searches with a window always probe.
    plan: str = "auto"

    def statement(self) -> tuple[str, list[Any]]:
        params: list[Any] = [self.person_id, self.start, self.end, self.distance, self.limit]
        if self.window is None:
            return "udaconnect_connections", [*params, self.plan]
        return "udaconnect_connections_window", [*params, self.window]


def prepare(cursor) -> None:
    """Prepare the search statements on this database session (generic plans: same shape for every call)."""
    cursor.execute("SET plan_cache_mode = force_generic_plan")
    # a request is one person's search among many at once: workers would only steal cores from the others
    cursor.execute("SET max_parallel_workers_per_gather = 0")
    for name, (types, sql) in STATEMENTS.items():
        cursor.execute(f"PREPARE {name} {types} AS {sql}")


def ensure_prepared(dbapi_connection, info: dict[str, Any]) -> None:
    """Prepare once per database session, committed at once: a search that later fails cannot roll it back."""
    if info.get("udaconnect_connections_prepared"):
        return
    with dbapi_connection.cursor() as cur:
        prepare(cur)
    dbapi_connection.commit()
    info["udaconnect_connections_prepared"] = True


def search_json(dbapi_connection, info: dict[str, Any], search: ConnectionSearch, timeout: float = 0) -> str:
    """The connections as a JSON array text: [{"person": {...}, "location": {...}}, ...] ordered by time.

    With `timeout` (seconds), PostgreSQL cancels the search past it (statement_timeout for this transaction
    only) and SearchTimeout is raised; the caller's transaction is then aborted and must be rolled back.
    """
    import psycopg2.errors

    ensure_prepared(dbapi_connection, info)
    name, params = search.statement()
    placeholders = ", ".join(["%s"] * len(params))
    with dbapi_connection.cursor() as cur:
        if timeout > 0:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{max(1, round(timeout * 1000))}ms",))
        try:
            cur.execute(f"EXECUTE {name} ({placeholders})", params)
        except psycopg2.errors.QueryCanceled as error:
            raise SearchTimeout(timeout) from error
        row = cur.fetchone()
    return str(row[0])
