"""Simulated devices: each reports its person's position fixes to ingest as CloudEvents, at a steady overall rate.

Devices retry a refused-for-now report (503, 5xx, no answer) with backoff, as a phone would, so a load
survives a broker or function restart; 4xx means the report itself is wrong and it is counted, not retried.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from udaconnect.contracts.names import DEVICE_SOURCE_PREFIX, LOCATION_REPORTED

BATCH = "application/cloudevents-batch+json"
#: Where demo devices wander: around a Bay Area venue of a few hundred meters.
VENUE = (37.5536, -122.2909)


@dataclass
class Device:
    device_id: str
    person_id: int
    latitude: float
    longitude: float

    def fix(self, rng: random.Random) -> dict:
        """The next fix: a few meters' walk from the last one, as a structured CloudEvent."""
        self.latitude += rng.gauss(0, 0.00003)
        self.longitude += rng.gauss(0, 0.00003)
        now = datetime.now(UTC)
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"{DEVICE_SOURCE_PREFIX}{self.device_id}",
                "type": LOCATION_REPORTED, "datacontenttype": "application/json", "time": now.isoformat(),
                "data": {"person_id": self.person_id, "latitude": round(self.latitude, 7),
                         "longitude": round(self.longitude, 7), "recorded_at": now.isoformat(),
                         "accuracy": round(rng.uniform(3, 15), 1)}}


@dataclass
class Stats:
    sent: int = 0  # events accepted (202)
    refused: int = 0  # events answered 4xx
    retries: int = 0  # posts retried after 5xx or no answer
    failed: int = 0  # events given up on after every retry
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post(url: str, events: Sequence[dict], timeout: float = 30.0) -> int:
    """POST one event in binary mode, or several as one batch; the HTTP status (0: no answer)."""
    from udaconnect.broker import http_client

    if len(events) == 1:
        event = events[0]
        headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
        headers["Content-Type"] = event.get("datacontenttype", "application/json")
        body = json.dumps(event["data"]).encode()
    else:
        headers, body = {"Content-Type": BATCH}, json.dumps(list(events)).encode()
    try:
        return http_client.post(url, headers, body, timeout).status
    except OSError:
        return 0


@dataclass
class Simulator:
    url: str
    person_ids: Sequence[int]
    devices: int = 10
    rate: float = 10.0  # events per second, all devices together
    batch: int = 1  # events per request
    workers: int = 8
    max_retries: int = 30
    record: bool = False  # keep every accepted event (tests re-send them)
    seed: int = 1
    stats: Stats = field(default_factory=Stats)
    accepted: list[dict] = field(default_factory=list)

    def run(self, duration: float | None = None, count: int | None = None, stop: threading.Event | None = None,
            progress: Callable[[Stats, float], None] | None = None) -> Stats:
        """Report until `duration` seconds pass, `count` events were sent, or `stop` is set."""
        rng = random.Random(self.seed)
        devices = [Device(f"phone-{self.seed}-{i}", self.person_ids[i % len(self.person_ids)],
                          VENUE[0] + rng.uniform(-0.002, 0.002), VENUE[1] + rng.uniform(-0.002, 0.002))
                   for i in range(self.devices)]
        stop = stop or threading.Event()
        workers = max(1, min(self.workers, len(devices)))
        quota = [count // workers + (1 if i < count % workers else 0) for i in range(workers)] if count else None
        started = time.monotonic()
        threads = [threading.Thread(target=self._work, daemon=True, name=f"device-{i}",
                                    args=(devices[i::workers], self.rate / workers, started, duration,
                                          quota[i] if quota else None, stop, random.Random(self.seed * 1000 + i)))
                   for i in range(workers)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(1.0)
            if progress:
                progress(self.stats, time.monotonic() - started)
        return self.stats

    def _work(self, devices: list[Device], rate: float, started: float, duration: float | None,
              quota: int | None, stop: threading.Event, rng: random.Random) -> None:
        done, turn = 0, 0
        while not stop.is_set() and (quota is None or done < quota):
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                return
            size = self.batch if quota is None else min(self.batch, quota - done)
            due = started + (done + size) / rate if rate > 0 else now
            if due > now and stop.wait(due - now):
                return
            events = [devices[(turn + k) % len(devices)].fix(rng) for k in range(size)]
            turn += size
            self._send(events, stop)
            done += size

    def _send(self, events: list[dict], stop: threading.Event) -> None:
        began = time.monotonic()
        for attempt in range(self.max_retries + 1):
            status = post(self.url, events)
            if 200 <= status < 300:
                with self.stats.lock:
                    self.stats.sent += len(events)
                    self.stats.latencies.append(time.monotonic() - began)
                    if self.record:
                        self.accepted.extend(events)
                return
            if 400 <= status < 500 and status not in (408, 429):
                with self.stats.lock:
                    self.stats.refused += len(events)
                return
            with self.stats.lock:
                self.stats.retries += 1
            if stop.wait(min(0.1 * 2**attempt, 2.0)):
                break
        with self.stats.lock:
            self.stats.failed += len(events)


def progress_line(stats: Stats, elapsed: float) -> str:
    rate = stats.sent / elapsed if elapsed else 0.0
    return (f"\rsent {stats.sent:,} ({rate:,.0f}/s)  refused {stats.refused:,}  retries {stats.retries:,}  "
            f"failed {stats.failed:,}  {elapsed:,.0f} s")
