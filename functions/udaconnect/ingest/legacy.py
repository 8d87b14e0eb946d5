"""The original POST /api/locations body, turned into a location report CloudEvent."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from udaconnect.contracts.names import LATITUDE_MAX, LOCATION_REPORTED, LONGITUDE_MAX
from udaconnect.contracts.text import LATITUDE_TEXT, LEGACY_TIME, LONGITUDE_TEXT, PERSON_ID_TEXT, matches
from udaconnect.errors import FieldError, InvalidInput
from udaconnect.ingest.envelope import RawEvent

#: Old clients have no device identity (an organizer's token, or UDACONNECT_AUTH=open); their reports share this
#: source (ids are fresh UUIDs). A device's token gives its report the device's own source.
LEGACY_SOURCE = "/devices/legacy-api"
_RENAMED = {"recorded_at": "creation_time"}


#: The numeric strings the original sent, by field: the pattern the OpenAPI document states, the value, the rule.
_TEXTS = {"person_id": (PERSON_ID_TEXT, int, "a whole number from 1 to 2147483647"),
          "latitude": (LATITUDE_TEXT, float, f"a decimal number from -{LATITUDE_MAX} to {LATITUDE_MAX}"),
          "longitude": (LONGITUDE_TEXT, float, f"a decimal number from -{LONGITUDE_MAX} to {LONGITUDE_MAX}")}


def to_event(body: Any, now: datetime | None = None, source: str = LEGACY_SOURCE) -> RawEvent:
    """{person_id, latitude, longitude, creation_time}: numbers or numeric strings (as the original sent them),
    a time without offset taken as UTC (the original stored naive times), creation_time defaulting to now. A
    string is taken only in the form udaconnect.contracts.text states (and the OpenAPI document with it)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", [FieldError("body", f"got {type(body).__name__}")])
    now = now or datetime.now(UTC)
    errors = []
    data = {"person_id": body.get("person_id"), "latitude": body.get("latitude"), "longitude": body.get("longitude")}
    for name, (pattern, number, rule) in _TEXTS.items():
        value = data[name]
        if isinstance(value, str):
            if matches(pattern, value):
                data[name] = number(value)
            else:
                errors.append(FieldError(name, f"must be a number, or a string holding {rule}, got {value[:40]!r}"))
    created = body.get("creation_time")
    if created is not None and not isinstance(created, str):  # {} or 0 would otherwise mean "now"
        errors.append(FieldError("creation_time", "must be an ISO 8601 string"))
    elif created and not matches(LEGACY_TIME, created):
        errors.append(FieldError("creation_time", "must be an ISO 8601 date and time, e.g. 2020-08-18T10:37:06 "
                                                  "(UTC) or with an offset within ±15:59, in the years 1900 to 9998"))
    elif created:
        parsed = datetime.fromisoformat(_TIME_PREFIX.match(created)[0].replace("Z", "+00:00"))  # type: ignore[index]
        created = (parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)).isoformat()
    if errors:
        raise InvalidInput("invalid location", errors)
    recorded = created or now.isoformat()
    data["recorded_at"] = recorded[:-6] + "Z" if recorded.endswith("+00:00") else recorded
    attributes = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source,
                  "type": LOCATION_REPORTED, "datacontenttype": "application/json", "time": now.isoformat()}
    return RawEvent(attributes, {k: v for k, v in data.items() if v is not None})


#: The time itself, without the newline a pattern's `$` lets through at the end.
_TIME_PREFIX = re.compile(r"[^\n]*")


def field_name(name: str) -> str:
    """A payload field's name as the legacy body calls it."""
    name = name.removeprefix("data.")
    return _RENAMED.get(name, name)
