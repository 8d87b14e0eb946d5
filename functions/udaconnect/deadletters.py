"""Operators' view of the dead-letter topic: list what failed and why, and replay events once the cause is fixed.

Replaying writes the event, without its knativeerror* extensions, back into the broker topic: every Trigger
that matches sees it again (persist is idempotent, so replaying twice stores once).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from udaconnect.broker.event import Event

TOPIC = "udaconnect-dead-letters"
ERROR_EXTENSIONS = ("knativeerrordest", "knativeerrorcode", "knativeerrordata")


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    event: Event

    @property
    def reason(self) -> str:
        attributes = self.event.attributes
        data = attributes.get("knativeerrordata", "")
        try:
            text = base64.b64decode(data).decode("utf-8", "replace")
            text = json.loads(text).get("detail", text)
        except (ValueError, AttributeError):
            text = data
        code = attributes.get("knativeerrorcode", "no answer")
        return f"{code} from {attributes.get('knativeerrordest', '?')}: {text}"

    def original(self) -> Event:
        return Event({k: v for k, v in self.event.attributes.items() if k not in ERROR_EXTENSIONS}, self.event.data)


def read(bootstrap_servers: str, topic: str = TOPIC) -> Iterator[DeadLetter]:
    """Every dead letter from the start of the topic up to now."""
    from kafka import KafkaConsumer, TopicPartition

    from udaconnect.broker.kafka_binding import from_binary

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    yield DeadLetter(tp.partition, record.offset, from_binary(record.headers, record.value))
    finally:
        consumer.close()


def replay(bootstrap_servers: str, broker_topic: str, letters: list[DeadLetter]) -> int:
    from udaconnect.broker.writer import KafkaWriter

    writer = KafkaWriter(bootstrap_servers)
    try:
        for letter in letters:
            writer.write(broker_topic, letter.original())
    finally:
        writer.close()
    return len(letters)


def stack_file(data_dir: Path) -> Path:
    """Where a running local stack writes its addresses (Kafka, broker, API) for the CLI."""
    return data_dir / "stack.json"
