"""Connection search: the original algorithm on the original schema vs our `connections` function over HTTP,
and our two plans against each other at every distance.

Sizes: one database per table size (10k, 100k, 1M locations by default; --rows adds sizes such as 10M): the
booth grid of the reference figures (udaconnect.synthetic.BoothGrid: persons x 100 fixes, 300 booths in 500 m x
300 m, 30 days: everyone meets everyone; `bench scale` measures the realistic conference),
queries for random persons over random 7-day ranges at 5 m. Prints a table, writes JSON and a PNG plot.

Distances (--distances): on the demo conference (400 persons, 3 days) and the 1M benchmark conference, random
persons over one day and over the full range at 5, 25, 50, 100, 500 m, 5 and 10 km, the search's SQL run directly
(JSON included) with the probe plan forced (the search as it was before issue 10) and as chosen by the estimate.
Each search runs under --budget seconds (statement_timeout); a plan that hits it in a cell is not asked again
there, and the cell reports "> budget".
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy import create_engine, text

from udaconnect.errors import SearchTimeout
from udaconnect.ports import free_port
from udaconnect.queries.connections import ConnectionSearch, search_json
from udaconnect.seed import seed
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect.synthetic import BoothGrid, DemoConference
from udaconnect_dev.bench import original
from udaconnect_dev.localstack import LocalStack

FIXES_PER_PERSON = 100


def prepare_database(server: str, rows: int, with_original: bool = True) -> Settings:
    """A database holding the conference of `rows` locations (kept between runs), plus the original schema."""
    name = f"bench_{rows}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    settings = Settings(database_url=f"{server}/{name}", pool_size=4)
    database.upgrade(settings)
    engine = database.engine(settings)
    with engine.connect() as conn:
        # reuse a previous run's data only when it is this conference, rows as wide as ingested ones
        have = conn.execute(text("SELECT CASE WHEN count(*) = count(event_id) THEN count(*) END FROM location"
                                 " WHERE person_id <= :persons"), {"persons": rows // FIXES_PER_PERSON}).scalar_one()
        legacy = conn.execute(text("SELECT to_regclass('legacy_location') IS NOT NULL")).scalar_one()
    if have != rows:
        print(f"loading {rows:,} locations into {name}...", flush=True)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS legacy_location; "
                              "TRUNCATE person, location RESTART IDENTITY CASCADE"))
        seed(engine, BoothGrid(persons=rows // FIXES_PER_PERSON, fixes_per_person=FIXES_PER_PERSON))
        legacy = False
    if with_original and not legacy:
        print(f"building the original schema beside it ({rows:,} rows)...", flush=True)
        with engine.begin() as conn:
            conn.execute(text(original.SCHEMA))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE location"))
    return settings


def queries(rows: int, count: int, seed_value: int = 7) -> list[tuple[int, date, date]]:
    """Random persons, random 7-day ranges (inclusive days) inside the 30-day conference."""
    rng = random.Random(seed_value)
    start = BoothGrid().start.date()
    out = []
    for _ in range(count):
        first = start + timedelta(days=rng.randrange(0, 30 - 6))
        out.append((rng.randint(1, rows // FIXES_PER_PERSON), first, first + timedelta(days=6)))
    return out


def bench_keys() -> tuple[dict[str, str], str]:
    """The environment a function needs to check the bench's tokens (auth on, as deployed; searches not rate
    limited), and an organizer's token signed with the bench's own throwaway keys."""
    import tempfile

    from udaconnect.auth import issue, keys

    directory = Path(tempfile.mkdtemp(prefix="udaconnect-bench-keys-"))
    keys.rotate(directory)
    signer = Settings(auth_jwks_file=str(directory / keys.JWKS),
                      auth_signing_key_file=str(directory / keys.SIGNING_KEY))
    env = {"UDACONNECT_AUTH": "on", "UDACONNECT_AUTH_JWKS_FILE": signer.auth_jwks_file,
           "UDACONNECT_AUTH_SIGNING_KEY_FILE": "", "UDACONNECT_SEARCH_RATE": "100000",
           "UDACONNECT_SEARCH_BURST": "100000"}
    return env, issue(signer, "organizer", ttl=timedelta(hours=6))


def time_ours(port: int, plan: list[tuple[int, date, date]], window: int | None,
              token: str) -> tuple[list[float], list[set[int]]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    timings, met = [], []
    for person, first, last in plan:
        url = f"/api/persons/{person}/connection?start_date={first}&end_date={last}&distance=5"
        if window is not None:
            url += f"&window={window}"
        began = time.perf_counter()
        conn.request("GET", url, headers={"Authorization": f"Bearer {token}"})
        reply = conn.getresponse()
        body = reply.read()
        timings.append(time.perf_counter() - began)
        assert reply.status == 200, body[:300]
        met.append({c["person"]["id"] for c in json.loads(body)})
    conn.close()
    return timings, met


def time_original(url: str, plan: list[tuple[int, date, date]]) -> tuple[list[float], list[set[int]], list[int]]:
    """Timings, who was met under our consistent range (end day inclusive for both), and raw result sizes."""
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    timings, met, raw = [], [], []
    with conn.cursor() as cur:
        for person, first, last in plan:
            began = time.perf_counter()
            # The original's end_date is exclusive for the person's own fixes: last + 1 day covers the same days.
            found = original.find_contacts(cur, person, first, last + timedelta(days=1))
            timings.append(time.perf_counter() - began)
            raw.append(len(found))
            # ...but one more day for everyone else's: drop those so both answer the same question.
            bound = datetime.combine(last + timedelta(days=1), datetime.min.time()).isoformat()
            met.append({c["person"]["id"] for c in found if c["location"]["creation_time"] < bound})
    conn.close()
    return timings, met, raw


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarise(timings: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(timings) * 1000, "p95_ms": percentile(timings, 0.95) * 1000,
            "n": len(timings)}


def run_size(server: str, rows: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    n_original = args.original_queries if rows <= args.original_max_rows else 0
    settings = prepare_database(server, rows, with_original=n_original > 0)
    stack = LocalStack(settings, log_dir=out / "logs")
    stack.database_url = settings.database_url
    env, token = bench_keys()
    process = stack.spawn("connections", free_port(), {"DATABASE_URL": settings.database_url, **env})
    try:
        stack.wait_healthy(process)
        plan = queries(rows, args.queries)
        time_ours(process.port, plan[:5], None, token)  # warm-up: connections, prepared statements, caches
        ours, ours_met = time_ours(process.port, plan, None, token)
        windowed, windowed_met = time_ours(process.port, plan, 15, token)
    finally:
        stack.stop()
    result: dict[str, Any] = {
        "rows": rows,
        "ours": {**summarise(ours), "persons_met_median": statistics.median(len(m) for m in ours_met)},
        "ours_window15": {**summarise(windowed),
                          "persons_met_median": statistics.median(len(m) for m in windowed_met)},
    }
    if n_original:
        legacy, legacy_met, raw = time_original(settings.database_url, plan[:n_original])
        agree = [a == b for a, b in zip(legacy_met, ours_met, strict=False)]
        result["original"] = {**summarise(legacy), "raw_rows_median": statistics.median(raw),
                              "persons_met_median": statistics.median(len(m) for m in legacy_met)}
        result["agreement"] = {"identical_person_sets": sum(agree), "compared": len(agree)}
        result["speedup_p50"] = result["original"]["p50_ms"] / result["ours"]["p50_ms"]
    database.engine(settings).dispose()
    return result


def report(results: list[dict[str, Any]]) -> str:
    lines = [f"{'rows':>10} | {'original p50/p95 ms':>20} | {'ours p50/p95 ms':>16} | {'window=15 p50/p95':>17} | "
             f"{'speedup':>7} | {'met (orig/ours/w15)':>19} | agree"]
    for r in results:
        o = r.get("original")
        orig = f"{o['p50_ms']:9.1f}/{o['p95_ms']:9.1f}" if o else f"{'skipped':>20}"
        ours, w = r["ours"], r["ours_window15"]
        met = f"{o['persons_met_median'] if o else '-'}/{ours['persons_met_median']}/{w['persons_met_median']}"
        agree = f"{r['agreement']['identical_person_sets']}/{r['agreement']['compared']}" if o else "-"
        speed = f"{r['speedup_p50']:6.0f}x" if o else "      -"
        lines.append(f"{r['rows']:>10,} | {orig} | {ours['p50_ms']:7.1f}/{ours['p95_ms']:7.1f} | "
                     f"{w['p50_ms']:7.1f}/{w['p95_ms']:8.1f} | {speed} | {met:>19} | {agree}")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = [r["rows"] for r in results]
    with_original = [r for r in results if "original" in r]
    ax.plot([r["rows"] for r in with_original], [r["original"]["p50_ms"] for r in with_original], "o-",
            label="original algorithm + schema (p50)")
    ax.plot(rows, [r["ours"]["p50_ms"] for r in results], "s-", label="connections function over HTTP (p50)")
    ax.plot(rows, [r["ours_window15"]["p50_ms"] for r in results], "^-", label="... with window=15 (p50)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("locations in the table")
    ax.set_ylabel("latency per query (ms)")
    ax.set_title("Connection search: one person, 7 days, 5 m")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


DISTANCES = (5.0, 25.0, 50.0, 100.0, 500.0, 5000.0, 10000.0)


def prepare_demo(server: str) -> Settings:
    """The demo conference in its own database (kept between runs)."""
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'bench_demo'")).first():
            conn.execute(text('CREATE DATABASE "bench_demo"'))
    admin.dispose()
    settings = Settings(database_url=f"{server}/bench_demo", pool_size=2)
    database.upgrade(settings)
    engine = database.engine(settings)
    with engine.connect() as conn:
        empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM location)")).scalar_one()
    if empty:
        print("loading the demo conference...", flush=True)
        seed(engine, DemoConference(), show_progress=False)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE location"))
    engine.dispose()
    return settings


def distance_queries(conference: BoothGrid | DemoConference, count: int, full: bool,
                     seed_value: int = 11) -> list[tuple[int, datetime, datetime]]:
    """`count` random (person, start, end): one random day of the conference, or all of it."""
    rng = random.Random(seed_value)
    first = conference.start
    out = []
    for _ in range(count):
        start = first if full else first + timedelta(days=rng.randrange(conference.days))
        out.append((rng.randint(1, conference.persons), start,
                    start + timedelta(days=conference.days if full else 1)))
    return out


def time_plan(conn: Any, info: dict[str, Any], plan: str, meters: float, queries_: list[tuple[int, datetime, datetime]],
              budget: float) -> dict[str, Any]:
    """p50/p95 of the search with `plan`; stops at the first search that hits the budget."""
    timings: list[float] = []
    answers: list[str | None] = []
    for person, start, end in queries_:
        began = time.perf_counter()
        try:
            answers.append(search_json(conn, info, ConnectionSearch(person, start, end, meters, plan=plan), budget))
            conn.commit()
        except SearchTimeout:
            conn.rollback()
            return {"timeout": True, "n": len(timings) + 1, "budget_s": budget, "answers": answers}
        timings.append(time.perf_counter() - began)
    met = statistics.median(len(json.loads(a)) for a in answers if a is not None) if answers else 0
    return {**summarise(timings), "timeout": False, "persons_met_median": met, "answers": answers}


def run_distances(server: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    conferences: list[tuple[str, BoothGrid | DemoConference, Any]] = [("demo", DemoConference(), prepare_demo(server)),
                   ("1M", BoothGrid(), prepare_database(server, 1_000_000, with_original=False))]
    rows = []
    for label, conference, settings in conferences:
        conn = psycopg2.connect(settings.database_url.replace("postgresql+psycopg2://", "postgresql://"))
        info: dict[str, Any] = {}
        try:
            for full in (False, True):
                plan_queries = distance_queries(conference, args.distance_queries, full)
                person, start, end = plan_queries[0]
                search_json(conn, info, ConnectionSearch(person, start, end, 5.0))  # warm-up: prepare, caches
                conn.commit()
                for meters in DISTANCES:
                    # at 5 m both plans get every query: "stays within 10 % of today" needs the same sample
                    n_old = len(plan_queries) if meters <= 5 else args.probe_queries
                    old = time_plan(conn, info, "probe", meters, plan_queries[:n_old], args.budget)
                    new = time_plan(conn, info, "auto", meters, plan_queries, args.budget)
                    both = zip(old.pop("answers"), new.pop("answers"), strict=False)
                    agree = [a == b for a, b in both]
                    row = {"conference": label, "range": "full" if full else "1 day", "distance_m": meters,
                           "before": old, "after": new, "agree": f"{sum(agree)}/{len(agree)}"}
                    rows.append(row)
                    print(distance_report([row]).splitlines()[-1], flush=True)
        finally:
            conn.close()
    return rows


def _cell(result: dict[str, Any]) -> str:
    if result["timeout"]:
        return f"> {result['budget_s']:g} s (1 of {result['n']})"
    return f"{result['p50_ms']:8.1f} / {result['p95_ms']:8.1f} (n={result['n']})"


def distance_report(rows: list[dict[str, Any]]) -> str:
    lines = ["| conference | range | distance | before: probe plan p50 / p95 ms | after: chosen plan p50 / p95 ms "
             "| met (median) | same answers |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        met = r["after"].get("persons_met_median", "-")
        lines.append(f"| {r['conference']} | {r['range']} | {r['distance_m']:g} m | {_cell(r['before'])} | "
                     f"{_cell(r['after'])} | {met} | {r['agree']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench connections", description=__doc__)
    parser.add_argument("--rows", type=int, action="append", help="table sizes (repeatable); default 10k 100k 1M")
    parser.add_argument("--extra-rows", type=int, action="append", default=[], help="sizes added to the defaults")
    parser.add_argument("--queries", type=int, default=40, help="queries of ours per size")
    parser.add_argument("--original-queries", type=int, default=5, help="queries of the original per size")
    parser.add_argument("--original-max-rows", type=int, default=1_000_000, help="skip the original above this")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    parser.add_argument("--distances", action="store_true",
                        help="only the plans at every distance (demo and 1M conferences), not the table sizes")
    parser.add_argument("--distance-queries", type=int, default=10, help="searches per cell with the chosen plan")
    parser.add_argument("--probe-queries", type=int, default=3, help="probe-plan searches per cell (5 m: all)")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds one search may take (statement_timeout)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if Settings.from_env().database_url:
        return _run(args, Settings.from_env().database_url.rsplit("/", 1)[0])
    # Its own cluster, kept on disk (the seeded conferences are reused by the next run) but stopped on the way
    # out unless it was already running: a benchmark leaves no server behind that it started.
    embedded = EmbeddedPostgres(PROJECT_ROOT / ".udaconnect" / "bench-postgres")
    running = embedded.running() if (embedded.data / "PG_VERSION").exists() else False
    try:
        return _run(args, embedded.start().rsplit("/", 1)[0])
    finally:
        if not running:
            from udaconnect.storage import database

            database.dispose()
            embedded.stop()


def _run(args: argparse.Namespace, server: str) -> int:
    sizes = sorted(set((args.rows or [10_000, 100_000, 1_000_000]) + args.extra_rows))
    if args.distances:
        rows = run_distances(server, args)
        table = distance_report(rows)
        print("\n" + table)
        (args.out / "connections-distances.json").write_text(json.dumps(
            {"results": rows, "when": datetime.now().isoformat()}, indent=2, default=str))
        (args.out / "connections-distances.md").write_text(table + "\n")
        print(f"\nwrote {args.out / 'connections-distances.md'}")
        return 0
    results = []
    for rows in sizes:
        results.append(run_size(server, rows, args, args.out))
        print(report(results[-1:]).splitlines()[-1], flush=True)
    table = report(results)
    print("\n" + table)
    (args.out / "connections.json").write_text(json.dumps({"results": results, "when": datetime.now().isoformat()},
                                                          indent=2))
    (args.out / "connections.txt").write_text(table + "\n")
    plot(results, args.out / "connections.png")
    print(f"\nwrote {args.out / 'connections.json'} and {args.out / 'connections.png'}")
    return 0
