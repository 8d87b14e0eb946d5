"""`nox -s bench -- ingest`: persist group commit vs COPY, ingest alone per publisher, end to end on the local stack,
cold start per target vs a functions-framework hello-world, peak RSS per function process. One run, one machine.
Auth is on, as in production: one enrolled device per bench person, each request one device's (its token, person
and source); `nox -s bench -- auth` compares with UDACONNECT_AUTH=open.

Writes bench-results/ingest.json and ingest.png (end-to-end throughput and latency over the run).
End to end measures what phones get: each device posts through the gateway with its own token, the encounters
Trigger on (so its CPU is in the figures), and the report gives stored fixes/s (not the accepted POST rate alone),
POST-to-row p50/p99, CPU per fix per process, lost (with where each went) and duplicates. --without-encounters and
--direct (POST to the ingest process) take those parts out, to compare. --parts picks what runs (the test suite
runs `--parts end-to-end` at a tiny size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy import text

from udaconnect.ports import free_port
from udaconnect.routes import TARGETS
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect_dev.bench import e2e, load, persist, procs
from udaconnect_dev.localstack import LocalStack, function_command

PERSONS = 1000
PARTS = ("persist", "ingest-alone", "end-to-end", "cold-start")
#: A second Broker with no Trigger: ingest alone publishes into its topic, so nothing consumes while measured.
BENCH_BROKER = """apiVersion: v1
kind: ConfigMap
metadata: {name: bench-config, namespace: udaconnect}
data: {default.topic.partitions: "10", default.topic.replication.factor: "1", bootstrap.servers: "localhost:9092"}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: bench
  namespace: udaconnect
  annotations: {eventing.knative.dev/broker.class: Kafka}
spec:
  config: {apiVersion: v1, kind: ConfigMap, name: bench-config, namespace: udaconnect}
"""


def _eventing_without_encounters(directory: Path) -> Path:
    """A copy of eventing/ without the Trigger that feeds stored fixes to the encounters function."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    for path in Settings().eventing_dir.glob("*.yaml"):
        documents = [d for d in yaml.safe_load_all(path.read_text())
                     if d and d.get("metadata", {}).get("name") != "encounters-location-stored"]
        (directory / path.name).write_text(yaml.safe_dump_all(documents))
    return directory


def _prepare(data_dir: Path, encounters: bool = False, persons: int = PERSONS) -> Settings:
    server = EmbeddedPostgres(data_dir / "postgres")  # durable (fsync on), as in production
    eventing = Settings().eventing_dir if encounters else _eventing_without_encounters(data_dir / "eventing")
    settings = Settings(database_url=server.start(), data_dir=data_dir, pool_size=4, eventing_dir=eventing)
    database.upgrade(settings)
    with database.engine(settings).begin() as conn:
        conn.execute(text("TRUNCATE person, location RESTART IDENTITY CASCADE"))
        conn.execute(text(f"INSERT INTO person (first_name, last_name, company_name) "
                          f"SELECT 'Bench', 'P' || g, 'Co' FROM generate_series(1, {persons}) g"))
    return settings


def _enrolled(settings: Settings, persons: int = PERSONS) -> list[load.Credential]:
    """One enrolled device per bench person, as the phones of a real event are (auth on: ingest wants each
    request's token, persist each device enrolled); `udaconnect_dev.bench auth` measures what that costs."""
    from udaconnect.auth import keys
    from udaconnect.queries import devices

    keyed = keys.with_key(settings)
    with database.engine(settings).begin() as conn:
        return [load.Credential(d.device_id, d.token) for d in
                (devices.enrol(conn, keyed, person, "bench phone") for person in range(1, persons + 1))]


def _ingest_alone(stack: LocalStack, events: int, batch_events: int, phones: list[load.Credential],
                  persons: int = PERSONS) -> dict:
    """Each publisher behind its own ingest process, into a topic nobody consumes."""
    assert stack.kafka is not None
    out: dict = {}
    with tempfile.TemporaryDirectory() as eventing:
        (Path(eventing) / "broker.yaml").write_text(BENCH_BROKER)
        port = free_port()
        broker = stack._popen("bench-broker", port, [
            sys.executable, "-m", "udaconnect_dev.broker", "--eventing-dir", eventing, "--port", str(port),
            "--bootstrap", stack.kafka.bootstrap_servers], {})
        stack.wait_healthy(broker, 90)
        from udaconnect.auth import keys

        common = {"KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap_servers, "UDACONNECT_BROKER": "bench",
                  "K_SINK": f"{broker.url}/udaconnect/bench", "FUNCTION_TARGET": "ingest",
                  **keys.environment(stack.settings)}
        for publisher in ("kafka", "http"):
            name, port = f"ingest-{publisher}", free_port()
            process = stack._popen(name, port, function_command("ingest", port),
                                   {**common, "UDACONNECT_PUBLISHER": publisher})
            stack.wait_healthy(process)
            load.run(process.url + "/", persons, 200, 1, 8, credentials=phones)  # warm up: the first publish connects
            single = load.run(process.url + "/", persons, events, 1, 16, credentials=phones)
            batched = load.run(process.url + "/", persons, batch_events, 100, 8, credentials=phones)
            out[publisher] = {"single_events_per_s": single.rate, "single_p50_ms": single.p(0.5),
                              "single_p99_ms": single.p(0.99), "single_errors": single.errors,
                              "batch100_fixes_per_s": batched.rate, "batch100_p99_ms": batched.p(0.99),
                              "batch_errors": batched.errors, "peak_rss_mb": procs.peak_rss_mb(process.popen.pid)}
            stack.stop_process(name)
        stack.stop_process("bench-broker")
    return out


def _first_reports(stack: LocalStack, phone: load.Credential, repeat: int = 5) -> dict[str, float]:
    """Process start to the first 202 for a real location report (pydantic, kafka-python, the producer's
    connection to Kafka and the topic's metadata included), medians, interleaved with hello-world's first 2xx."""
    import statistics

    assert stack.kafka is not None
    from udaconnect.auth import keys

    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap_servers, "UDACONNECT_PUBLISHER": "kafka",
           **keys.environment(stack.settings)}
    samples: dict[str, list[float]] = {"ingest": [], "hello-world": []}
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text(procs.HELLO)
        for _ in range(repeat):
            report = load.request([load.event(1, 0, f"/devices/{phone.device_id}")[1]], phone.token)
            samples["ingest"].append(procs.cold_start("ingest", env, path="/", post=report))
            samples["hello-world"].append(procs.cold_start("hello", {}, hello, "/"))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench ingest", description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="rows for group commit vs COPY")
    parser.add_argument("--events", type=int, default=5_000, help="single-fix events per measurement")
    parser.add_argument("--batch-events", type=int, default=50_000, help="fixes sent in batches of 100")
    parser.add_argument("--phone-fixes", type=int, default=200_000, help="fixes sent as 50-fix phone uploads "
                                                                           "in the closed loop")
    parser.add_argument("--without-encounters", action="store_true", help="drop the encounters Trigger")
    parser.add_argument("--direct", action="store_true", help="POST to the ingest process, not the gateway")
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds a phase waits for its rows")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    parser.add_argument("--persons", type=int, default=PERSONS, help="persons, one enrolled phone each")
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / ".udaconnect" / "bench-ingest")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts {', '.join(sorted(parts - set(PARTS)))}; choose from {', '.join(PARTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = _prepare(args.data_dir, not args.without_encounters, args.persons)
    report: dict = {"machine_cores": os.cpu_count(), "load_average": os.getloadavg()}
    if "persist" in parts:
        print("persist: group commit vs COPY ...", flush=True)
        report["persist"] = persist.measure(settings, args.rows)
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    try:
        stack.start()
        phones = _enrolled(settings, args.persons)
        if "ingest-alone" in parts:
            print("ingest alone, per publisher ...", flush=True)
            report["ingest_alone"] = _ingest_alone(stack, args.events, args.batch_events, phones, args.persons)
        if "end-to-end" in parts:
            print("end to end ...", flush=True)
            report["end_to_end"] = e2e.end_to_end(stack, settings, args.persons, args.events, args.batch_events,
                                                  args.out, args.phone_fixes, phones, not args.direct, args.deadline)
            report["end_to_end"]["encounters_trigger"] = not args.without_encounters
        report["peak_rss_mb"] = {name: procs.peak_rss_mb(p.popen.pid) for name, p in stack.processes.items()}
        if "cold-start" in parts:
            print("cold start to the first accepted report ...", flush=True)
            report["cold_start_to_first_report_s"] = _first_reports(stack, phones[0])
    finally:
        stack.stop()
        EmbeddedPostgres(settings.data_dir / "postgres").stop()
    if "cold-start" in parts:
        print("cold start ...", flush=True)
        env = {"DATABASE_URL": settings.database_url}
        report["cold_start_s"] = procs.cold_starts(list(TARGETS), env, repeat=3)
        hello = report["cold_start_s"]["hello-world"]
        report["cold_start_vs_hello_world"] = {t: s / hello for t, s in report["cold_start_s"].items()}
    report["load_average_after"] = os.getloadavg()
    (args.out / "ingest.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0
