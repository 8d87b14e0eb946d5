"""`nox -s bench -- scale --attendees N --days D`: the search at the size of a real conference.

For each --attendees: the realistic conference (udaconnect.synthetic.Conference: phones every 10-30 s) loaded by
COPY into its own database (kept between runs while its size and seed match), then, over HTTP with auth on (an
organizer's token, the `connections` function as deployed): random attendees' searches over every day at 5 m,
the same with window=15, and one-day window searches; each also as a plain PostGIS self-join written here
(`ST_DWithin` on the GiST + `DISTINCT ON`, the same tables and indexes, the same JSON built in SQL), whose answers
(each other person's first fix) are checked against ours. With --encounters, encounters are rebuilt and a person's
encounters read through the `encounters` function. Prints one JSON line per size: rows, attendees, people met per
attendee-day at 5 m with and without window=15 (the plain join's count), p50/p95 of each search.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy import create_engine, text

from udaconnect.ports import free_port
from udaconnect.seed import seed
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.synthetic import Conference

#: The plain join: each other person's first fix within `distance` of one of the person's (and `window` of it).
PLAIN = """
SELECT '[' || coalesce(string_agg(
    '{"person":{"id":' || o.person_id || ',"first_name":' || to_json(q.first_name) || ',"last_name":'
    || to_json(q.last_name) || ',"company_name":' || to_json(q.company_name) || '},"location":{"id":' || o.id
    || ',"person_id":' || o.person_id || ',"longitude":' || ST_X(o.coordinate::geometry) || ',"latitude":'
    || ST_Y(o.coordinate::geometry) || ',"creation_time":' || to_json(o.creation_time) || '}}',
    ',' ORDER BY o.creation_time, o.person_id), '') || ']'
FROM (
    SELECT DISTINCT ON (o.person_id) o.id, o.person_id, o.coordinate, o.creation_time
    FROM location p JOIN location o ON ST_DWithin(o.coordinate, p.coordinate, %(distance)s)
    WHERE p.person_id = %(person)s AND p.creation_time >= %(start)s AND p.creation_time < %(end)s
      AND o.creation_time >= %(start)s AND o.creation_time < %(end)s AND o.person_id <> %(person)s
      AND (%(window)s::interval IS NULL OR o.creation_time BETWEEN p.creation_time - %(window)s::interval
                                                             AND p.creation_time + %(window)s::interval)
    ORDER BY o.person_id, o.creation_time, o.id
) AS o JOIN person q ON q.id = o.person_id
"""


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(timings: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(timings) * 1000, 1), "p95_ms": round(percentile(timings, 0.95) * 1000, 1)}


def prepare(server: str, conference: Conference) -> tuple[Settings, dict[str, Any]]:
    """The conference's database, built by COPY unless a previous run left this very conference there."""
    name = f"bench_scale_{conference.persons}x{conference.days}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    settings = Settings(database_url=f"{server}/{name}", pool_size=2)
    database.upgrade(settings)
    engine = database.engine(settings)
    signature = repr(conference)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_conference (signature text, build_s float8)"))
        built = conn.execute(text("SELECT build_s FROM bench_conference WHERE signature = :s"),
                             {"s": signature}).scalar()
    if built is None:
        print(f"building {conference.persons:,} attendees x {conference.days} days into {name}...", flush=True)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE person, location, place, encounter RESTART IDENTITY CASCADE; "
                              "DELETE FROM bench_conference"))
        began = time.monotonic()
        seed(engine, conference, show_progress=True, encounters=False)
        built = time.monotonic() - began
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_conference VALUES (:s, :b)"), {"s": signature, "b": built})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE location"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM location")).scalar_one()
        size = conn.execute(text("SELECT pg_total_relation_size('location')")).scalar_one()
    return settings, {"rows": rows, "build_s": round(built, 1), "bytes_per_fix": round(size / max(rows, 1))}


def attendee_days(settings: Settings, conference: Conference, count: int, seed_value: int) -> list[tuple[int, date]]:
    """`count` random (attendee, local day) pairs at which the attendee was there."""
    conn = psycopg2.connect(settings.database_url.replace("postgresql+psycopg2://", "postgresql://"))
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT person_id, (creation_time AT TIME ZONE %s)::date FROM location "
                    "WHERE person_id = ANY(%s) ORDER BY 1, 2",
                    (conference.time_zone, random.Random(seed_value).sample(
                        range(1, conference.persons + 1), min(conference.persons, count * 2))))
        present = cur.fetchall()
    conn.close()
    return random.Random(seed_value).sample(present, min(count, len(present)))


def _bounds(first: date, last: date, zone: str) -> tuple[datetime, datetime]:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    return (datetime(first.year, first.month, first.day, tzinfo=tz),
            datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1))


class Client:
    """One keep-alive HTTP connection to a function, every request with the organizer's token."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> tuple[float, Any]:
        try:
            return self._get(path)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the server closes a keep-alive connection idle for a few seconds (the plain join ran meanwhile)
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            return self._get(path)

    def _get(self, path: str) -> tuple[float, Any]:
        began = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        reply = self.conn.getresponse()
        body = reply.read()
        took = time.perf_counter() - began
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: {reply.status} {body[:300]!r}")
        return took, json.loads(body)


def first_fixes(answer: list[dict[str, Any]]) -> dict[int, int]:
    """Each person met -> the id of the fix where first met."""
    return {c["person"]["id"]: c["location"]["id"] for c in answer}


def run_size(server: str, conference: Conference, args: argparse.Namespace, key_dir: Path) -> dict[str, Any]:
    from udaconnect.auth import issue
    from udaconnect_dev.localstack import LocalStack

    settings, built = prepare(server, conference)
    first, last = conference.start.date(), conference.start.date() + timedelta(days=conference.days - 1)
    signer = Settings(auth_jwks_file=str(key_dir / "jwks.json"), auth_signing_key_file=str(key_dir / "signing-key.pem"))
    token = issue(signer, "organizer", ttl=timedelta(hours=6))
    env = {"DATABASE_URL": settings.database_url, "UDACONNECT_AUTH": "on",
           "UDACONNECT_AUTH_JWKS_FILE": signer.auth_jwks_file, "UDACONNECT_AUTH_SIGNING_KEY_FILE": "",
           "UDACONNECT_SEARCH_RATE": "100000", "UDACONNECT_SEARCH_BURST": "100000",
           "UDACONNECT_SEARCH_TIMEOUT": "300", "UDACONNECT_VENUE_TIME_ZONE": conference.time_zone}
    if args.encounters:
        from udaconnect.encounters_command import rebuild

        began = time.monotonic()
        rebuild(database.engine(settings), Settings.from_env({"DATABASE_URL": settings.database_url}))
        built["encounters_build_s"] = round(time.monotonic() - began, 1)
    stack = LocalStack(settings, log_dir=args.out / "logs")
    stack.database_url = settings.database_url
    targets = ["connections"] + (["encounters"] if args.encounters else [])
    processes = {t: stack.spawn(t, free_port(), env) for t in targets}
    plain = psycopg2.connect(settings.database_url.replace("postgresql+psycopg2://", "postgresql://"))
    plain.autocommit = True
    sample = attendee_days(settings, conference, args.queries, args.seed)
    timings: dict[str, list[float]] = {}
    met: dict[str, list[int]] = {"window": [], "day": []}
    checked = agreed = 0

    def both(name: str, person: int, start: date, end: date, window: int | None) -> list[dict[str, Any]]:
        nonlocal checked, agreed
        url = f"/api/persons/{person}/connection?start_date={start}&end_date={end}&distance=5"
        took, ours = client.get(url + (f"&window={window}" if window else ""))
        timings.setdefault(name, []).append(took)
        lower, upper = _bounds(start, end, conference.time_zone)
        with plain.cursor() as cur:
            began = time.perf_counter()
            cur.execute(PLAIN, {"distance": 5.0, "person": person, "start": lower, "end": upper,
                                "window": f"{window} minutes" if window else None})
            theirs = json.loads(cur.fetchone()[0])
            timings.setdefault(f"plain_{name}", []).append(time.perf_counter() - began)
        checked += 1
        agreed += first_fixes(ours) == first_fixes(theirs)
        return theirs

    try:
        for process in processes.values():
            stack.wait_healthy(process)
        client = Client(processes["connections"].port, token)
        for person, _day in sample[:3]:  # warm-up: connections, prepared statements, caches
            client.get(f"/api/persons/{person}/connection?start_date={first}&end_date={last}&distance=5")
        for person, day in sample:
            both("search", person, first, last, None)
            both("window", person, first, last, 15)
            met["window"].append(len(both("day_window", person, day, day, 15)))
            if args.without_window:
                met["day"].append(len(both("day", person, day, day, None)))
        if args.encounters:
            encounters = Client(processes["encounters"].port, token)
            for person, _ in sample:
                took, _found = encounters.get(f"/api/persons/{person}/encounters?start_date={first}&end_date={last}")
                timings.setdefault("encounters", []).append(took)
    finally:
        plain.close()
        stack.stop()
        database.engine(settings).dispose()
    result: dict[str, Any] = {"rows": built["rows"], "attendees": conference.persons, "days": conference.days,
                              "queries": len(sample),
                              "met_per_day_median": statistics.median(met["window"]),
                              "met_per_day_p95": percentile(met["window"], 0.95)}
    if met["day"]:
        result.update(met_per_day_no_window_median=statistics.median(met["day"]),
                      met_per_day_no_window_p95=percentile(met["day"], 0.95))
    for name, values in timings.items():
        for key, value in ms(values).items():
            result[f"{name}_{key}"] = value
    result.update({k: v for k, v in built.items() if k != "rows"}, same_answers=f"{agreed}/{checked}")
    result["plain_join_p50_ms"] = result.pop("plain_search_p50_ms")
    result["plain_join_p95_ms"] = result.pop("plain_search_p95_ms")
    with open("/proc/loadavg") as f:
        result["load_average"] = f.read().split()[0]
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench scale", description=__doc__)
    parser.add_argument("--attendees", type=int, action="append", help="attendees (repeatable); default 250")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--queries", type=int, default=20, help="random attendee-days searched per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--encounters", action="store_true", help="rebuild encounters and read a person's")
    parser.add_argument("--without-window", action="store_true",
                        help="also one-day searches without window (people met the same day: slow at scale)")
    parser.add_argument("--server", help="a PostgreSQL server URL without database (default: DATABASE_URL's, "
                        "else the benchmarks' embedded cluster)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from udaconnect.auth import keys

    key_dir = Path(tempfile.mkdtemp(prefix="udaconnect-bench-keys-"))
    keys.rotate(key_dir)
    server = args.server or (Settings.from_env().database_url or "").rsplit("/", 1)[0]
    embedded = None
    if not server:
        from udaconnect.storage.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(PROJECT_ROOT / ".udaconnect" / "bench-postgres")
        running = embedded.running() if (embedded.data / "PG_VERSION").exists() else False
        server = embedded.start().rsplit("/", 1)[0]
    try:
        results = []
        for attendees in args.attendees or [250]:
            results.append(run_size(server, Conference(persons=attendees, days=args.days), args, key_dir))
            print(json.dumps(results[-1]), flush=True)
        (args.out / "scale.json").write_text(json.dumps({"results": results, "when": datetime.now().isoformat()},
                                                        indent=2))
    finally:
        if embedded is not None and not running:
            database.dispose()
            embedded.stop()
    return 0
