"""Fixtures for the broker tests: one tansu for the session, small HTTP subscribers, data planes built from YAML."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from udaconnect.events import kafka_client
from udaconnect.events.event import Event
from udaconnect_dev.broker.consumer import ConsumerTuning
from udaconnect_dev.broker.dataplane import DataPlane
from udaconnect_dev.broker.kafka_server import KafkaServer
from udaconnect_dev.broker.loader import load_text
from udaconnect_dev.broker.resolver import Resolver

FAST = ConsumerTuning(session_timeout_ms=2000, heartbeat_interval_ms=500, max_poll_interval_ms=2000, drain_timeout=2.0)
Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaServer]:
    server = KafkaServer().start()
    yield server
    server.stop()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Subscriber:
    """A real HTTP subscriber; `respond` decides each answer (default 204, empty)."""

    respond: Callable[[Received], Reply] = lambda r: (204, {}, b"")
    received: list[Received] = field(default_factory=list)
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)


def _handler(sub: Subscriber) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Received({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            sub.received.append(request)
            status, headers, payload = sub.respond(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def subscriber() -> Iterator[Callable[..., Subscriber]]:
    servers: list[ThreadingHTTPServer] = []

    def make(respond: Callable[[Received], Reply] | None = None) -> Subscriber:
        sub = Subscriber(respond) if respond else Subscriber()
        sub.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sub))
        sub.server.daemon_threads = True
        threading.Thread(target=sub.server.serve_forever, daemon=True).start()
        servers.append(sub.server)
        return sub

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def namespace() -> str:
    """A namespace per test, so topics and consumer groups never mix on the shared Kafka."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def plane(kafka: KafkaServer) -> Iterator[Callable[..., DataPlane]]:
    planes: list[DataPlane] = []

    def make(yaml_text: str, services: dict[str, str] | None = None) -> DataPlane:
        eventing = load_text(yaml_text)
        dp = DataPlane(
            eventing,
            kafka.bootstrap_servers,
            Resolver(services or {}, eventing.sinks, env={}),
            port=0,
            tuning=FAST,
            write_timeout=3.0,
        )
        planes.append(dp)
        dp.start()
        return dp

    yield make
    for dp in planes:
        dp.stop()


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 10.0) -> list[Any]:
    """The first `count` records of `topic` across all partitions (no consumer group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds now, across its partitions (its end offsets: no waiting for records)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values()) if partitions else 0
    finally:
        consumer.close()


def event_of(record: Any) -> Event:
    return kafka_client.event_of(record)


def broker_yaml(namespace: str, delivery: str = "", sink: bool = True) -> str:
    """A Kafka Broker (3 partitions) plus, optionally, a dead-letter KafkaSink, in `namespace`."""
    text = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: {namespace}}}
data: {{default.topic.partitions: "3", default.topic.replication.factor: "1", bootstrap.servers: "x:9092"}}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: {namespace}
  annotations: {{eventing.knative.dev/broker.class: Kafka}}
spec:
  config: {{apiVersion: v1, kind: ConfigMap, name: cfg}}
{delivery}
"""
    if sink:
        text += f"""
---
apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata: {{name: dead, namespace: {namespace}}}
spec: {{topic: {namespace}-dead, bootstrapServers: ["x:9092"], numPartitions: 1}}
"""
    return text


def trigger_yaml(namespace: str, name: str, spec: str, annotations: str = "{}") -> str:
    return f"""
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: {name}
  namespace: {namespace}
  annotations: {annotations}
spec:
  broker: default
  subscriber: {{ref: {{apiVersion: serving.knative.dev/v1, kind: Service, name: {name}}}}}
{spec}
"""


def post_event(
    url: str,
    event_id: str,
    type_: str = "io.test.v1",
    key: str | None = None,
    data: bytes = b'{"n": 1}',
    **extensions: str,
) -> int:
    import requests

    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/test",
        "ce-type": type_,
        "content-type": "application/json",
    }
    if key is not None:
        headers["ce-partitionkey"] = key
    headers.update({f"ce-{k}": v for k, v in extensions.items()})
    return requests.post(url, data=data, headers=headers, timeout=10).status_code


def wait_until_judged(dp: Any, records: int, timeout: float = 15.0) -> None:
    """Until every trigger of `dp` (a DataPlane on fresh topics) has committed past the first `records` records:
    each was delivered to the end or filtered out, so no more of them can arrive (a commit never passes an
    unfinished record); or fail. What a sleep cannot say: "nothing else will arrive"."""
    deadline = time.monotonic() + timeout
    while True:
        consumed = {r.trigger.name: sum(dict(r.consumer.committer.committed).values()) if r.consumer else 0
                    for r in dp.routes}
        if all(count >= records for count in consumed.values()):
            return
        assert time.monotonic() < deadline, f"records committed by each trigger after {timeout} s: {consumed}"
        time.sleep(0.02)
