"""Judge raw CloudEvents as ingest takes them: the envelope (with each bad field named), then the location payload
(udaconnect.contracts.locations); valid ones become events to publish."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from udaconnect.contracts.locations import Fix, Fixes, InvalidPayload, check_fixes, check_payload
from udaconnect.contracts.names import ARRIVED, LOCATION_REPORTED, LOCATIONS_REPORTED, MAX_ATTRIBUTES, MAX_FIXES
from udaconnect.errors import FieldError
from udaconnect.events.event import REQUIRED, SPECVERSION, Event, valid_name
from udaconnect.ingest.envelope import RawEvent, media_type

__all__ = ["Report", "check"]
#: The event types ingest takes: one fix, or a device's buffered fixes.
TYPES = (LOCATION_REPORTED, LOCATIONS_REPORTED)
#: CloudEvents `time`: an RFC 3339 timestamp.
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z")
_JSON_TYPES = ("application/json", "text/json")


@dataclass(frozen=True)
class Report:
    """A valid location report, ready to publish (data re-serialized from the validated payload)."""

    event: Event
    payload: Fix | Fixes

    @property
    def id(self) -> str:
        return self.event.attributes["id"]

    @property
    def fixes(self) -> tuple[Fix, ...]:
        return self.payload.fixes if isinstance(self.payload, Fixes) else (self.payload,)


def check(raw: RawEvent, now: datetime | None = None, max_fixes: int = MAX_FIXES) -> Report | list[FieldError]:
    """The report, or the errors naming each bad field (a multi-fix report's fix by its index: data.fixes[3].x).
    With `now` (ingest's moment of arrival), the report carries it as `arrivedat`, whatever the client said."""
    errors = _envelope(raw.attributes)
    payload: Fix | Fixes | None = None
    if raw.data_error:
        errors.append(FieldError("data", raw.data_error))
    elif not raw.has_data:
        errors.append(FieldError("data", "missing: a location report carries its fix as data"))
    else:
        try:
            if raw.attributes.get("type") == LOCATIONS_REPORTED:
                payload = check_fixes(raw.data, now, max_fixes)
            else:
                payload = check_payload(raw.data, now)
        except InvalidPayload as invalid:
            errors.extend(invalid.errors)
    if errors or payload is None:
        return errors
    attributes = {name: _text(value) for name, value in raw.attributes.items()}
    attributes["datacontenttype"] = "application/json"
    attributes.pop(ARRIVED, None)  # only ingest says when a report arrived
    attributes.pop("reportedby", None), attributes.pop("deliveryproof", None)  # nor who: udaconnect.events.proof
    if now is not None:
        attributes[ARRIVED] = now.astimezone(UTC).isoformat()
    # One person's fixes share a partition and so stay in order (the Kafka record key).
    attributes["partitionkey"] = str(payload.person_id)
    return Report(Event(attributes, payload.json()), payload)


def _envelope(attributes: dict[str, Any]) -> list[FieldError]:
    if len(attributes) > MAX_ATTRIBUTES:  # before any per-attribute work
        return [FieldError("attributes", f"at most {MAX_ATTRIBUTES} attributes, got {len(attributes)}")]
    errors = []
    for name in REQUIRED:
        value = attributes.get(name)
        if value is None or value == "":
            errors.append(FieldError(name, "missing required attribute"))
        elif not isinstance(value, str):
            errors.append(FieldError(name, f"must be a string, got {type(value).__name__}"))
    if isinstance(attributes.get("specversion"), str) and attributes["specversion"] != SPECVERSION:
        errors.append(FieldError("specversion", f"unsupported {attributes['specversion']!r}; use 1.0"))
    if isinstance(attributes.get("type"), str) and attributes["type"] not in ("", *TYPES):
        errors.append(FieldError("type", f"{attributes['type']!r} is not accepted here; use {LOCATION_REPORTED} "
                                         f"(one fix) or {LOCATIONS_REPORTED} (a device's buffered fixes)"))
    content_type = attributes.get("datacontenttype", "application/json")
    if not isinstance(content_type, str) or media_type(content_type) not in _JSON_TYPES:
        errors.append(FieldError("datacontenttype", f"{content_type!r}: the data must be application/json"))
    if "time" in attributes and not _rfc3339(attributes["time"]):
        errors.append(FieldError("time", "must be an RFC 3339 timestamp, e.g. 2020-08-18T10:37:06Z"))
    for name, value in attributes.items():
        if not valid_name(name):
            errors.append(FieldError(name[:64], "attribute names are 1-64 lower-case letters and digits"))
        elif name not in REQUIRED and not isinstance(value, (str, int, bool)) and not _integral(value):
            errors.append(FieldError(name, f"must be a string, integer or boolean, got {type(value).__name__}"))
        elif isinstance(value, str) and not _unicode(value):
            errors.append(FieldError(name, "must be valid Unicode (it holds a lone surrogate)"))
    return errors


def _integral(value: Any) -> bool:
    """JSON's 2.0 is an integer as JSON Schema (and the OpenAPI document) counts."""
    return isinstance(value, float) and value.is_integer()


def _unicode(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (Kafka headers, PostgreSQL text): JSON's \\ud800 cannot."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _rfc3339(value: Any) -> bool:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        return False
    text = value.upper().replace("Z", "+00:00")
    if match["fraction"]:  # Python takes at most 6 digits of a second
        text = text.replace(match["fraction"], match["fraction"][:7], 1)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(int(value)) if _integral(value) else str(value)
