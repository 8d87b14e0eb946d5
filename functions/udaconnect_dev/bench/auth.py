"""`nox -s bench -- auth`: what authentication costs ingest. Two ingest processes side by side on one Kafka, one
with auth on (each request a device's: its token, its person, its source; one device per person) and one with
UDACONNECT_AUTH=open (the same requests without a token), measured in turns (open, on, open, on ...) for single
events and batches of 100; prints the medians and the ratio on/open. Writes bench-results/auth.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from udaconnect.ports import free_port, until_ok
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.bench import load
from udaconnect_dev.bench.ingest import BENCH_BROKER
from udaconnect_dev.localstack import function_command

PERSONS = 1000


def _ingest(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(function_command("ingest", port), env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not until_ok(url + "/health", timeout=60):
        process.kill()
        raise RuntimeError("ingest did not start")
    return process, url + "/"


def _measure(url: str, events: int, batch: int, concurrency: int, phones: list[load.Credential]) -> dict:
    result = load.send(url, load.prepare(url, PERSONS, events, batch, concurrency, credentials=phones),
                       concurrency, 202)
    return {"fixes_per_s": result.rate, "p50_ms": result.p(0.5), "p99_ms": result.p(0.99),
            "errors": result.errors, "statuses": result.statuses}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench auth", description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="single-fix events per measurement")
    parser.add_argument("--batch-events", type=int, default=30_000, help="fixes sent in batches of 100")
    parser.add_argument("--repeat", type=int, default=3, help="turns per mode (medians are reported)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    from udaconnect.auth import keys
    from udaconnect_dev.broker.kafka_adapter import ensure_topics
    from udaconnect_dev.broker.kafka_server import KafkaServer
    from udaconnect_dev.broker.loader import load_dir
    from udaconnect_dev.broker.topics import wanted_topics

    key_dir = Path(tempfile.mkdtemp(prefix="udaconnect-bench-keys-"))
    keys.rotate(key_dir)
    phones = load.credentials(Settings(auth_jwks_file=str(key_dir / keys.JWKS),
                                       auth_signing_key_file=str(key_dir / keys.SIGNING_KEY)), PERSONS)
    unsigned = [dataclasses.replace(p, token="") for p in phones]  # the same requests, no token
    kafka = KafkaServer(external="").start()
    processes = []
    try:
        with tempfile.TemporaryDirectory() as eventing:
            (Path(eventing) / "broker.yaml").write_text(BENCH_BROKER)
            ensure_topics(kafka.bootstrap_servers, wanted_topics(load_dir(Path(eventing))))
        common = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "UDACONNECT_BROKER": "bench",
                  "UDACONNECT_PUBLISHER": "kafka", "UDACONNECT_AUTH_JWKS_FILE": str(key_dir / keys.JWKS)}
        urls = {}
        for mode in ("open", "on"):
            process, urls[mode] = _ingest({**common, "UDACONNECT_AUTH": mode})
            processes.append(process)
            _measure(urls[mode], 300, 1, 8, phones if mode == "on" else unsigned)  # warm: connect, cache tokens
        runs: dict[str, dict[str, list[dict]]] = {m: {"single": [], "batch100": []} for m in urls}
        for turn in range(args.repeat):
            for mode in ("open", "on") if turn % 2 == 0 else ("on", "open"):
                credentials = phones if mode == "on" else unsigned
                runs[mode]["single"].append(_measure(urls[mode], args.events, 1, 16, credentials))
                runs[mode]["batch100"].append(_measure(urls[mode], args.batch_events, 100, 8, credentials))
                print(f"turn {turn + 1} auth {mode:4}: single {runs[mode]['single'][-1]['fixes_per_s']:,.0f}/s, "
                      f"batch100 {runs[mode]['batch100'][-1]['fixes_per_s']:,.0f} fixes/s", flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        kafka.stop()
    report: dict = {"machine_cores": os.cpu_count(), "persons_devices": PERSONS, "repeat": args.repeat,
                    "events": args.events, "batch_events": args.batch_events, "runs": runs, "median": {}}
    for kind in ("single", "batch100"):
        median = {mode: {key: statistics.median(r[key] for r in runs[mode][kind])
                         for key in ("fixes_per_s", "p50_ms", "p99_ms")} for mode in runs}
        median["on/open"] = {key: median["on"][key] / median["open"][key] for key in median["on"]}
        report["median"][kind] = median
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "auth.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{'':10}{'open fixes/s':>14}{'on fixes/s':>12}{'on/open':>9}{'p50 open':>10}{'p50 on':>9}")
    for kind, median in report["median"].items():
        print(f"{kind:10}{median['open']['fixes_per_s']:>14,.0f}{median['on']['fixes_per_s']:>12,.0f}"
              f"{median['on/open']['fixes_per_s']:>9.3f}{median['open']['p50_ms']:>9.1f}ms"
              f"{median['on']['p50_ms']:>7.1f}ms")
    errors = sum(r["errors"] for mode in runs.values() for kind in mode.values() for r in kind)
    print(f"errors: {errors}")
    return 0 if errors == 0 else 1
