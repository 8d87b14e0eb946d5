"""Topics the eventing/ objects call for are created at start, and the Kafka server helper."""

from __future__ import annotations

import socket

from kafka import KafkaConsumer
from tests.broker.conftest import broker_yaml
from tests.broker.test_loader import EVENTING

from udaconnect_dev.broker.kafka_adapter import ensure_topics
from udaconnect_dev.broker.kafka_server import KafkaServer
from udaconnect_dev.broker.loader import load_dir
from udaconnect_dev.broker.topics import wanted_topics


def _partitions(bootstrap: str, topic: str) -> set[int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return set(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def test_broker_and_dead_letter_topics_are_created_with_their_partitions(plane, namespace, kafka):
    plane(broker_yaml(namespace))
    assert _partitions(kafka.bootstrap_servers, f"knative-broker-{namespace}-default") == {0, 1, 2}
    assert _partitions(kafka.bootstrap_servers, f"{namespace}-dead") == {0}


def test_the_real_eventing_topics():
    topics = wanted_topics(load_dir(EVENTING))
    assert topics == {"knative-broker-udaconnect-default": (10, 1), "udaconnect-dead-letters": (3, 1)}


def test_ensure_topics_is_idempotent(kafka, namespace):
    wanted = {f"{namespace}-x": (2, 3)}  # factor 3 is capped to the single local broker
    ensure_topics(kafka.bootstrap_servers, wanted)
    ensure_topics(kafka.bootstrap_servers, wanted)
    assert _partitions(kafka.bootstrap_servers, f"{namespace}-x") == {0, 1}


def test_external_kafka_is_used_as_is(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    server = KafkaServer().start()
    assert server.bootstrap_servers == "kafka.example:9092" and server.process is None
    server.stop()


def test_tansu_starts_answers_and_stops():
    with KafkaServer(external="") as server:
        host, port = server.bootstrap_servers.split(":")
        socket.create_connection((host, int(port)), timeout=1).close()
        assert server.process is not None and server.process.poll() is None
    assert server.process is None
