"""The connection search: whom a person crossed paths with, as one set-based query answered in JSON by PostGIS.

One statement per request, prepared once per database connection (planning it costs more than running it).
The person's own fixes in the range drive a nested loop; each probes either the space-time grid (an
index-only scan of the few ~8 m cells a short distance can reach, see migration 0002) or, for long distances
and near the poles, the (coordinate, creation_time) GiST. Both read only fixes near the point *and* inside the
time range. DISTINCT ON keeps each other person's first fix; PostgreSQL writes the JSON body itself, which
halves the time of building it in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_HITS = """
WITH own AS (
    SELECT coordinate, creation_time, udaconnect_cells_near(coordinate, $4) AS cells FROM location
    WHERE person_id = $1 AND creation_time >= $2 AND creation_time < $3
), near AS (
    -- LATERAL makes every probe a parameterised index scan, whatever a generic plan guesses of the sizes
    SELECT o.* FROM own p CROSS JOIN LATERAL unnest(p.cells) AS c(cell) CROSS JOIN LATERAL (
        SELECT o.id, o.person_id, o.coordinate, o.creation_time FROM location o
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
        SELECT o.id, o.person_id, o.coordinate, o.creation_time FROM location o
        WHERE ST_DWithin(o.coordinate, p.coordinate, $4)
          AND o.creation_time >= $2 AND o.creation_time < $3
          {window}
          AND o.person_id <> $1
        OFFSET 0
    ) AS o
    WHERE p.cells IS NULL
), hits AS (
    SELECT DISTINCT ON (person_id) id, person_id, coordinate, creation_time
    FROM near
    ORDER BY person_id, creation_time, id
), page AS (
    SELECT h.*, p.first_name, p.last_name, p.company_name
    FROM hits h JOIN person p ON p.id = h.person_id
    ORDER BY h.creation_time, h.person_id
    LIMIT $5
)
"""
_JSON = _HITS + """
SELECT '[' || coalesce(string_agg(
    '{"person":{"id":' || person_id
    || ',"first_name":' || to_json(first_name) || ',"last_name":' || to_json(last_name)
    || ',"company_name":' || to_json(company_name)
    || '},"location":{"id":' || id || ',"person_id":' || person_id
    || ',"longitude":' || ST_X(coordinate::geometry) || ',"latitude":' || ST_Y(coordinate::geometry)
    || ',"creation_time":' || to_json(creation_time) || '}}',
    -- page is sorted and nothing between it and the aggregate reorders rows (no parallel plan, see prepare):
    -- an ORDER BY here would sort the same 10k rows twice (~5 ms at 1M locations)
    ','), '') || ']'
FROM page
"""
_WINDOW = "AND o.creation_time >= p.creation_time - $6 AND o.creation_time <= p.creation_time + $6"
_TYPES = "(int, timestamptz, timestamptz, float8, bigint{extra})"

STATEMENTS = {
    "udaconnect_connections": (_TYPES.format(extra=""), _JSON.replace("{window}", "")),
    "udaconnect_connections_window": (_TYPES.format(extra=", interval"), _JSON.replace("{window}", _WINDOW)),
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

    def statement(self) -> tuple[str, list[Any]]:
        params: list[Any] = [self.person_id, self.start, self.end, self.distance, self.limit]
        if self.window is None:
            return "udaconnect_connections", params
        return "udaconnect_connections_window", [*params, self.window]


def prepare(cursor) -> None:
    """Prepare the search statements on this database session (generic plans: same shape for every call)."""
    cursor.execute("SET plan_cache_mode = force_generic_plan")
    # a request is one person's search among many at once: workers would only steal cores from the others
    cursor.execute("SET max_parallel_workers_per_gather = 0")
    for name, (types, sql) in STATEMENTS.items():
        cursor.execute(f"PREPARE {name} {types} AS {sql}")


def search_json(dbapi_connection, info: dict[str, Any], search: ConnectionSearch) -> str:
    """The connections as a JSON array text: [{"person": {...}, "location": {...}}, ...] ordered by time."""
    with dbapi_connection.cursor() as cur:
        if not info.get("udaconnect_connections_prepared"):
            prepare(cur)
            info["udaconnect_connections_prepared"] = True
        name, params = search.statement()
        placeholders = ", ".join(["%s"] * len(params))
        cur.execute(f"EXECUTE {name} ({placeholders})", params)
        row = cur.fetchone()
    return str(row[0])
