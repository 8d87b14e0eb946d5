"""`nox -s bench -- trust-cost [--before REF]`: what judging each fix (plausibility, issue 21) costs per fix.

Two persist processes side by side on one durable PostgreSQL (fsync on) and one Kafka, auth on as in production
(every source an enrolled device, every report carrying ingest's delivery proof):
- before: the functions/ of commit REF (default: the last commit before plausibility), its own database migrated
  by its own code;
- unjudged: this tree with the judgement switched off by the bench (a sitecustomize on its PYTHONPATH replaces
  udaconnect.persist.store._judged with "every fix believed": no locks, no neighbour query, no rules), so what
  the other changes since REF cost (delivery proofs, metrics, access lines) is told apart from judging's own;
- after: this tree, its own database migrated by this tree.
Both get the same realistic phones (udaconnect_dev.phones: walking, booths, 3-15 m GPS error with matching
accuracy, indoor jumps, offline buffers uploaded late), each device's fixes in recorded order as phone uploads of
--fixes-per-upload fixes (0: the model's own uploads), posted in binary mode as the broker's dispatcher posts them,
in arrival order. The uploads are cut into --repeat turns plus a warm-up; each turn goes to all three, in an
order rotated from turn to turn,
and is measured as CPU seconds per stored fix of the persist process tree and of its database's PostgreSQL
backends (where the plausibility queries run), medians over turns. Every fix must be answered 204 and held
(stored or kept untrusted) by each, or the run fails.

Writes bench-results/trust-cost.json; prints the medians, after/before and after/unjudged (issue 21's goal:
judging within 10 %).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

from udaconnect.contracts.names import ARRIVED, LOCATIONS_REPORTED
from udaconnect.ports import free_port
from udaconnect.settings import PROJECT_ROOT
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect.storage.urls import libpq
from udaconnect_dev import phones
from udaconnect_dev.bench import load, procs
from udaconnect_dev.bench.cpu import _seconds
from udaconnect_dev.bench.ingest import BENCH_BROKER
from udaconnect_dev.localstack import MAIN

#: The last commit before issue 21's plausibility (its parent: the recovered work of stops 28-30 brought it).
BEFORE = "0b494e0"
MODES = ("before", "unjudged", "after")
#: The unjudged tree's sitecustomize: imported at interpreter start (so before the worker forks), every fix believed.
_UNJUDGED = """from udaconnect.persist import store


def _believed(cursor, rows, rules):
    return [None] * len(rows), set()


store._judged = _believed
"""
_MIGRATE = ("import sys; from udaconnect.settings import Settings; from udaconnect.storage import database; "
            "database.upgrade(Settings(database_url=sys.argv[1]))")


def checkout(ref: str, into: Path) -> Path:
    """functions/ of commit `ref` (with its schema/ migrations beside), unpacked under `into` (git archive: no
    work tree is touched)."""
    archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", ref, "functions", "schema"], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    archive_file = into / "functions.tar"
    archive_file.write_bytes(archive)
    with tarfile.open(archive_file) as tar:
        tar.extractall(into, filter="data")
    return into / "functions"


def migrate(server: str, name: str, functions: Path, persons: int, device_ids: Sequence[str]) -> str:
    """A fresh database `name` migrated by the code in `functions`, with persons 1..persons and one enrolled
    device each (device_ids[p - 1]); its URL."""
    admin = psycopg2.connect(libpq(f"{server}/postgres"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = f"{server}/{name}"
    subprocess.run([sys.executable, "-c", _MIGRATE, url], check=True,
                   env={**os.environ, "PYTHONPATH": str(functions)})
    with psycopg2.connect(libpq(url)) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO person (first_name, last_name, company_name) "
                       "SELECT 'Bench', 'P' || g, 'Co' FROM generate_series(1, %s) g", (persons,))
        cursor.executemany("INSERT INTO device (id, person_id, name, token_sha256) VALUES (%s, %s, 'bench phone', %s)",
                           [(d, p, f"bench-{p}") for p, d in enumerate(device_ids, 1)])
    conn.close()
    return url


def uploads(fixes: list[phones.Fix], per_upload: int) -> list[list[phones.Fix]]:
    """Phone uploads in arrival order: the model's own (per_upload 0), or each device's fixes in recorded order
    cut into uploads of `per_upload`, each arriving when its newest fix had."""
    if not per_upload:
        return phones.uploads(fixes)
    tracks: dict[str, list[phones.Fix]] = {}
    for fix in sorted(fixes, key=lambda f: (f.device_id, f.recorded_at)):
        tracks.setdefault(fix.device_id, []).append(fix)
    cut = [track[i:i + per_upload] for track in tracks.values() for i in range(0, len(track), per_upload)]
    return sorted(cut, key=lambda u: (max(f.arrived_at for f in u), u[0].device_id))


def delivery(url: str, upload: list[phones.Fix], number: int, key: bytes) -> load.Prepared:
    """One upload as the dispatcher delivers it: binary mode, with ingest's arrivedat and delivery proof."""
    from udaconnect.events import proof

    first = upload[0]
    data = json.dumps({"person_id": first.person_id, "fixes": [
        {"latitude": f.latitude, "longitude": f.longitude, "accuracy": f.accuracy,
         "recorded_at": f.recorded_at.isoformat()} for f in upload]}, separators=(",", ":")).encode()
    attributes = {"specversion": "1.0", "id": f"upload-{number}", "source": f"/devices/{first.device_id}",
                  "type": LOCATIONS_REPORTED, "partitionkey": str(first.person_id),
                  ARRIVED: max(f.arrived_at for f in upload).isoformat()}
    stamped = proof.stamped(key, attributes, data, "device")
    headers = {f"ce-{k}": v for k, v in stamped.items()} | {"Content-Type": "application/json"}
    return load.Prepared([f"upload-{number}#{i}" for i in range(len(upload))], load.encode(url, headers, data))


def backends_cpu(url: str, name: str) -> float:
    """CPU seconds of every PostgreSQL backend connected to database `name` now (persist's pool and writer)."""
    with psycopg2.connect(libpq(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        pids = [row[0] for row in cursor.fetchall()]
    conn.close()
    return sum(_seconds(pid) for pid in pids)


def held(url: str) -> int:
    """Fixes the database holds: stored, trusted or kept untrusted (the before tree has no untrusted table)."""
    with psycopg2.connect(libpq(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM location")
        count = int(cursor.fetchone()[0])
        cursor.execute("SELECT to_regclass('location_untrusted') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT count(*) FROM location_untrusted")
            count += int(cursor.fetchone()[0])
    conn.close()
    return count


def untrusted(url: str) -> dict[str, int]:
    """Fixes kept untrusted, by reason (none for the before tree, which believed every fix)."""
    with psycopg2.connect(libpq(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass('location_untrusted') IS NOT NULL")
        found: dict[str, int] = {}
        if cursor.fetchone()[0]:
            cursor.execute("SELECT reason, count(*) FROM location_untrusted GROUP BY reason ORDER BY reason")
            found = {reason: int(count) for reason, count in cursor.fetchall()}
    conn.close()
    return found


def turn(persist: subprocess.Popen, url: str, db_url: str, db_name: str, batch: list[load.Prepared],
         concurrency: int) -> dict:
    held_before = held(db_url)
    before = _seconds(persist.pid), backends_cpu(db_url, db_name)
    result = load.send(url, batch, concurrency, 204)
    after = _seconds(persist.pid), backends_cpu(db_url, db_name)
    fixes = sum(len(p.ids) for p in batch)
    stored = held(db_url) - held_before
    if result.errors or stored != fixes:
        raise RuntimeError(f"{result.errors} deliveries failed ({result.statuses}); {stored} of {fixes} fixes held")
    persist_us = (after[0] - before[0]) / fixes * 1e6
    postgres_us = max(after[1] - before[1], 0.0) / fixes * 1e6  # a backend gone meanwhile takes its seconds along
    return {"fixes": fixes, "persist_us_per_fix": persist_us, "postgres_us_per_fix": postgres_us,
            "total_us_per_fix": persist_us + postgres_us, "fixes_per_s": fixes / result.seconds,
            "p50_ms": result.p(0.5)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench trust-cost", description=__doc__)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: before plausibility)")
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument("--hours", type=float, default=1.0, help="hours of the conference the phones record")
    parser.add_argument("--fixes-per-upload", type=int, default=50, help="0: the phone model's own uploads")
    parser.add_argument("--repeat", type=int, default=7, help="measured turns (medians are reported)")
    parser.add_argument("--concurrency", type=int, default=8, help="deliveries in flight, as the dispatcher's")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    from udaconnect.auth import keys
    from udaconnect.events import proof
    from udaconnect_dev.broker.kafka_adapter import ensure_topics
    from udaconnect_dev.broker.kafka_server import KafkaServer
    from udaconnect_dev.broker.loader import load_dir
    from udaconnect_dev.broker.topics import wanted_topics

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=args.hours, minutes=2)
    fixes = phones.conference(args.persons, start, timedelta(hours=args.hours), seed=args.seed)
    device_of = {f.person_id: f.device_id for f in fixes}
    device_ids = [device_of[p] for p in range(1, args.persons + 1)]
    work = Path(tempfile.mkdtemp(prefix="udaconnect-bench-trust-"))
    sources = {"before": checkout(args.before, work / "before") / "main.py", "unjudged": MAIN, "after": MAIN}
    (work / "unjudged").mkdir()
    (work / "unjudged" / "sitecustomize.py").write_text(_UNJUDGED)
    key_dir = work / "keys"
    keys.rotate(key_dir)
    key_file = keys.local_delivery_key(key_dir)
    key = proof.read_key(key_file)
    server = EmbeddedPostgres(work / "postgres")
    kafka = KafkaServer(external="").start()
    processes: dict[str, tuple[subprocess.Popen, str, str, str]] = {}
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    try:
        base = server.start().rsplit("/", 1)[0]
        with tempfile.TemporaryDirectory() as eventing:
            (Path(eventing) / "broker.yaml").write_text(BENCH_BROKER)
            ensure_topics(kafka.bootstrap_servers, wanted_topics(load_dir(Path(eventing))))
        common = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "UDACONNECT_BROKER": "bench",
                  "UDACONNECT_PUBLISHER": "kafka", "UDACONNECT_DELIVERY_KEY_FILE": str(key_file),
                  "UDACONNECT_METRICS_PORT": "0"}
        for mode in MODES:
            name = f"bench_trust_{mode}"
            db_url = migrate(base, name, sources[mode].parent, args.persons, device_ids)
            path = {"before": {"PYTHONPATH": str(sources[mode].parent)},
                    "unjudged": {"PYTHONPATH": str(work / "unjudged")}}.get(mode, {})
            port = free_port()
            persist = procs._popen("persist", port, {**common, **path, "DATABASE_URL": db_url}, sources[mode])
            procs._first_2xx(port, time.monotonic())
            processes[mode] = (persist, f"http://127.0.0.1:{port}/", db_url, name)
        cut = uploads(fixes, args.fixes_per_upload)
        turns = [cut[i::args.repeat + 1] for i in range(args.repeat + 1)]  # each turn spread over the day
        turns = [sorted(t, key=lambda u: (max(f.arrived_at for f in u), u[0].device_id)) for t in turns]
        numbered = {id(u): n for n, u in enumerate(cut)}
        for index, batch in enumerate(turns):
            for mode in MODES[index % 3:] + MODES[:index % 3]:
                persist, url, db_url, name = processes[mode]
                prepared = [delivery(url, u, numbered[id(u)], key) for u in batch]
                figures = turn(persist, url, db_url, name, prepared, args.concurrency)
                if index == 0:
                    continue  # warm-up: connections, caches, the first pages of the indexes
                runs[mode].append(figures)
                print(f"turn {index} {mode:8}: persist {figures['persist_us_per_fix']:7,.0f} + postgres "
                      f"{figures['postgres_us_per_fix']:7,.0f} = {figures['total_us_per_fix']:7,.0f} us/fix "
                      f"({figures['fixes']:,} fixes, {figures['fixes_per_s']:,.0f}/s)", flush=True)
        kept_apart = {mode: untrusted(processes[mode][2]) for mode in MODES}
        if kept_apart["unjudged"]:
            raise RuntimeError(f"the unjudged tree judged after all ({kept_apart['unjudged']}): its shim did not load")
    finally:
        for persist, *_ in processes.values():
            procs.stop(persist)
        kafka.stop()
        server.stop()
    keys_ = ("persist_us_per_fix", "postgres_us_per_fix", "total_us_per_fix", "fixes_per_s", "p50_ms")
    median = {mode: {k: statistics.median(r[k] for r in runs[mode]) for k in keys_} for mode in MODES}
    ratio = {k: median["after"][k] / median["before"][k] for k in keys_ if median["before"][k]}
    judging = {k: median["after"][k] / median["unjudged"][k] for k in keys_ if median["unjudged"][k]}
    # the same turn's three runs are seconds apart: the median of their ratios shrugs off a noisy neighbour
    paired = {f"{over}/{under}": statistics.median(a["total_us_per_fix"] / b["total_us_per_fix"]
                                                   for a, b in zip(runs[over], runs[under], strict=True))
              for over, under in (("after", "before"), ("after", "unjudged"), ("unjudged", "before"))}
    report = {"before": args.before, "persons": args.persons, "hours": args.hours, "fixes": len(fixes),
              "fixes_per_upload": args.fixes_per_upload, "uploads": len(cut), "repeat": args.repeat,
              "machine_cores": os.cpu_count(), "load_average": os.getloadavg(), "runs": runs, "median": median,
              "after_over_before": ratio, "after_over_unjudged": judging,
              "total_per_turn_ratio_median": paired, "untrusted": kept_apart}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trust-cost.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{'median us/fix':16}{'before':>10}{'unjudged':>10}{'after':>10}{'after/before':>14}"
          f"{'after/unjudged':>16}")
    for k in ("persist_us_per_fix", "postgres_us_per_fix", "total_us_per_fix", "fixes_per_s"):
        label = "fixes/s" if k == "fixes_per_s" else k.split("_us")[0]
        print(f"{label:16}" + "".join(f"{median[mode][k]:>10,.0f}" for mode in MODES)
              + f"{ratio.get(k, float('nan')):>14.3f}{judging.get(k, float('nan')):>16.3f}")
    print("total us/fix, median of the per-turn ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in paired.items()))
    print(f"kept untrusted of {len(fixes):,} fixes: " + "; ".join(
        f"{mode} {sum(kept_apart[mode].values()):,} {kept_apart[mode]}" for mode in MODES))
    return 0
