"""`nox -s bench -- encounters`: live encounters on the local stack under a steady load of simulated phones.

Phones (one per person) walk between booths of a conference hall and report a fix each at a steady total rate
through the gateway (POST /api/events, binary mode, open loop). Live streams of some persons are open on the
gateway the whole time. Reported: for each encounter pushed on a stream, the time from the POST of the fix that
completed its first contact to the SSE event (p50/p99/max, plotted over the run as SVG); missed and extra
encounters against the batch oracle (the rebuild over the same fixes, rolled back); the encounters function's
CPU per fix; the ingest rate and POST latency with encounters on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from udaconnect.ports import free_port
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect_dev.bench import cpu, load
from udaconnect_dev.localstack import LocalStack

HALL = (-122.4030, 37.7830)


def _prepare(data_dir: Path, persons: int) -> Settings:
    server = EmbeddedPostgres(data_dir / "postgres")
    settings = Settings(database_url=server.start(), data_dir=data_dir, pool_size=4)
    database.upgrade(settings)
    with database.engine(settings).begin() as conn:
        conn.execute(text("TRUNCATE person, location, event_outbox RESTART IDENTITY CASCADE"))
        conn.execute(text(f"INSERT INTO person (first_name, last_name, company_name) "
                          f"SELECT 'Bench', 'P' || g, 'Co' FROM generate_series(1, {persons}) g"))
    return settings


def _walks(url: str, persons: int, rate: float, seconds: float, booths: int, seed: int) -> list[load.Prepared]:
    """Fix i is due at i / rate; person i % persons reports it, near the booth it is at (2 m jitter), moving to
    another booth every minute or so. Booths 12 m apart: contacts happen at one booth, not between two."""
    rng = random.Random(seed)
    columns = max(1, round(math.sqrt(booths)))
    where = [rng.randrange(booths) for _ in range(persons)]
    start = datetime.now(UTC) + timedelta(seconds=2)
    out = []
    for i in range(int(rate * seconds)):
        person = i % persons
        if rng.random() < persons / rate / 60:
            where[person] = rng.randrange(booths)
        booth = where[person]
        east, north = (booth % columns) * 12 + rng.gauss(0, 2), (booth // columns) * 12 + rng.gauss(0, 2)
        event_id = str(uuid.uuid4())
        data = {"person_id": person + 1, "latitude": HALL[1] + north / 111_000,
                "longitude": HALL[0] + east / 88_000, "recorded_at": (start + timedelta(seconds=i / rate)).isoformat()}
        headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": f"/devices/phone-{person + 1}",
                   "ce-type": "io.udaconnect.location.reported.v1", "Content-Type": "application/json"}
        out.append(load.Prepared([event_id], load.encode(url, headers, json.dumps(data).encode())))
    return out


class Streams:
    """SSE clients of some persons on the gateway: (encounter id, person, arrival) as they come."""

    def __init__(self, api: str, persons: list[int]) -> None:
        self.api, self.persons = api, persons
        self.arrivals: dict[int, float] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)

    async def _all(self) -> None:
        await asyncio.gather(*(self._one(p) for p in self.persons))

    async def _one(self, person: int) -> None:
        host, port = self.api.split("//")[1].split(":")
        last = ""
        while not self.stop.is_set():
            reader, writer = await asyncio.open_connection(host, int(port))
            resume = f"Last-Event-ID: {last}\r\n" if last else ""
            writer.write(f"GET /api/persons/{person}/encounters/live HTTP/1.1\r\nHost: x\r\n"
                         f"Accept: text/event-stream\r\n{resume}\r\n".encode())
            await reader.readuntil(b"\r\n\r\n")
            event, ident = "", ""
            try:
                while not self.stop.is_set():
                    line = (await asyncio.wait_for(reader.readline(), 1.0)).decode().strip()
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("id: "):
                        ident = line[4:]
                        last = ident
                    elif line.startswith("data: ") and event == "encounter":
                        self.arrivals.setdefault(int(ident), time.monotonic())
                    elif line.startswith("data: ") and event == "ready":
                        self.ready.set()
            except TimeoutError:
                continue
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.5)
            finally:
                writer.close()


def _completing_posts(engine, sent: dict[str, float], window: timedelta) -> dict[int, float]:  # noqa: ANN001
    """Encounter id -> when the POST of the fix completing its first contact was due (both fixes posted)."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT e.id, f.event_id, g.event_id FROM encounter e
            JOIN location f ON f.person_id = e.person_a AND f.creation_time BETWEEN e.first_seen - :w
                 AND e.first_seen + :w
            JOIN location g ON g.person_id = e.person_b AND g.creation_time BETWEEN f.creation_time - :w
                 AND f.creation_time + :w AND _ST_DWithin(f.coordinate, g.coordinate, 5, true)"""),
            {"w": window}).all()
    out: dict[int, float] = {}
    for encounter, f, g in rows:
        if f in sent and g in sent:
            done = max(sent[f], sent[g])
            out[encounter] = min(out.get(encounter, done), done)
    return out


def _svg(points: list[tuple[float, float]], path: Path) -> None:
    """Latency (ms) over the run (s) as a scatter plot, no plotting library needed."""
    width, height = 800, 300
    top = max([p[1] for p in points] + [1000.0])
    right = max([p[0] for p in points] + [1.0])
    dots = "".join(f'<circle cx="{40 + x / right * (width - 60):.1f}" cy="{height - 30 - y / top * (height - 50):.1f}" '
                   f'r="2" fill="#3060c0"/>' for x, y in points)
    limit = height - 30 - 1000 / top * (height - 50)
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
                    f'<rect width="100%" height="100%" fill="white"/>'
                    f'<line x1="40" y1="{limit:.1f}" x2="{width - 20}" y2="{limit:.1f}" stroke="#c03030"/>'
                    f'<text x="42" y="{limit - 4:.1f}" font-size="11" fill="#c03030">1 s</text>'
                    f'<text x="42" y="14" font-size="12">POST of the completing fix to the SSE event (ms, max '
                    f'{top:.0f}) over the run ({right:.0f} s)</text>{dots}</svg>')


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench encounters", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="fixes/s, all phones together")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--booths", type=int, default=100)
    parser.add_argument("--streams", type=int, default=50, help="persons whose live stream is open")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = _prepare(PROJECT_ROOT / ".udaconnect" / "bench-encounters", args.persons)
    window = timedelta(minutes=settings.encounter_window)
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    report: dict = {"machine_cores": os.cpu_count(), "rate": args.rate, "seconds": args.seconds,
                    "persons": args.persons, "booths": args.booths, "streams": args.streams}
    try:
        stack.start()
        engine = database.engine(settings)
        url = stack.api_url + "/api/events"
        prepared = _walks(url, args.persons, args.rate, args.seconds, args.booths, 14)
        streams = Streams(stack.api_url, random.Random(5).sample(range(1, args.persons + 1), args.streams))
        streams.thread.start()
        streams.ready.wait(30)
        time.sleep(1)
        processes = cpu.pids(stack, settings.data_dir / "postgres")
        before = cpu.snapshot(processes)
        began = time.monotonic()
        result = load.send(url, prepared, args.concurrency, 202, rate=args.rate)
        left = stack.wait_drained(120)
        time.sleep(2)  # the last detections' streams
        after = cpu.snapshot(processes)
        streams.stop.set()
        report["ingest"] = {"accepted": result.events, "errors": result.errors, "statuses": result.statuses,
                            "rate_per_s": round(result.rate, 1), "post_p50_ms": round(result.p(0.5), 1),
                            "post_p99_ms": round(result.p(0.99), 1), "undelivered_after_drain": left}
        cpu_us = cpu.per_event_us(before, after, result.events)
        report["cpu_us_per_fix"] = {k: round(v) for k, v in cpu_us.items()}
        completing = _completing_posts(engine, result.sent, window)
        watched = set(streams.persons)
        with engine.connect() as conn:
            pairs = {i: (a, b) for i, a, b in conn.execute(text("SELECT id, person_a, person_b FROM encounter"))}
        expected = {i for i, (a, b) in pairs.items() if a in watched or b in watched}
        latencies = sorted((completing[i] - began, (streams.arrivals[i] - completing[i]) * 1000)
                           for i in expected if i in streams.arrivals and i in completing)
        values = sorted(v for _, v in latencies)
        report["sse"] = {
            "encounters_of_watched_persons": len(expected), "pushed": len(expected & set(streams.arrivals)),
            "measured": len(values),
            "p50_ms": round(statistics.median(values), 1) if values else None,
            "p99_ms": round(values[min(len(values) - 1, int(0.99 * len(values)))], 1) if values else None,
            "max_ms": round(values[-1], 1) if values else None}
        _svg(latencies, args.out / "encounters-latency.svg")
        from udaconnect.encounters import store

        live = _rows(engine)
        with engine.connect() as conn:
            transaction = conn.begin()
            store.rebuild(conn, settings.encounter_distance, window)
            oracle = {tuple(r) for r in conn.execute(text(_ROWS))}
            transaction.rollback()
        report["oracle"] = {"encounters": len(oracle), "live": len(live), "missed": len(oracle - live),
                            "extra": len(live - oracle)}
    finally:
        stack.stop()
        EmbeddedPostgres(settings.data_dir / "postgres").stop()
    (args.out / "encounters.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0


_ROWS = "SELECT person_a, person_b, first_seen, last_seen, contacts FROM encounter"


def _rows(engine) -> set[tuple]:  # noqa: ANN001
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(_ROWS))}
