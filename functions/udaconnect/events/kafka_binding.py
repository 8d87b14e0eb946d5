"""The CloudEvents Kafka protocol binding, binary content mode (what the Knative Kafka broker stores), on the SDK.

The neutral value at the seam to kafka-python is the SDK's KafkaMessage (udaconnect.events.kafka_client maps it
to and from kafka-python's records). Shims, for what cloudevents.kafka lacks: to_binary keeps the partitionkey
extension as a ce_partitionkey header too (the SDK moves it to the key alone; the record key is the same), takes
an event without datacontenttype (the SDK raises KeyError), and
from_binary reads a header that is not UTF-8 or is null (kafka-python gives None) instead of failing on it.
"""

from __future__ import annotations

from typing import Any

from cloudevents import exceptions as sdk_errors
from cloudevents import kafka

from udaconnect.events.errors import InvalidEvent
from udaconnect.events.event import Event

KafkaMessage = kafka.KafkaMessage
__all__ = ["KafkaMessage", "from_binary", "to_binary"]


def _identity(data: Any) -> Any:
    return data


def _key(event: Any) -> bytes | None:
    key = event.get("partitionkey")
    return key.encode() if key else None


def to_binary(event: Event) -> KafkaMessage:
    """The record of `event`: content-type and ce_* headers, the partitionkey as the key, data as the value."""
    if "datacontenttype" not in event.attributes:  # the SDK reads it unguarded (KeyError): none means no header
        event = Event({**event.attributes, "datacontenttype": ""}, event.data)
    try:
        message = kafka.to_binary(event, data_marshaller=_identity, key_mapper=_key)
    except sdk_errors.GenericException as error:
        raise InvalidEvent(str(error)) from error
    if message.key is not None:
        message.headers["ce_partitionkey"] = event.attributes["partitionkey"].encode()
    return message


def from_binary(message: KafkaMessage) -> Event:
    """The event in a binary-mode record (not validated: the caller decides what an invalid one means)."""
    try:
        try:
            return kafka.from_binary(message, Event, data_unmarshaller=_identity)
        except (UnicodeDecodeError, AttributeError):  # a header that is not UTF-8, or null: read what it says
            headers = {name: (raw or b"").decode("utf-8", "replace").encode() for name, raw in message.headers.items()}
            return kafka.from_binary(message._replace(headers=headers), Event, data_unmarshaller=_identity)
    except sdk_errors.GenericException as error:
        raise InvalidEvent(str(error)) from error
