"""What naming the place of each answered location adds to a connection search, at 1M locations.

The 1M benchmark conference (bench connections' database, reused or loaded) with the demo venue imported; the
same searches (random persons, random 7-day ranges, 5 m; then one day at 500 m, where answers are long) run with
the search statement as it is and with its place lookup replaced by a constant NULL, alternately on one
connection, several rounds. Prints the median of each and the added share; --out writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from sqlalchemy import text

from udaconnect.bench.connections import FIXES_PER_PERSON, prepare_database, queries
from udaconnect.places import DEMO_VENUE, read_venue
from udaconnect.places.store import import_venue, place_of
from udaconnect.queries import connections
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database


def _bare_statements(cur) -> None:  # noqa: ANN001 - a psycopg2 cursor
    """The search without its place lookup, prepared beside the real one."""
    for name, (types, sql) in connections.STATEMENTS.items():
        bare = sql.replace(place_of("page.coordinate"), "LEFT JOIN LATERAL (SELECT NULL::json AS place) AS pl ON true")
        assert bare != sql
        cur.execute(f"PREPARE {name}_bare {types} AS {bare}")


def _time(cur, name: str, params: list) -> tuple[float, int]:  # noqa: ANN001
    started = time.perf_counter()
    cur.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
    body = cur.fetchone()[0]
    return time.perf_counter() - started, body.count('"person":')


def measure(settings: Settings, searches: list[tuple[int, datetime, datetime, float]], rounds: int) -> dict:
    conn = psycopg2.connect(settings.database_url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        connections.prepare(cur)
        _bare_statements(cur)
        timed: dict[str, list[float]] = {"with": [], "without": []}
        answered = []
        for round_ in range(rounds + 1):  # round 0 warms the cache and is not counted
            for person, start, end, meters in searches:
                params = [person, start, end, meters, None, "auto"]
                order = [("without", "udaconnect_connections_bare"), ("with", "udaconnect_connections")]
                for label, name in order if round_ % 2 else order[::-1]:
                    seconds, rows = _time(cur, name, params)
                    if round_:
                        timed[label].append(seconds)
                        answered.append(rows) if label == "with" else None
    conn.close()
    with_, without = sum(timed["with"]), sum(timed["without"])
    return {"searches": len(searches), "rounds": rounds, "rows_per_answer_median": statistics.median(answered),
            "median_ms_with": statistics.median(timed["with"]) * 1000,
            "median_ms_without": statistics.median(timed["without"]) * 1000,
            "total_s_with": with_, "total_s_without": without, "added_percent": (with_ / without - 1) * 100}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench places", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20, help="searches per case")
    parser.add_argument("--rounds", type=int, default=3, help="times each search runs with and without")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    from udaconnect.bench.connections import EmbeddedPostgres

    embedded = EmbeddedPostgres(PROJECT_ROOT / ".udaconnect" / "bench-postgres")
    running = embedded.running() if (embedded.data / "PG_VERSION").exists() else False
    try:
        settings = prepare_database(embedded.start().rsplit("/", 1)[0], args.rows, with_original=False)
        with database.engine(settings).begin() as conn:
            import_venue(conn, read_venue(DEMO_VENUE))
            conn.execute(text("ANALYZE place"))
        week = [(p, datetime.combine(a, datetime.min.time(), UTC),
                 datetime.combine(b + timedelta(days=1), datetime.min.time(), UTC), 5.0)
                for p, a, b in queries(args.rows, args.queries)]
        rng = random.Random(11)
        day = [(rng.randint(1, args.rows // FIXES_PER_PERSON), s, s + timedelta(days=1), 500.0)
               for s in (week[i][1] for i in range(args.queries))]
        results = {"7 days, 5 m": measure(settings, week, args.rounds),
                   "1 day, 500 m": measure(settings, day, args.rounds)}
    finally:
        database.dispose()
        if not running:
            embedded.stop()
    for case, r in results.items():
        print(f"{case}: {r['searches']} searches x {r['rounds']} rounds, median {r['rows_per_answer_median']:g} "
              f"people per answer; median {r['median_ms_without']:.1f} ms without places, "
              f"{r['median_ms_with']:.1f} ms with; total {r['added_percent']:+.1f} %")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "places.json").write_text(json.dumps({"results": results, "when": datetime.now().isoformat()},
                                                     indent=2))
    return 0
