"""A CloudEvent as UdaConnect moves it (string attributes, opaque data bytes) and the CloudEvents 1.0 attribute rules.

Event implements the SDK's abstract CloudEvent, so the SDK's conversions (cloudevents.conversion, cloudevents.kafka)
build and read it directly (their `event_type`); unlike the SDK's http.CloudEvent it adds no `time` or `id` of its
own and never decodes data: what a broker passes on is what it was given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudevents.abstract import CloudEvent

from udaconnect.events.errors import InvalidEvent

SPECVERSION = "1.0"
REQUIRED = ("specversion", "id", "source", "type")
# CloudEvents 1.0: attribute names are lower-case ASCII letters and digits.
_NAME = re.compile(r"^[a-z0-9]{1,64}$")


@dataclass(eq=False, repr=False)
class Event(CloudEvent):
    """Attributes (datacontenttype included) keep their wire form; data is never decoded."""

    attributes: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None

    @classmethod
    def create(cls, attributes: Mapping[str, Any], data: Any) -> Event:
        """The SDK's constructor: a bytes value (cloudevents.kafka's partitionkey from the record key) as text."""
        return cls({k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in attributes.items()},
                   data.encode() if isinstance(data, str) else data)

    def _get_attributes(self) -> dict[str, Any]:
        return self.attributes

    def get_data(self) -> bytes | None:
        return self.data

    def __bool__(self) -> bool:  # CloudEvent defines __len__: an event without attributes is still an event
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.attributes == other.attributes and self.data == other.data

    def __repr__(self) -> str:
        return f"Event({self.attributes!r}, {self.data!r})"

    @property
    def partition_key(self) -> bytes | None:
        key = self.attributes.get("partitionkey")
        return key.encode() if key else None

    def with_extensions(self, **extensions: str) -> Event:
        return Event({**self.attributes, **extensions}, self.data)


def valid_name(name: str) -> bool:
    """Whether `name` may name a CloudEvents 1.0 attribute."""
    return _NAME.match(name) is not None


def validated(event: Event) -> Event:
    """`event` unchanged when it is a valid CloudEvents 1.0 event, else InvalidEvent naming the problem."""
    attributes = event.attributes
    missing = [name for name in REQUIRED if not attributes.get(name)]
    if missing:
        raise InvalidEvent(f"missing required attribute(s): {', '.join(missing)}")
    if attributes["specversion"] != SPECVERSION:
        raise InvalidEvent(f"unsupported specversion {attributes['specversion']!r}")
    bad = [name for name in attributes if not _NAME.match(name)]
    if bad:
        raise InvalidEvent(f"invalid attribute name(s): {', '.join(bad)}")
    return event
