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

from udaconnect.events.event import Event

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
    from udaconnect.events import kafka_client
    from udaconnect.events.kafka_binding import from_binary

    replayed = kafka_client.committed_offsets(bootstrap_servers, REPLAY_GROUP, topic, timeout)
    for partition, offset, message in kafka_client.read_topic(bootstrap_servers, topic, timeout):
        yield DeadLetter(partition, offset, from_binary(message), offset < replayed.get(partition, 0))


def replay(bootstrap_servers: str, broker_topic: str, letters: list[DeadLetter], topic: str = TOPIC) -> int:
    """Write `letters` back into the broker topic, then remember them as replayed."""
    from udaconnect.events import kafka_client

    writer = kafka_client.KafkaWriter(bootstrap_servers)
    try:
        writer.write_many(broker_topic, [letter.original() for letter in letters])
    finally:
        writer.close()
    done: dict[int, int] = {}
    for letter in letters:
        done[letter.partition] = max(done.get(letter.partition, 0), letter.offset + 1)
    if done:
        kafka_client.commit(bootstrap_servers, REPLAY_GROUP, topic, done)
    return len(letters)
