"""Fixtures for ingest: a real tansu with the broker's topics, the ingest target in-process (its requests carry an
organizer's token unless they send their own), a topic reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bearer import VERIFIER_ENV, headers
from udaconnect import bootstrap
from udaconnect.events.event import Event
from udaconnect.events.kafka_client import event_of
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.broker.kafka_adapter import ensure_topics
from udaconnect_dev.broker.kafka_server import KafkaServer
from udaconnect_dev.broker.loader import load_dir
from udaconnect_dev.broker.topics import wanted_topics

MAIN = str(PROJECT_ROOT / "functions" / "main.py")
TOPIC = Settings().broker_topic


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaServer]:
    server = KafkaServer(external="").start()
    ensure_topics(server.bootstrap_servers, wanted_topics(load_dir(Settings().eventing_dir)))
    yield server
    server.stop()


@pytest.fixture
def ingest_env(kafka: KafkaServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from udaconnect.events import publisher

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("UDACONNECT_PUBLISHER", "kafka")
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "5")
    for name, value in VERIFIER_ENV.items():  # ingest verifies, never signs
        monkeypatch.setenv(name, value)
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    yield
    if publisher.for_settings.cache_info().currsize:
        publisher.for_settings(Settings.from_env()).close()
    publisher.for_settings.cache_clear()
    bootstrap.reset()


@pytest.fixture
def client(ingest_env: None):  # type: ignore[no-untyped-def]
    """The ingest target as functions-framework serves it (an ASGI app: ingest is an aio function)."""
    from functions_framework import create_app
    from starlette.testclient import TestClient

    with TestClient(create_app("ingest", MAIN), headers=headers()) as client:
        yield client


def read_topic(bootstrap: str, ids: set[str], topic: str = TOPIC) -> dict[str, tuple]:
    """id -> (key, Event, headers) of each record in `topic` whose ce_id is in `ids`. Reads from the start up
    to the end offsets seen when called: a 202 means the records are already there."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        found: dict[str, tuple] = {}
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    event: Event = event_of(record)
                    if event.attributes.get("id") in ids:
                        found[event.attributes["id"]] = (record.key, event, record.headers)
        return found
    finally:
        consumer.close()
