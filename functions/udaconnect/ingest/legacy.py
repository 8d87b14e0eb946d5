"""The original POST /api/locations body, turned into a location report CloudEvent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from udaconnect.contracts.names import LOCATION_REPORTED
from udaconnect.errors import FieldError, InvalidInput
from udaconnect.ingest.envelope import RawEvent

#: Old clients have no device identity (an organizer's token, or UDACONNECT_AUTH=open); their reports share this
#: source (ids are fresh UUIDs). A device's token gives its report the device's own source.
LEGACY_SOURCE = "/devices/legacy-api"
_RENAMED = {"recorded_at": "creation_time"}


def to_event(body: Any, now: datetime | None = None, source: str = LEGACY_SOURCE) -> RawEvent:
    """{person_id, latitude, longitude, creation_time}: numbers or numeric strings (as the original sent them),
    a time without offset taken as UTC (the original stored naive times), creation_time defaulting to now."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", [FieldError("body", f"got {type(body).__name__}")])
    now = now or datetime.now(UTC)
    created = body.get("creation_time")
    if created is not None and not isinstance(created, str):  # {} or 0 would otherwise mean "now"
        raise InvalidInput("invalid location", [FieldError("creation_time", "must be an ISO 8601 string")])
    if isinstance(created, str) and created:
        try:
            parsed = datetime.fromisoformat(created.replace("Z", "+00:00"))
            created = (parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)).isoformat()
        except ValueError:
            pass  # left as it is: the payload check names the field
    data = {"person_id": body.get("person_id"), "latitude": body.get("latitude"),
            "longitude": body.get("longitude"), "recorded_at": created or now.isoformat()}
    attributes = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source,
                  "type": LOCATION_REPORTED, "datacontenttype": "application/json", "time": now.isoformat()}
    return RawEvent(attributes, {k: v for k, v in data.items() if v is not None})


def field_name(name: str) -> str:
    """A payload field's name as the legacy body calls it."""
    name = name.removeprefix("data.")
    return _RENAMED.get(name, name)
