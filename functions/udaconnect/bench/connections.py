"""Connection search: the original algorithm on the original schema vs our `connections` function over HTTP.

One run, one database per table size (10k, 100k, 1M locations by default; --rows adds sizes such as 10M):
the synthetic conference of the reference figures (persons x 100 fixes, 300 booths in 500 m x 300 m, 30 days),
queries for random persons over random 7-day ranges at 5 m. Prints a table, writes JSON and a PNG plot.
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

from udaconnect.bench import original
from udaconnect.localstack import LocalStack
from udaconnect.ports import free_port
from udaconnect.seed import seed
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect.synthetic import Conference

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
            conn.execute(text("DROP TABLE IF EXISTS legacy_location; TRUNCATE person, location RESTART IDENTITY"))
        seed(engine, Conference(persons=rows // FIXES_PER_PERSON, fixes_per_person=FIXES_PER_PERSON))
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
    start = Conference().start.date()
    out = []
    for _ in range(count):
        first = start + timedelta(days=rng.randrange(0, 30 - 6))
        out.append((rng.randint(1, rows // FIXES_PER_PERSON), first, first + timedelta(days=6)))
    return out


def time_ours(port: int, plan: list[tuple[int, date, date]], window: int | None) -> tuple[list[float], list[set[int]]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    timings, met = [], []
    for person, first, last in plan:
        url = f"/api/persons/{person}/connection?start_date={first}&end_date={last}&distance=5"
        if window is not None:
            url += f"&window={window}"
        began = time.perf_counter()
        conn.request("GET", url)
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
    process = stack.spawn("connections", free_port(), {"DATABASE_URL": settings.database_url})
    try:
        stack.wait_healthy(process)
        plan = queries(rows, args.queries)
        time_ours(process.port, plan[:5], None)  # warm-up: connections, prepared statements, caches
        ours, ours_met = time_ours(process.port, plan, None)
        windowed, windowed_met = time_ours(process.port, plan, 15)
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench connections", description=__doc__)
    parser.add_argument("--rows", type=int, action="append", help="table sizes (repeatable); default 10k 100k 1M")
    parser.add_argument("--extra-rows", type=int, action="append", default=[], help="sizes added to the defaults")
    parser.add_argument("--queries", type=int, default=40, help="queries of ours per size")
    parser.add_argument("--original-queries", type=int, default=5, help="queries of the original per size")
    parser.add_argument("--original-max-rows", type=int, default=1_000_000, help="skip the original above this")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    sizes = sorted(set((args.rows or [10_000, 100_000, 1_000_000]) + args.extra_rows))
    args.out.mkdir(parents=True, exist_ok=True)
    server = Settings.from_env().database_url.rsplit("/", 1)[0] if Settings.from_env().database_url else \
        EmbeddedPostgres(PROJECT_ROOT / ".udaconnect" / "bench-postgres").start().rsplit("/", 1)[0]
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
