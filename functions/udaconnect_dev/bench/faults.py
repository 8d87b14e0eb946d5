"""`python -m udaconnect_dev.bench faults [--only NAME ...] [--starts N] [--window]`: what the local stack loses.

Three measurements, each on a private supervised local stack (its own PostgreSQL, Kafka and processes):
- the fault table: 2,000 uniquely identified reports at 100/s, one component killed 7 s in (or the database
  stopped for 20 s / 130 s, Kafka killed and restarted); "lost" = answered 202 and never stored;
- fresh starts: start a stack, post 50 reports the moment GET /api/persons first answers, count the lost ones;
- the crash window: reports at a steady 1,000/s, Kafka SIGKILLed; what it held undelivered is what is lost.
Results go to bench-results/faults.json and are printed as Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

from udaconnect.ports import free_port, until_ok
from udaconnect.settings import Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect_dev.localstack import LocalStack
from udaconnect_dev.simulator import Simulator

PERSONS = 20
FAULTS = ("broker", "persist", "ingest", "postgres-20s", "postgres-130s", "kafka")


class Bench:
    """One private PostgreSQL for the whole run; a stack per measurement."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres = EmbeddedPostgres(root / "postgres", fsync=False)
        self.postgres.start()
        self.settings = Settings(database_url=self.postgres.url, data_dir=root, pool_size=2)
        database.upgrade(self.settings)
        self.engine: Engine = database.engine(self.settings)
        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                              f"SELECT 'Bench', 'Owner ' || g, 'Co' FROM generate_series(1, {PERSONS}) g"))

    def stack(self, name: str) -> LocalStack:
        lines: list[str] = []
        stack = LocalStack(self.settings, api_port=free_port(), web_port=free_port(),
                           log_dir=self.root / name / "logs", say=lines.append)
        stack.said = lines  # type: ignore[attr-defined]
        return stack

    def stored(self) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            return {tuple(r) for r in conn.execute(text(
                "SELECT event_source, event_id FROM location"
                " UNION ALL SELECT event_source, event_id FROM location_untrusted"))}

    def duplicates(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) - count(DISTINCT (event_source, event_id)) FROM (SELECT event_source, event_id FROM "
                "location UNION ALL SELECT event_source, event_id FROM location_untrusted) AS stored")).scalar() or 0)

    def settle(self, accepted: set[tuple[str, str]], timeout: float) -> int:
        """Wait until every accepted report is stored, or the timeout; the number still missing."""
        deadline = time.monotonic() + timeout
        while True:
            missing = len(accepted - self.stored())
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(1.0)

    def close(self) -> None:
        self.engine.dispose()
        self.postgres.stop(mode="immediate")


def _load(stack: LocalStack, seed: int, rate: float, count: int) -> tuple[Simulator, threading.Thread]:
    sim = Simulator(stack.api_url + "/api/events", list(range(1, PERSONS + 1)), devices=PERSONS, record=True,
                    seed=seed, rate=rate, batch=1, workers=16)
    thread = threading.Thread(target=sim.run, kwargs={"count": count}, daemon=True)
    thread.start()
    return sim, thread


def _kill(stack: LocalStack, fault: str, bench: Bench) -> Callable[[], None]:
    """Inject `fault`; returns what ends it (nothing for a kill: the supervisor brings the process back)."""
    if fault == "kafka":
        assert stack.kafka is not None and stack.kafka.process is not None
        stack.kafka.process.send_signal(signal.SIGKILL)
        return lambda: None
    if fault.startswith("postgres"):
        bench.postgres.stop(mode="fast")
        outage = float(fault.split("-")[1].rstrip("s"))

        def end_the_outage() -> None:
            time.sleep(outage)
            bench.postgres.start()

        return end_the_outage
    os.killpg(stack.processes[fault].popen.pid, signal.SIGKILL)
    return lambda: None


def fault_row(bench: Bench, fault: str, seed: int) -> dict:
    stack = bench.stack(fault)
    stack.start(supervise=True)
    try:
        sim, loading = _load(stack, seed, rate=100, count=2000)
        time.sleep(7)
        began = time.monotonic()
        _kill(stack, fault, bench)()
        loading.join(600)
        accepted = {(e["source"], e["id"]) for e in sim.accepted}
        lost = bench.settle(accepted, timeout=400)
        status = _status(stack)
        return {"fault": fault, "answered_2xx": sim.stats.sent, "gave_up": sim.stats.failed,
                "retried_posts": sim.stats.retries, "stored": len(accepted) - lost, "lost": lost,
                "duplicates": bench.duplicates(), "dead_letters": status.get("dead-lettered", 0),
                "all_stored_s_after_fault": round(time.monotonic() - began, 1),
                "supervisor": [line for line in stack.said if "exited" in line or "back" in line]}  # type: ignore[attr-defined]
    finally:
        stack.stop(drain_timeout=30)


def _status(stack: LocalStack) -> dict:
    try:
        with urllib.request.urlopen(stack.processes["broker"].url + "/status", timeout=5) as reply:
            return json.loads(reply.read())["triggers"][0]["counts"]
    except (OSError, KeyError, ValueError):
        return {}


def fresh_starts(bench: Bench, runs: int) -> dict:
    """The issue's check: 50 reports at the first answer of GET /api/persons, on `runs` fresh stacks."""
    lost_per_run, start_s = [], []
    for run in range(runs):
        stack = bench.stack(f"start-{run}")
        early = Simulator(stack.api_url + "/api/events", [1, 2], devices=2, record=True, seed=1000 + run, rate=0)

        def post_at_first_answer(stack: LocalStack = stack, early: Simulator = early) -> None:
            until_ok(stack.api_url + "/api/persons", timeout=120, every=0.01)
            early.run(count=50)

        poster = threading.Thread(target=post_at_first_answer, daemon=True)
        began = time.monotonic()
        poster.start()
        stack.start(supervise=True)
        start_s.append(time.monotonic() - began)
        poster.join(60)
        accepted = {(e["source"], e["id"]) for e in early.accepted}
        lost = bench.settle(accepted, timeout=60) if len(accepted) == 50 else 50
        lost_per_run.append(lost)
        stack.stop(drain_timeout=30)
        print(f"  fresh start {run + 1}/{runs}: 50 posted, {lost} lost, stack ready in {start_s[-1]:.1f} s",
              flush=True)
    return {"runs": runs, "lost_per_run": lost_per_run, "runs_losing_any": sum(1 for n in lost_per_run if n),
            "start_s_median": round(statistics.median(start_s), 1)}


def crash_window(bench: Bench, rate: float = 1000, seconds: float = 12) -> dict:
    """Kafka SIGKILLed under a steady `rate`: its undelivered events are lost; measured, not assumed."""
    stack = bench.stack("window")
    stack.start(supervise=True)
    try:
        sim = Simulator(stack.api_url + "/api/events", list(range(1, PERSONS + 1)), devices=PERSONS, record=True,
                        seed=77, rate=rate, batch=1, workers=32)
        loading = threading.Thread(target=sim.run, kwargs={"count": int(rate * seconds)}, daemon=True)
        began = time.monotonic()
        loading.start()
        time.sleep(seconds / 2)
        lag_before = sum(stack.lag().values())
        with sim.stats.lock:
            accepted_at_kill = len(sim.accepted)
        assert stack.kafka is not None and stack.kafka.process is not None
        stack.kafka.process.send_signal(signal.SIGKILL)
        loading.join(300)
        achieved = len(sim.accepted) / (time.monotonic() - began)
        accepted = {(e["source"], e["id"]) for e in sim.accepted}
        before_kill = {(e["source"], e["id"]) for e in sim.accepted[:accepted_at_kill]}
        lost = bench.settle(accepted, timeout=90)
        return {"rate": rate, "achieved_rate": round(achieved), "accepted": len(accepted), "lost": lost,
                "lost_of_those_accepted_before_the_kill": len(before_kill - bench.stored()),
                "lag_just_before_the_kill": lag_before, "lost_ms_of_load": round(1000 * lost / rate, 1)}
    finally:
        stack.stop(drain_timeout=30)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=FAULTS, help="faults to inject (default: all)")
    parser.add_argument("--starts", type=int, default=20, help="fresh starts to check (0: none)")
    parser.add_argument("--windows", type=int, default=3, help="Kafka crash-window runs at 1,000/s (0: none)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="udaconnect-faults-") as tmp:
        bench = Bench(Path(tmp))
        try:
            rows = []
            for seed, fault in enumerate(args.only or FAULTS):
                print(f"fault: {fault} ...", flush=True)
                rows.append(fault_row(bench, fault, seed + 1))
                print(f"  {rows[-1]}", flush=True)
            results["faults"] = rows
            if args.starts:
                results["fresh_starts"] = fresh_starts(bench, args.starts)
            if args.windows:
                results["crash_window"] = [crash_window(bench) for _ in range(args.windows)]
        finally:
            bench.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faults.json").write_text(json.dumps(results, indent=2))
    print("\n| fault | 2xx | gave up | stored | lost | duplicates | dead letters | all stored, s after the fault |"
          "\n|---|---|---|---|---|---|---|---|")
    for r in results.get("faults", []):
        print(f"| {r['fault']} | {r['answered_2xx']} | {r['gave_up']} | {r['stored']} | {r['lost']} | "
              f"{r['duplicates']} | {r['dead_letters']} | {r['all_stored_s_after_fault']} |")
    if "fresh_starts" in results:
        f = results["fresh_starts"]
        print(f"\nfresh starts: {f['runs']} runs, {f['runs_losing_any']} lost any report; lost per run "
              f"{f['lost_per_run']}; stack ready in {f['start_s_median']} s (median)")
    for w in results.get("crash_window", []):
        print(f"crash window at {w['rate']:g}/s (achieved {w['achieved_rate']}/s): Kafka killed, "
              f"{w['lost']} of {w['accepted']} accepted lost "
              f"({w['lost_ms_of_load']} ms of load); lag just before the kill {w['lag_just_before_the_kill']}")
    return 0
