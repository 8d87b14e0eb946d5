"""`python -m udaconnect_dev.bench dispatch`: the local broker's dispatcher: events/s delivered, broker CPU per event.

tansu, the broker (`python -m udaconnect_dev.broker` with eventing/) and a 204-answering subscriber each run in their
own process; the bench publishes N location events in Kafka binary mode (batches of 100, as ingest does) and reads the
broker process's CPU time (utime + stime) from /proc over the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from udaconnect.events.event import Event
from udaconnect.events.kafka_publisher import KafkaPublisher
from udaconnect.ports import answers, free_port
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.broker.kafka_server import KafkaServer

TOPIC = Settings().broker_topic
TYPE = "io.udaconnect.location.reported.v1"
IDLE_SECONDS = 3.0
PAYLOAD = b'{"person_id": %d, "latitude": 35.0, "longitude": -106.0, "recorded_at": "2026-11-25T10:00:00+00:00"}'
#: The subscriber: keep-alive HTTP/1.1 on asyncio, 204 to every request (its own process: its CPU is not counted).
SUBSCRIBER = r"""
import asyncio, sys
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, length = self.buf[:end].lower(), 0
            at = head.find(b"content-length:")
            if at >= 0: length = int(head[at + 15:].split(b"\r\n", 1)[0])
            if len(self.buf) < end + 4 + length: return
            self.buf = self.buf[end + 4 + length:]
            self.t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
async def main():
    server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=512)
    await server.serve_forever()
asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def events(count: int, start: int) -> list[Event]:
    return [
        Event(
            {
                "specversion": "1.0",
                "id": f"bench-{start + n}",
                "source": f"/devices/d{n % 500}",
                "type": TYPE,
                "partitionkey": str(n % 500),
                "datacontenttype": "application/json",
            },
            PAYLOAD % (n % 500),
        )
        for n in range(count)
    ]


def delivered(status_url: str) -> int:
    with urllib.request.urlopen(status_url, timeout=5) as answer:
        triggers = json.load(answer)["triggers"]
    return sum(t["counts"].get("delivered", 0) for t in triggers)


def _publish_and_wait(
    publisher: KafkaPublisher, status_url: str, batch: list[Event], before: int, timeout: float
) -> float:
    for start in range(0, len(batch), 100):
        publisher.publish(batch[start : start + 100])
    deadline = time.monotonic() + timeout
    while (done := delivered(status_url)) < before + len(batch):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{before + len(batch) - done} events not delivered within {timeout} s")
        time.sleep(0.05)
    return time.monotonic()


def eventing_dir(ordered: bool, scratch: Path) -> Path:
    """eventing/ itself, or a copy whose Triggers deliver in order (one event at a time per partition)."""
    if not ordered:
        return PROJECT_ROOT / "eventing"
    for source in (PROJECT_ROOT / "eventing").glob("*.yaml"):
        (scratch / source.name).write_text(
            source.read_text().replace("delivery.order: unordered", "delivery.order: ordered")
        )
    return scratch


def run(count: int, warmup: int, timeout: float, ordered: bool = False) -> dict[str, float | str]:
    processes: list[subprocess.Popen[bytes]] = []
    kafka = KafkaServer(external="").start()
    scratch = tempfile.TemporaryDirectory()
    try:
        sub_port, port = free_port(), free_port()
        processes.append(subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(sub_port)]))
        broker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "udaconnect_dev.broker",
                "--eventing-dir",
                str(eventing_dir(ordered, Path(scratch.name))),
                "--port",
                str(port),
                "--bootstrap",
                kafka.bootstrap_servers,
                "--log-level",
                "WARNING",
                "--subscriber",
                f"persist=http://127.0.0.1:{sub_port}/",
            ],
            stdout=subprocess.PIPE,
        )
        processes.append(broker)
        assert broker.stdout is not None
        if b"broker ready" not in broker.stdout.readline() or not answers("127.0.0.1", sub_port):
            raise RuntimeError("the broker or the subscriber did not start")
        status_url = f"http://127.0.0.1:{port}/status"
        publisher = KafkaPublisher(kafka.bootstrap_servers, TOPIC)
        try:
            _publish_and_wait(publisher, status_url, events(warmup, 0), 0, timeout)  # connections, JIT-free warmup
            batch = events(count, warmup)
            cpu0, began = cpu_seconds(broker.pid), time.monotonic()
            ended = _publish_and_wait(publisher, status_url, batch, warmup, timeout)
            cpu = cpu_seconds(broker.pid) - cpu0
            idle0 = cpu_seconds(broker.pid)
            time.sleep(IDLE_SECONDS)  # nothing to deliver: what the broker costs while waiting
            idle = (cpu_seconds(broker.pid) - idle0) / IDLE_SECONDS
        finally:
            publisher.close()
        return {
            "events": count,
            "delivery": "ordered" if ordered else "unordered",
            "seconds": round(ended - began, 3),
            "events_per_s": round(count / (ended - began)),
            "broker_cpu_s": round(cpu, 3),
            "broker_cpu_us_per_event": round(cpu / count * 1e6, 1),
            "broker_idle_cpu_percent": round(idle * 100, 1),
        }
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        kafka.stop()
        scratch.cleanup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench dispatch", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--ordered", action="store_true", help="Triggers deliver in order instead of unordered")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.events, args.warmup, args.timeout, args.ordered), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
