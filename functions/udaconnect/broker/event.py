"""A CloudEvent as the broker moves it: string attributes and opaque data bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from udaconnect.broker.errors import InvalidEvent

REQUIRED = ("specversion", "id", "source", "type")
# CloudEvents 1.0: attribute names are lower-case ASCII letters and digits.
_NAME = re.compile(r"^[a-z0-9]{1,64}$")


@dataclass
class Event:
    """Attributes (datacontenttype included) keep their wire form; data is never decoded by the broker."""

    attributes: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None

    @property
    def partition_key(self) -> bytes | None:
        key = self.attributes.get("partitionkey")
        return key.encode() if key else None

    def with_extensions(self, **extensions: str) -> Event:
        return Event({**self.attributes, **extensions}, self.data)


def validated(event: Event) -> Event:
    """`event` unchanged when it is a valid CloudEvents 1.0 event, else InvalidEvent naming the problem."""
    missing = [name for name in REQUIRED if not event.attributes.get(name)]
    if missing:
        raise InvalidEvent(f"missing required attribute(s): {', '.join(missing)}")
    if event.attributes["specversion"] != "1.0":
        raise InvalidEvent(f"unsupported specversion {event.attributes['specversion']!r}")
    bad = [name for name in event.attributes if not _NAME.match(name)]
    if bad:
        raise InvalidEvent(f"invalid attribute name(s): {', '.join(bad)}")
    return event
