"""Both publishers behind one interface: through the broker's HTTP ingress, and 503 when the broker is away."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bearer import VERIFIER_ENV, headers
from ingest.conftest import MAIN, read_topic
from ingest.test_function import binary_headers, data, structured
from udaconnect import bootstrap
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect.ports import free_port
from udaconnect_dev.broker.ingress import Ingress


@pytest.fixture
def ingress(kafka) -> Iterator[Ingress]:  # type: ignore[no-untyped-def]
    writer = KafkaWriter(kafka.bootstrap_servers)
    server = Ingress(("127.0.0.1", 0), {"/udaconnect/default": "knative-broker-udaconnect-default"}, writer)
    server.start()
    yield server
    server.stop()
    writer.close()


def _client(monkeypatch, **env: str):  # type: ignore[no-untyped-def]
    from functions_framework import create_app
    from starlette.testclient import TestClient

    from udaconnect.events import publisher

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "3")
    for name, value in VERIFIER_ENV.items():
        monkeypatch.setenv(name, value)
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    return TestClient(create_app("ingest", MAIN), headers=headers())


def test_http_publisher_posts_binary_mode_to_the_broker_ingress(kafka, ingress: Ingress, monkeypatch) -> None:
    client = _client(monkeypatch, UDACONNECT_PUBLISHER="http",
                     K_SINK=f"http://127.0.0.1:{ingress.port}/udaconnect/default")
    headers = binary_headers()
    assert client.post("/api/events", headers=headers, content=json.dumps(data(6))).status_code == 202
    batch = [structured(p) for p in range(1, 6)]
    assert client.post("/api/events", content=json.dumps(batch),
                       headers={"Content-Type": "application/cloudevents-batch+json"}).status_code == 202
    found = read_topic(kafka.bootstrap_servers, {headers["ce-id"], *(e["id"] for e in batch)})
    assert len(found) == 6 and found[headers["ce-id"]][0] == b"6"


@pytest.mark.parametrize("env", [
    {"UDACONNECT_PUBLISHER": "http", "K_SINK": "http://127.0.0.1:{port}/udaconnect/default"},
    {"UDACONNECT_PUBLISHER": "kafka", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:{port}"},
])
def test_a_broker_that_cannot_take_events_is_503(monkeypatch, env: dict[str, str]) -> None:
    port = free_port()
    client = _client(monkeypatch, **{k: v.format(port=port) for k, v in env.items()})
    started = time.monotonic()
    reply = client.post("/api/events", headers=binary_headers(), content=json.dumps(data()))
    assert reply.status_code == 503 and reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["Retry-After"] and time.monotonic() - started < 15
