"""What naming the place of each answered location adds to a connection search, at 1M locations.

The 1M benchmark conference (bench connections' database, reused or loaded) with the demo venue imported; the
same searches (random persons, random 7-day ranges, 5 m; then one day at 500 m, where answers are long) run with
the search statement as it is (places by cell, migration 0009), with migration 0008's lookup, with the exact
lookup per row instead (the search before migration 0008) and with no place (a constant NULL), in turn on one
connection, several rounds; the first round checks that every lookup gives the same answer. Prints the load
average, the medians of each and of the ratio "with place / without" per search; --out writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from sqlalchemy import text

from udaconnect.places import DEMO_VENUE, read_venue
from udaconnect.places.store import exact_place, import_venue, place_of
from udaconnect.queries import connections
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect_dev.bench.connections import FIXES_PER_PERSON, prepare_database, queries

#: The variants timed side by side: the search as it is (places by cell, migration 0009's runs), with the lookup
#: of migration 0008 alone (a JSON object of the cells built per statement, a sub-cell probe per row on a
#: boundary), with the exact lookup of every answered row (the search before migration 0008), and with no place
#: at all (the baseline).
VARIANTS = {"cells": "", "cells_0008": "_0008", "exact": "_exact", "none": "_bare"}


def _place_by_cell_0008(row: str) -> str:
    """migration 0008's lookup, before the runs of 0009 (kept to time them side by side)."""
    point = f"{row}.coordinate"
    cells = "(SELECT jsonb_object_agg(cell::text, coalesce(place, '')) FROM place_cell)"
    return f"""coalesce(nullif(coalesce({cells} ->> {row}.cell::text, 'null'), ''),
        (SELECT ps_.place FROM place_subcell ps_
         WHERE ps_.subcell = udaconnect_subcell(ST_X(({point})::geometry), ST_Y(({point})::geometry))),
        ({exact_place(point)}), 'null')"""


def _variant_statements(cur) -> None:  # noqa: ANN001 - a psycopg2 cursor
    """The search's statement prepared again with its place lookup replaced: 0008's, exact per row, or none."""
    exact = "placed AS (\n    SELECT page.*, pl.place FROM page " + place_of("page.coordinate") + "\n)"
    cells_0008 = f"placed AS (\n    SELECT page.*, {_place_by_cell_0008('page')} AS place FROM page\n)"
    bare = "placed AS (\n    SELECT page.*, NULL::text AS place FROM page\n)"
    for name, (types, sql) in connections.STATEMENTS.items():
        assert connections.PLACED in sql
        cur.execute(f"PREPARE {name}_0008 {types} AS {sql.replace(connections.PLACED, cells_0008)}")
        cur.execute(f"PREPARE {name}_exact {types} AS {sql.replace(connections.PLACED, exact)}")
        cur.execute(f"PREPARE {name}_bare {types} AS {sql.replace(connections.PLACED, bare)}")


def _time(cur, name: str, params: list) -> tuple[float, str]:  # noqa: ANN001
    started = time.perf_counter()
    cur.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
    body = cur.fetchone()[0]
    return time.perf_counter() - started, body


def measure(settings: Settings, searches: list[tuple[int, datetime, datetime, float]], rounds: int) -> dict:
    """Each search in every variant, in a rotating order, `rounds` times (after a round that warms the cache)."""
    conn = psycopg2.connect(settings.database_url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        connections.prepare(cur)
        _variant_statements(cur)
        timed: dict[str, list[float]] = {label: [] for label in VARIANTS}
        ratios: dict[str, list[float]] = {label: [] for label in VARIANTS if label != "none"}
        answered = []
        labels = list(VARIANTS)
        for round_ in range(rounds + 1):  # round 0 warms the cache and is not counted
            for i, (person, start, end, meters) in enumerate(searches):
                params = [person, start, end, meters, None, "auto"]
                turn = (round_ + i) % len(labels)
                seconds, bodies = {}, {}
                for label in labels[turn:] + labels[:turn]:
                    seconds[label], bodies[label] = _time(cur, f"udaconnect_connections{VARIANTS[label]}", params)
                if not round_:  # every lookup names the same places
                    assert len({bodies[label] for label in labels if label != "none"}) == 1, (person, start)
                answered.append(bodies["cells"].count('"person":'))
                if round_:
                    for label in labels:
                        timed[label].append(seconds[label])
                    for label in ratios:
                        ratios[label].append(seconds[label] / seconds["none"])
    conn.close()
    total = {label: sum(values) for label, values in timed.items()}
    return {"searches": len(searches), "rounds": rounds, "rows_per_answer_median": statistics.median(answered),
            "median_ms": {label: statistics.median(values) * 1000 for label, values in timed.items()},
            "total_s": total,
            # per search: (with places) / (without), then the median; and the ratio of the totals
            "median_ratio": {label: statistics.median(values) for label, values in ratios.items()},
            "total_ratio": {label: total[label] / total["none"] for label in ratios}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench places", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20, help="searches per case")
    parser.add_argument("--rounds", type=int, default=3, help="times each search runs with and without")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    from udaconnect_dev.bench.connections import EmbeddedPostgres

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
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for case, r in results.items():
        ms, ratio, whole = r["median_ms"], r["median_ratio"], r["total_ratio"]
        print(f"{case}: {r['searches']} searches x {r['rounds']} rounds, median {r['rows_per_answer_median']:g} "
              f"people per answer; median {ms['none']:.1f} ms without places; "
              + "; ".join(f"{ms[label]:.1f} ms {label} (ratio {ratio[label]:.3f}, totals {whole[label]:.3f})"
                          for label in ratio))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "places.json").write_text(json.dumps({"results": results, "when": datetime.now().isoformat(),
                                                      "load_average": load}, indent=2))
    return 0
