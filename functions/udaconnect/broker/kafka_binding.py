"""CloudEvents Kafka protocol binding, binary content mode (what the Knative Kafka broker stores)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from udaconnect.broker.event import Event


@dataclass(frozen=True)
class KafkaRecord:
    """The neutral shape between the broker and kafka-python (headers as (str, bytes) pairs)."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def to_binary(event: Event) -> KafkaRecord:
    headers = [
        ("content-type" if name == "datacontenttype" else f"ce_{name}", value.encode())
        for name, value in event.attributes.items()
    ]
    return KafkaRecord(key=event.partition_key, value=event.data, headers=headers)


def from_binary(headers: Iterable[tuple[str, bytes | None]], value: bytes | None) -> Event:
    attributes: dict[str, str] = {}
    for name, raw in headers:
        text = (raw or b"").decode("utf-8", "replace")
        lower = name.lower()
        if lower == "content-type":
            attributes["datacontenttype"] = text
        elif lower.startswith("ce_"):
            attributes[lower[3:]] = text
    return Event(attributes, value)
