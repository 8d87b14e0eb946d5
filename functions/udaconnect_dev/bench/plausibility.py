"""`nox -s bench -- plausibility`: false alarms of the plausibility rules on realistic phones, measured on PostGIS.

A conference of realistic phones (udaconnect_dev.phones: walking, standing at booths, 3-15 m of GPS error with
matching accuracy, indoor jumps of 30-50 m, 10-minute offline buffers uploaded late) is written through persist's
own transaction (udaconnect.persist.store, the default rules) into a fresh database: each phone's uploads in
arrival order, several phones' uploads to one transaction as the group commit would take them. Reported: the share
of fixes kept untrusted, by reason, among the genuine ones (false alarms) and among the injected jumps; the run
fails (exit 1) when the false alarms exceed GOAL.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from udaconnect.plausibility import REASONS, Rules
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect.storage.urls import libpq
from udaconnect_dev import phones

#: At most this share of genuine fixes (not injected jumps) may be kept untrusted (issue 21).
GOAL = 0.005
NAME = "bench_plausibility"


def fresh_database(server: str, persons: int) -> Settings:
    """An empty database NAME on `server` (dropped first), migrated, holding persons 1..`persons`."""
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{NAME}"'))
    admin.dispose()
    settings = Settings(database_url=f"{server}/{NAME}", pool_size=2)
    database.upgrade(settings)
    with database.engine(settings).begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          "SELECT 'Bench', 'P' || g, 'Co' FROM generate_series(1, :n) g"), {"n": persons})
    return settings


def write(dsn: str, fixes: list[phones.Fix], batch_rows: int = 300, rules: Rules | None = None) -> dict[tuple, str]:
    """Store `fixes` through persist's transaction, their uploads in arrival order, uploads gathered into
    transactions of about `batch_rows`; the reason of each fix kept untrusted, by (device, upload, index)."""
    import psycopg2

    from udaconnect.persist.store import Row, prepare, store

    connection = psycopg2.connect(dsn)
    prepare(connection)
    rows: list[Row] = []
    try:
        for upload in phones.uploads(fixes):
            rows.extend(Row(f.person_id, f.longitude, f.latitude, f.recorded_at, f.accuracy, f"/devices/{f.device_id}",
                            f"{f.device_id}:{f.upload}", i, f.arrived_at) for i, f in enumerate(upload))
            if len(rows) >= batch_rows:
                store(connection, rows, devices_checked=False, rules=rules or Rules())
                rows = []
        if rows:
            store(connection, rows, devices_checked=False, rules=rules or Rules())
        with connection.cursor() as cursor:
            cursor.execute("SELECT event_id, event_index, reason FROM location_untrusted")
            return {(*event_id.rsplit(":", 1), index): reason for event_id, index, reason in cursor.fetchall()}
    finally:
        connection.close()


def tally(fixes: list[phones.Fix], reasons: dict[tuple, str]) -> dict:
    """Fixes and untrusted shares by reason: all, genuine (false alarms), injected jumps, offline buffers."""
    judged: list[tuple[phones.Fix, str | None]] = []
    for upload in phones.uploads(fixes):
        judged.extend((f, reasons.get((f.device_id, str(f.upload), i))) for i, f in enumerate(upload))
    groups = {"all": judged, "genuine": [j for j in judged if not j[0].jump],
              "jumps": [j for j in judged if j[0].jump], "offline": [j for j in judged if j[0].offline]}
    out = {}
    for name, members in groups.items():
        counted = Counter(reason for _, reason in members if reason)
        out[name] = {"fixes": len(members), "untrusted": sum(counted.values()),
                     "share": sum(counted.values()) / len(members) if members else 0.0,
                     **{reason: counted[reason] for reason in REASONS}}
    out["genuine"]["after_trusted_jump"] = _after_trusted_jump(judged)
    return out


def _after_trusted_jump(judged: list[tuple[phones.Fix, str | None]]) -> int:
    """Genuine fixes kept untrusted whose person's last trusted fix before them was a jump that was believed."""
    count, last = 0, {}
    for fix, reason in sorted(judged, key=lambda j: (j[0].person_id, j[0].recorded_at)):
        if reason is None:
            last[fix.person_id] = fix
        elif not fix.jump and (before := last.get(fix.person_id)) is not None and before.jump:
            count += 1
    return count


def report(figures: dict) -> str:
    lines = ["| fixes | count | untrusted | share | " + " | ".join(REASONS) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(REASONS)]
    for name, f in figures.items():
        lines.append(f"| {name} | {f['fixes']:,} | {f['untrusted']:,} | {f['share']:.3%} | "
                     + " | ".join(f"{f[r]:,}" for r in REASONS) + " |")
    return "\n".join(lines)


def measure(server: str, args: argparse.Namespace) -> dict:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=args.hours)
    habits = {"correlation_seconds": args.correlation, "jump_share": args.jump_share}
    fixes = phones.conference(args.persons, start, timedelta(hours=args.hours), seed=args.seed, **habits)
    settings = fresh_database(server, args.persons)
    database.dispose()
    began = time.monotonic()
    reasons = write(libpq(settings.database_url), fixes, args.batch)
    seconds = time.monotonic() - began
    return {"persons": args.persons, "hours": args.hours, "seed": args.seed, **habits, "batch_rows": args.batch,
            "uploads": len(phones.uploads(fixes)), "seconds": seconds, "fixes_per_s": len(fixes) / seconds,
            "figures": tally(fixes, reasons)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench plausibility", description=__doc__)
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--correlation", type=float, default=30.0,
                        help="seconds the GPS error stays correlated (0: each fix's error independent)")
    parser.add_argument("--jump-share", type=float, default=0.02, help="share of fixes in an indoor jump")
    parser.add_argument("--batch", type=int, default=300, help="rows per transaction (whole uploads)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    if Settings.from_env().database_url:
        result = measure(Settings.from_env().database_url.rsplit("/", 1)[0], args)
    else:
        # its own cluster (fsync off: what is measured is judgement, not durability), stopped on the way out
        embedded = EmbeddedPostgres(PROJECT_ROOT / ".udaconnect" / "bench-plausibility", fsync=False)
        running = embedded.running() if (embedded.data / "PG_VERSION").exists() else False
        try:
            result = measure(embedded.start().rsplit("/", 1)[0], args)
        finally:
            database.dispose()
            if not running:
                embedded.stop()
    table = report(result["figures"])
    genuine = result["figures"]["genuine"]["share"]
    verdict = "within" if genuine <= GOAL else "ABOVE"
    print(f"\n{result['persons']} people, {result['hours']:g} h, seed {result['seed']}, GPS error correlated "
          f"{result['correlation_seconds']:g} s, {result['jump_share']:.0%} of fixes jumped; "
          f"{result['uploads']:,} uploads stored in {result['seconds']:.0f} s ({result['fixes_per_s']:,.0f} fixes/s)")
    print(table)
    print(f"\nfalse alarms (genuine fixes kept untrusted): {genuine:.3%}, {verdict} the goal of {GOAL:.1%}; "
          f"{result['figures']['genuine']['after_trusted_jump']:,} of them right after a jump that was believed")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "plausibility.json").write_text(json.dumps({**result, "when": datetime.now().isoformat()}, indent=2))
    (args.out / "plausibility.md").write_text(table + "\n")
    return 0 if genuine <= GOAL else 1
