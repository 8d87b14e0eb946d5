"""End to end on the local stack: device POST through the gateway (auth on: each device's token) -> ingest -> Kafka
-> the broker -> persist -> row committed in PostGIS, per fix; the encounters Trigger on unless the caller's eventing/
drops it.

Lost means answered 202 and in neither table once the phase's deadline passed, checked against the database itself
(not only the watcher); each lost fix is then looked for in the broker topic, so the report says where it went
(never in Kafka: lost between ingest's acknowledgement and Kafka's write; in Kafka: lost between the broker and
the table).

Phases: single-fix events (closed loop, and 1,000/s), CloudEvents batches of 100, and phones uploading their
buffered fixes as one io.udaconnect.locations.reported.v1 event of 50 fixes (closed loop, 5,000 and 10,000
fixes/s: 100 and 200 uploads/s, i.e. 500 and 1,000 phones uploading every 5 s). Each phase starts once every
Trigger has delivered what the last one left (so no phase pays for another's backlog).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg2

from udaconnect.settings import Settings
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect.storage.urls import libpq
from udaconnect_dev.bench import cpu, load
from udaconnect_dev.localstack import LocalStack


class _Watcher(threading.Thread):
    """Polls the table every 10 ms: when each event's row first became visible (committed); in `location`, or in
    `location_untrusted` where there is one (a fix persist did not believe is stored there: counted in `untrusted`,
    so a phase never waits for a row that will not come)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.seen: dict[str, float] = {}
        self.untrusted: set[str] = set()
        self.last: dict[str, int] = {}

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('location_untrusted') IS NOT NULL")
            tables = ["location", "location_untrusted"] if cur.fetchone()[0] else ["location"]
            for table in tables:
                cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
                self.last[table] = cur.fetchone()[0]
            while not self.stop.wait(0.01):
                for table in tables:
                    cur.execute(f"SELECT id, event_id, event_index FROM {table} WHERE id > %s ORDER BY id",
                                (self.last[table],))
                    now = time.monotonic()
                    for row_id, event_id, index in cur.fetchall():
                        key = load.fix_key(event_id, index)
                        self.seen.setdefault(key, now)
                        if table != "location":
                            self.untrusted.add(key)
                        self.last[table] = row_id
        conn.close()


def _quiet(stack: LocalStack, limit: float = 300.0) -> float:
    """Seconds until every Trigger delivered what Kafka holds (bounded)."""
    began = time.monotonic()
    while time.monotonic() - began < limit and any(stack.lag().values()):
        time.sleep(1.0)
    return round(time.monotonic() - began, 1)


def _stored(url: str, keys: set[str]) -> set[str]:
    """Which of these fix keys either table holds (the watcher's view checked against the database itself)."""
    if not keys:
        return set()
    wanted = [(k.split("#")[0], int(k.split("#")[1]) if "#" in k else 0) for k in keys]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('location_untrusted') IS NOT NULL")
        tables = ["location", "location_untrusted"] if cur.fetchone()[0] else ["location"]
        found: set[str] = set()
        for table in tables:
            cur.execute(f"SELECT t.event_id, t.event_index FROM {table} t JOIN unnest(%s::text[], %s::int[]) "
                        f"AS k(id, idx) ON t.event_id = k.id AND t.event_index = k.idx",
                        ([i for i, _ in wanted], [x for _, x in wanted]))
            found |= {load.fix_key(i, x) for i, x in cur.fetchall()}
    conn.close()
    return found


def _in_kafka(stack: LocalStack, keys: set[str]) -> set[str]:
    """Which of these fix keys' events the broker topic holds (read whole: only asked about lost fixes)."""
    from udaconnect.events.kafka_client import read_topic
    from udaconnect.settings import broker_topic

    assert stack.kafka is not None
    ids = {k.split("#")[0]: k for k in keys}
    found: set[str] = set()
    topic = broker_topic(stack.settings.namespace, stack.settings.broker)
    for _, _, message in read_topic(stack.kafka.bootstrap_servers, topic):
        value = dict(message.headers).get("ce_id")
        event_id = value.decode() if isinstance(value, bytes) else value
        found |= {k for k in keys if k.split("#")[0] == event_id} if event_id in ids else set()
    return found


def _phase(stack: LocalStack, watcher: _Watcher, persons: int, events: int, batch: int, connections: int,
           rate: float | None = None, fixes: int = 1, credentials: Sequence[load.Credential] = (),
           url: str = "", deadline_s: float = 180.0) -> dict:
    settled = _quiet(stack)
    processes = cpu.pids(stack, EmbeddedPostgres(stack.settings.data_dir / "postgres").data)
    before = cpu.snapshot(processes)
    result = load.run(url or stack.processes["ingest"].url + "/", persons, events, batch, connections, rate=rate,
                      fixes=fixes, credentials=credentials)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and not set(result.sent) <= set(watcher.seen):
        time.sleep(0.2)
    # every Trigger done with the phase's events (encounters' detection included) before the CPU is read, so each
    # process's work for these fixes is counted here, not in the next phase
    drained = _quiet(stack, 120)
    spent = cpu.per_event_us(before, cpu.snapshot(processes), len(result.sent))
    window = time.monotonic() - result.started
    unseen = set(result.sent) - set(watcher.seen)
    late = _stored(libpq(stack.settings.database_url), unseen)  # stored, but the watcher missed them
    lost = unseen - late
    in_kafka = _in_kafka(stack, lost) if lost else set()
    latencies = sorted(watcher.seen[i] - t for i, t in result.sent.items() if i in watcher.seen)
    start = min(result.sent.values())
    end = max(watcher.seen[i] for i in result.sent if i in watcher.seen)

    def p(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"batch": batch, "fixes_per_event": fixes, "stored_fixes": len(latencies),
            "offered_fixes_per_s": rate * batch * fixes if rate else "as fast as answered",
            "accepted_fixes": result.events, "post_errors": result.errors, "waited_for_quiet_s": settled,
            "triggers_drained_after_rows_s": drained, "cpu_window_s": round(window, 1),
            "post_fixes_per_s": result.rate, "end_to_end_fixes_per_s": len(latencies) / (end - start),
            "latency_p50_ms": p(0.5), "latency_p99_ms": p(0.99),
            # accepted (202) and in neither table once the deadline passed (checked in the database)
            "lost": len(lost), "lost_never_in_kafka": len(lost - in_kafka), "lost_in_kafka": len(in_kafka),
            "lost_examples": sorted(lost)[:5], "stored_unseen_by_watcher": len(late),
            "stored_untrusted": len(set(result.sent) & watcher.untrusted),
            "cpu_us_per_fix": spent,
            "_series": [(result.sent[i] - start, watcher.seen[i] - start, watcher.seen[i] - result.sent[i])
                        for i in result.sent if i in watcher.seen]}


def end_to_end(stack: LocalStack, settings: Settings, persons: int, events: int, batch_events: int,
               out: Path, phone_fixes: int = 200_000, credentials: Sequence[load.Credential] = (),
               via_gateway: bool = True, deadline_s: float = 180.0) -> dict:
    """`credentials`: one enrolled device per person (auth on), each request one device's; `via_gateway`: posted to
    the gateway's /api/events, as phones do (else to the ingest process itself)."""
    url = stack.api_url + "/api/events" if via_gateway else stack.processes["ingest"].url + "/"
    measure = functools.partial(_phase, credentials=credentials, url=url, deadline_s=deadline_s)
    db = libpq(settings.database_url)
    watcher = _Watcher(db)
    watcher.start()
    time.sleep(0.2)
    plan = {  # closed loops find the most each mode takes; open loops the latency at a steady rate
        "single": (events, 1, 32, None, 1),
        "single_at_1000_per_s": (2 * events, 1, 64, 1000, 1),
        "batch100": (batch_events, 100, 8, None, 1),
        "batch100_at_5000_fixes_per_s": (batch_events * 4 // 5, 100, 16, 50, 1),
        "phones50": (phone_fixes, 1, 16, None, 50),
        "phones50_at_5000_fixes_per_s": (phone_fixes * 3 // 4, 1, 32, 100, 50),
        "phones50_at_10000_fixes_per_s": (phone_fixes, 1, 64, 200, 50),
    }
    phases = {}
    for name, (total, batch, connections, rate, fixes) in plan.items():
        phases[name] = measure(stack, watcher, persons, total, batch, connections, rate=rate, fixes=fixes)
        shown = ("stored_fixes", "end_to_end_fixes_per_s", "latency_p50_ms", "latency_p99_ms", "lost")
        print(name, {k: round(v, 1) if isinstance(v, float) else v for k, v in phases[name].items() if k in shown},
              "cpu_us_per_fix total", phases[name]["cpu_us_per_fix"]["total"], flush=True)
    watcher.stop.set()
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) - count(DISTINCT (event_source, event_id, event_index)) FROM location")
        duplicates = cur.fetchone()[0]
    conn.close()
    plotted = _plot(phases, out / "ingest.png")
    for phase in phases.values():
        phase.pop("_series")
    totals = {name: sum(phase[name] for phase in phases.values())
              for name in ("accepted_fixes", "stored_fixes", "lost", "lost_never_in_kafka", "lost_in_kafka",
                           "stored_untrusted")}
    return {**phases, **totals, "duplicate_rows": duplicates, "plot": str(out / "ingest.png") if plotted else
            "none: matplotlib is not installed here (the bench session has it)",
            "path": "POST to the gateway's /api/events (auth on)" if via_gateway else
                    "POST to the ingest process (auth on, not via the gateway)"}


def _plot(phases: dict, path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:  # the tests' environment: the figures are in the JSON anyway
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(phases), figsize=(6 * len(phases), 6), squeeze=False)
    for column, (name, phase) in enumerate(phases.items()):
        series = phase["_series"]
        seconds = int(max(s[1] for s in series)) + 1
        committed = [0] * seconds
        worst = [0.0] * seconds
        for _, seen, latency in series:
            committed[int(seen)] += 1
            worst[int(seen)] = max(worst[int(seen)], latency * 1000)
        axes[0][column].plot(range(seconds), committed)
        axes[0][column].set(title=f"{name}: fixes committed per second", xlabel="s")
        axes[1][column].plot(range(seconds), worst, color="tab:red")
        axes[1][column].set(title=f"{name}: worst POST->commit latency (ms)", xlabel="s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True
