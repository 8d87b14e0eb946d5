"""A closed-loop HTTP load: C threads each POST prepared CloudEvent requests back to back, timing each one."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from udaconnect.contracts.events import LOCATION_REPORTED


@dataclass
class Result:
    events: int = 0
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)  # event id -> monotonic time its POST began

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def event(person_id: int, device: int) -> tuple[str, dict]:
    now = datetime.now(UTC).isoformat()
    event_id = str(uuid.uuid4())
    return event_id, {"specversion": "1.0", "id": event_id, "source": f"/devices/bench-{device}",
                      "type": LOCATION_REPORTED, "datacontenttype": "application/json",
                      "data": {"person_id": person_id, "latitude": 37.5536 + device * 1e-5,
                               "longitude": -122.2909, "recorded_at": now}}


def request(events: list[dict]) -> tuple[dict[str, str], bytes]:
    if len(events) == 1:
        e = events[0]
        headers = {f"ce-{k}": str(v) for k, v in e.items() if k not in ("data", "datacontenttype")}
        headers["Content-Type"] = "application/json"
        return headers, json.dumps(e["data"]).encode()
    return {"Content-Type": "application/cloudevents-batch+json"}, json.dumps(events).encode()


def run(url: str, persons: int, total: int, batch: int = 1, concurrency: int = 16) -> Result:
    """POST `total` events in requests of `batch`, from `concurrency` threads; failed requests are counted, not
    retried (a benchmark must not hide failures)."""
    from udaconnect.broker import http_client

    result, lock = Result(), threading.Lock()
    per_thread = total // concurrency

    def work(worker: int) -> None:
        done = 0
        while done < per_thread:
            size = min(batch, per_thread - done)
            pairs = [event((worker * 7919 + done + k) % persons + 1, worker) for k in range(size)]
            headers, body = request([e for _, e in pairs])
            began = time.monotonic()
            try:
                status = http_client.post(url, headers, body, 30).status
            except OSError:
                status = 0
            answered = time.monotonic()
            with lock:
                result.requests += 1
                if status == 202:
                    result.events += size
                    result.latencies.append(answered - began)
                    result.sent.update((event_id, began) for event_id, _ in pairs)
                else:
                    result.errors += 1
            done += size

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result
