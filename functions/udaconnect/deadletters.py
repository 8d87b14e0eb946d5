"""Operators' view of the dead-letter topic: list what failed and why, and replay events once the cause is fixed.

Replaying writes the event, without its knativeerror* extensions, back into the broker topic: every Trigger
that matches sees it again (persist is idempotent, so replaying twice stores once). What was replayed is
remembered as the offsets of the consumer group `udaconnect-replay` on the dead-letter topic, so a plain
`replay` after an outage feeds back exactly the events that are new since the last one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from udaconnect.broker.event import Event

TOPIC = "udaconnect-dead-letters"
REPLAY_GROUP = "udaconnect-replay"
ERROR_EXTENSIONS = ("knativeerrordest", "knativeerrorcode", "knativeerrordata")


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    event: Event
    replayed: bool = False

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


def read(bootstrap_servers: str, topic: str = TOPIC, timeout: float = 5.0) -> Iterator[DeadLetter]:
    """Every dead letter from the start of the topic up to now, each marked whether it was replayed already."""
    from kafka import KafkaConsumer, TopicPartition

    from udaconnect.broker.kafka_binding import from_binary

    options = {"bootstrap_servers": bootstrap_servers, "enable_auto_commit": False, "fetch_max_wait_ms": 50}
    if "bootstrap_timeout_ms" in KafkaConsumer.DEFAULT_CONFIG:  # a stopped Kafka fails in seconds, not 30
        options["bootstrap_timeout_ms"] = int(timeout * 1000)
    consumer = KafkaConsumer(group_id=REPLAY_GROUP, **options)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        replayed = {tp: consumer.committed(tp) or 0 for tp in partitions}
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        empty = 0
        # Read until the fetches come back empty: the end offsets tansu reports can stop short (see broker.lag).
        while partitions and empty < 5:
            batches = consumer.poll(timeout_ms=100)
            empty = 0 if batches else empty + 1
            for tp, records in batches.items():
                for record in records:
                    yield DeadLetter(tp.partition, record.offset, from_binary(record.headers, record.value),
                                     record.offset < replayed[tp])
    finally:
        consumer.close(autocommit=False)


def replay(bootstrap_servers: str, broker_topic: str, letters: list[DeadLetter], topic: str = TOPIC) -> int:
    """Write `letters` back into the broker topic, then remember them as replayed."""
    from kafka import KafkaConsumer, TopicPartition

    from udaconnect.broker.kafka_group import offsets
    from udaconnect.broker.writer import KafkaWriter

    writer = KafkaWriter(bootstrap_servers)
    try:
        writer.write_many(broker_topic, [letter.original() for letter in letters])
    finally:
        writer.close()
    done: dict[TopicPartition, int] = {}
    for letter in letters:
        tp = TopicPartition(topic, letter.partition)
        done[tp] = max(done.get(tp, 0), letter.offset + 1)
    if done:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=REPLAY_GROUP, enable_auto_commit=False)
        try:
            ahead = {tp: o for tp, o in done.items() if o > (consumer.committed(tp) or 0)}
            if ahead:
                consumer.commit(offsets(ahead))
        finally:
            consumer.close(autocommit=False)
    return len(letters)


def stack_file(data_dir: Path) -> Path:
    """Where a running local stack writes its addresses (Kafka, broker, API) for the CLI."""
    return data_dir / "stack.json"


def live_stack(data_dir: Path) -> dict[str, Any]:
    """The addresses a running stack wrote, or {}: no file, or one left by a stack whose process is gone."""
    import os

    try:
        found = json.loads(stack_file(data_dir).read_text())
        pid = int(found["pid"])
        if pid <= 0:
            return {}
        os.kill(pid, 0)  # signal 0: only whether the process exists
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    return dict(found)
