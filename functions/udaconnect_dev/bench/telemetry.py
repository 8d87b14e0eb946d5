"""`nox -s bench -- telemetry [--baseline DIR]`: what metrics and access logs cost ingest, in CPU per fix.

Ingest processes side by side on one Kafka, into a topic nobody consumes (as `bench auth`), measured in turns
(each mode first in turn) for single events, batches of 100 single-fix events and phone uploads (one event of 50
fixes a request), each turn's CPU seconds of the process tree (gunicorn and its worker) divided by the fixes it
accepted:
- on: this tree as deployed (metrics served on their port, one INFO access line per request);
- quiet: this tree with UDACONNECT_METRICS_PORT=0 and UDACONNECT_LOG_LEVEL=WARNING (still counting, no lines);
- unmeasured: quiet, and a sitecustomize on its PYTHONPATH replaces udaconnect.telemetry.served (each request's
  counters, latency histogram, access line and trace span) with the bare handler: metrics and tracing off;
- off, with --baseline: the functions/ directory of a checkout without telemetry (e.g. `git archive <commit>
  functions | tar -x -C /tmp/base`, then --baseline /tmp/base/functions). A checkout from before Ed25519 tokens
  gets HS256 device tokens minted by its own code (UDACONNECT_AUTH_SECRET), so it checks every token as it did.
Writes bench-results/telemetry.json; prints the medians and each mode's ratio to the first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from udaconnect.ports import free_port, until_ok
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.bench import load
from udaconnect_dev.bench.cpu import _seconds
from udaconnect_dev.bench.ingest import BENCH_BROKER
from udaconnect_dev.localstack import MAIN, function_command

PERSONS = 1000


#: The unmeasured tree's sitecustomize: every target's handler served bare (imported before the worker forks).
_UNMEASURED = """import udaconnect.telemetry

udaconnect.telemetry.served = lambda target, handler, asynchronous: handler
"""
#: Device tokens minted by a baseline's own code when it signs with a shared secret (before Ed25519 tokens).
_MINT_HS256 = ("import json, sys; from datetime import timedelta; from udaconnect.auth import issue; "
               "from udaconnect.settings import Settings; settings = Settings(auth_secret=sys.argv[1]); "
               "print(json.dumps([issue(settings, 'device', person_id=p, device_id=d, ttl=timedelta(hours=12)) "
               "for p, d in json.load(sys.stdin)]))")


def _baseline_phones(functions: Path, phones: list[load.Credential]) -> tuple[dict[str, str], list[load.Credential]]:
    """The environment and device tokens a baseline checkout verifies: its own HS256 tokens for the same devices
    when its settings still have UDACONNECT_AUTH_SECRET, else this tree's (Ed25519, the JWKS in the environment)."""
    if "UDACONNECT_AUTH_SECRET" not in (functions / "udaconnect" / "settings.py").read_text():
        return {}, phones
    import secrets

    secret = secrets.token_hex(32)
    devices = json.dumps([[p, c.device_id] for p, c in enumerate(phones, 1)])
    minted = subprocess.run([sys.executable, "-c", _MINT_HS256, secret], input=devices, capture_output=True,
                            text=True, check=True, env={**os.environ, "PYTHONPATH": str(functions)})
    tokens = json.loads(minted.stdout)
    return ({"UDACONNECT_AUTH_SECRET": secret},
            [dataclasses.replace(c, token=t) for c, t in zip(phones, tokens, strict=True)])


def _ingest(env: dict[str, str], source: Path, pythonpath: Path | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    path = {"PYTHONPATH": str(pythonpath or source.parent)} if source != MAIN or pythonpath else {}
    process = subprocess.Popen(function_command("ingest", port, source=source),
                               env={**os.environ, **env, **path, "FUNCTION_TARGET": "ingest"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not until_ok(url + "/health", timeout=60):
        process.kill()
        raise RuntimeError("ingest did not start")
    return process, url + "/"


def _measure(process: subprocess.Popen, url: str, fixes: int, batch: int, concurrency: int,
             phones: list[load.Credential], per_upload: int = 1) -> dict:
    load.reset_tracks()  # batches of 100 are one person's: a few turns would otherwise date them in the future
    prepared = load.prepare(url, PERSONS, fixes, batch, concurrency, per_upload, credentials=phones)
    before = _seconds(process.pid)
    result = load.send(url, prepared, concurrency, 202)
    cpu = _seconds(process.pid) - before
    return {"cpu_us_per_fix": cpu / max(result.events, 1) * 1e6, "fixes_per_s": result.rate,
            "p50_ms": result.p(0.5), "errors": result.errors}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench telemetry", description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="single-fix events per measurement")
    parser.add_argument("--batch-events", type=int, default=30_000, help="fixes sent in batches of 100")
    parser.add_argument("--repeat", type=int, default=3, help="turns per mode (medians are reported)")
    parser.add_argument("--baseline", type=Path, help="functions/ of a checkout without telemetry")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    from udaconnect.auth import keys
    from udaconnect_dev.broker.kafka_adapter import ensure_topics
    from udaconnect_dev.broker.kafka_server import KafkaServer
    from udaconnect_dev.broker.loader import load_dir
    from udaconnect_dev.broker.topics import wanted_topics

    key_dir = Path(tempfile.mkdtemp(prefix="udaconnect-bench-keys-"))
    keys.rotate(key_dir)
    delivery = keys.local_delivery_key(key_dir)  # ingest proves each report it publishes
    phones = load.credentials(Settings(auth_jwks_file=str(key_dir / keys.JWKS),
                                       auth_signing_key_file=str(key_dir / keys.SIGNING_KEY)), PERSONS)
    kafka = KafkaServer(external="").start()
    shim = Path(tempfile.mkdtemp(prefix="udaconnect-bench-unmeasured-"))
    (shim / "sitecustomize.py").write_text(_UNMEASURED)
    quiet = {"UDACONNECT_METRICS_PORT": "0", "UDACONNECT_LOG_LEVEL": "WARNING"}
    # mode -> (environment, main.py, PYTHONPATH, device tokens)
    modes: dict[str, tuple[dict[str, str], Path, Path | None, list[load.Credential]]] = {
        "on": ({"UDACONNECT_METRICS_PORT": str(free_port()), "UDACONNECT_METRICS_HOST": "127.0.0.1"}, MAIN, None,
               phones),
        "quiet": (quiet, MAIN, None, phones),
        "unmeasured": (quiet, MAIN, shim, phones)}
    if args.baseline:
        baseline = args.baseline.resolve()
        env, tokens = _baseline_phones(baseline, phones)
        modes = {"off": (env, baseline / "main.py", None, tokens), **modes}
    processes: dict[str, tuple[subprocess.Popen, str]] = {}
    runs: dict[str, dict[str, list[dict]]] = {m: {"single": [], "batch100": [], "upload50": []} for m in modes}
    try:
        with tempfile.TemporaryDirectory() as eventing:
            (Path(eventing) / "broker.yaml").write_text(BENCH_BROKER)
            ensure_topics(kafka.bootstrap_servers, wanted_topics(load_dir(Path(eventing))))
        common = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "UDACONNECT_BROKER": "bench",
                  "UDACONNECT_PUBLISHER": "kafka", "UDACONNECT_AUTH_JWKS_FILE": str(key_dir / keys.JWKS),
                  "UDACONNECT_DELIVERY_KEY_FILE": str(delivery)}
        for mode, (env, source, pythonpath, tokens) in modes.items():
            processes[mode] = _ingest({**common, **env}, source, pythonpath)
            _measure(*processes[mode], 300, 1, 8, tokens)  # warm: connect, cache tokens
        order = list(modes)
        for turn in range(args.repeat):
            for mode in order[turn % len(order):] + order[:turn % len(order)]:  # each mode first in turn
                tokens = modes[mode][3]
                runs[mode]["single"].append(_measure(*processes[mode], args.events, 1, 16, tokens))
                runs[mode]["batch100"].append(_measure(*processes[mode], args.batch_events, 100, 8, tokens))
                runs[mode]["upload50"].append(_measure(*processes[mode], args.batch_events, 1, 8, tokens, 50))
                print(f"turn {turn + 1} {mode:10}: single {runs[mode]['single'][-1]['cpu_us_per_fix']:,.0f} us/fix, "
                      f"batch100 {runs[mode]['batch100'][-1]['cpu_us_per_fix']:,.1f} us/fix, upload50 "
                      f"{runs[mode]['upload50'][-1]['cpu_us_per_fix']:,.1f} us/fix", flush=True)
    finally:
        for process, _ in processes.values():
            process.terminate()
            process.wait(10)
        kafka.stop()
    first = next(iter(modes))
    report: dict = {"machine_cores": os.cpu_count(), "repeat": args.repeat, "events": args.events,
                    "batch_events": args.batch_events, "runs": runs, "median": {}}
    for kind in ("single", "batch100", "upload50"):
        median = {mode: {key: statistics.median(r[key] for r in runs[mode][kind])
                         for key in ("cpu_us_per_fix", "fixes_per_s", "p50_ms")} for mode in modes}
        for mode in modes:
            median[mode]["cpu_vs_" + first] = median[mode]["cpu_us_per_fix"] / median[first]["cpu_us_per_fix"]
        report["median"][kind] = median
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "telemetry.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{'':10}" + "".join(f"{mode + ' us/fix':>16}{'ratio':>7}" for mode in modes))
    for kind, median in report["median"].items():
        print(f"{kind:10}" + "".join(f"{median[m]['cpu_us_per_fix']:>16,.1f}{median[m]['cpu_vs_' + first]:>7.3f}"
                                     for m in modes))
    errors = sum(r["errors"] for mode in runs.values() for kind in mode.values() for r in kind)
    print(f"errors: {errors}")
    return 0 if errors == 0 else 1
