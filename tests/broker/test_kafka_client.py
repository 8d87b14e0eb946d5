"""udaconnect.events.kafka_client's KafkaWriter (here, beside the broker tests' Kafka): batches keep their per-key
order, a closed writer or unreachable Kafka raises WriteError."""

from __future__ import annotations

import pytest
from tests.broker.conftest import event_of, read_topic

from udaconnect.events.event import Event
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.errors import WriteError
from udaconnect_dev.broker.kafka_adapter import ensure_topics


def _event(n: int, key: str) -> Event:
    attributes = {"specversion": "1.0", "id": str(n), "source": "/s", "type": "t", "partitionkey": key}
    return Event(attributes, str(n).encode())


def test_write_many_stores_every_event_in_order_per_key(kafka, namespace):
    topic = f"{namespace}-w"
    ensure_topics(kafka.bootstrap_servers, {topic: (3, 1)})
    writer = KafkaWriter(kafka.bootstrap_servers)
    try:
        writer.write_many(topic, [_event(n, str(n % 2)) for n in range(20)])
    finally:
        writer.close()
    records = read_topic(kafka.bootstrap_servers, topic, 20)
    by_key: dict[bytes, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(record.key, []).append(int(event_of(record).attributes["id"]))
    assert by_key == {b"0": list(range(0, 20, 2)), b"1": list(range(1, 20, 2))}
    with pytest.raises(WriteError, match="closed"):
        writer.write(topic, _event(99, "0"))


def test_unreachable_kafka_is_a_write_error():
    writer = KafkaWriter("127.0.0.1:1", timeout=1.0)
    with pytest.raises(WriteError):
        writer.write("any", _event(1, "k"))
    writer.close()
