"""A publish that returns means Kafka holds the events: never on an answer that says "duplicate" for a record the
broker did not store.

The broker state is tansu's after a produce it counted but did not write (its source: the producer's sequence is
advanced before the batch is stored; a produce failing in between is retried and answered DUPLICATE_SEQUENCE_NUMBER,
which kafka-python takes as success, offset -1). A real tansu is brought to that state by sending the next record
with the sequence it counted already, which is what the retry of such a batch carries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from udaconnect.errors import InfrastructureError
from udaconnect.events import kafka_client
from udaconnect.events.errors import WriteError
from udaconnect.events.event import Event
from udaconnect.events.kafka_publisher import KafkaPublisher
from udaconnect_dev.broker.kafka_adapter import ensure_topics
from udaconnect_dev.broker.kafka_server import KafkaServer


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaServer]:
    server = KafkaServer(external="").start()
    yield server
    server.stop()


@pytest.fixture
def topic(kafka: KafkaServer) -> str:
    name = f"placed-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap_servers, {name: (1, 1)})
    return name


def _event(n: int) -> Event:
    return Event({"specversion": "1.0", "id": f"{uuid.uuid4()}", "source": "/devices/test", "type": "io.test.v1",
                  "partitionkey": "1", "datacontenttype": "application/json"}, b'{"n": %d}' % n)


def _counted_not_stored(producer: Any, topic: str) -> None:
    """The broker has counted the producer's last sequence on partition 0 for a batch it never stored: the next
    record goes out with that sequence, as the retry of that batch would."""
    from kafka import TopicPartition

    manager = producer._transaction_manager
    partition = TopicPartition(topic, 0)
    manager.set_sequence_number(partition, manager.sequence_number(partition) - 1)


def _ids(kafka: KafkaServer, topic: str) -> set[str]:
    return {kafka_client.from_binary(message).attributes["id"]
            for _, _, message in kafka_client.read_topic(kafka.bootstrap_servers, topic)}


@pytest.mark.parametrize("mode", ["publish", "publish_async"])
def test_a_publish_returns_only_once_kafka_holds_the_event(kafka: KafkaServer, topic: str, mode: str) -> None:
    publisher = KafkaPublisher(kafka.bootstrap_servers, topic, timeout=5)
    try:
        publisher.publish([_event(n) for n in range(3)])
        _counted_not_stored(publisher._producer, topic)
        event = _event(3)
        try:
            if mode == "publish":
                publisher.publish([event])
            else:
                asyncio.run(publisher.publish_async([event]))
        except InfrastructureError:
            published = False  # a 503: the device sends it again
        else:
            published = True
        stored = event.attributes["id"] in _ids(kafka, topic)
        assert stored or not published, "publish returned (ingest answers 202) for an event Kafka does not hold"
        assert published, "one duplicate answer is published again, not refused"
    finally:
        publisher.close()


def test_the_brokers_writer_returns_only_once_kafka_holds_the_event(kafka: KafkaServer, topic: str) -> None:
    writer = kafka_client.KafkaWriter(kafka.bootstrap_servers, timeout=5)
    try:
        writer.write_many(topic, [_event(n) for n in range(3)])
        _counted_not_stored(writer._producer, topic)
        event = _event(3)
        try:
            writer.write(topic, event)
        except WriteError:
            return  # refused: the caller knows it is not stored
        assert event.attributes["id"] in _ids(kafka, topic), "write returned for an event Kafka does not hold"
    finally:
        writer.close()
