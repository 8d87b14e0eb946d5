"""A location report's payload check (one fix, or a device's buffered fixes), shared by ingest and persist: the
shape every device sends is checked here; anything else, by the contract.

The contracts are udaconnect.contracts.events.LocationReported (one fix) and LocationsReported (a device's
buffered fixes; pydantic; their JSON Schemas are published). Loading
pydantic costs ingest and persist ~50 ms of every cold start, so the usual payload (a JSON object of exactly
these fields, integers and finite numbers in range, an RFC 3339 time with offset) is accepted here without it.
Any other input (a value out of range, a missing field, a time in another form) goes to the contract, so what is
accepted and every error message are the contract's own; like the OpenAPI document, it takes JSON numbers as
numbers and RFC 3339 text as times, never a numeric string or a Unix time. tests/ingest/test_payload.py checks, on
generated payloads, that whatever this accepts the contract accepts with the same values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from udaconnect.contracts.names import (
    ACCURACY_MAX,
    ACCURACY_MIN,
    FIRST_YEAR,
    FIX_FIELDS,
    LAST_YEAR,
    LATITUDE_MAX,
    LOCATION_FIELDS,
    LONGITUDE_MAX,
    MAX_FIXES,
    MAX_OFFSET_MINUTES,
    PERSON_ID_MAX,
)
from udaconnect.errors import FieldError

__all__ = ["MAX_CLOCK_SKEW", "Fix", "Fixes", "InvalidPayload", "check_fixes", "check_payload", "parse", "parse_fixes"]
#: A phone's clock may run a little fast; a fix further in the future than this is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)
_REQUIRED = frozenset(LOCATION_FIELDS) - {"accuracy"}
_ALL = frozenset(LOCATION_FIELDS)
_FIX_REQUIRED = frozenset(FIX_FIELDS) - {"accuracy"}
_FIX_ALL = frozenset(FIX_FIELDS)
_REPORT_KEYS = frozenset({"person_id", "fixes"})
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})\Z")
_NO = object()  # "not the usual shape": the contract decides
_MAX_OFFSET = timedelta(minutes=MAX_OFFSET_MINUTES)


class InvalidPayload(Exception):
    """A payload that can never be stored, with the reason per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Fix:
    """A valid location report's payload."""

    person_id: int
    latitude: float
    longitude: float
    recorded_at: datetime
    accuracy: float | None
    recorded_text: str  # RFC 3339, as the device wrote it when it wrote it so

    def json(self) -> bytes:
        return json.dumps({"person_id": self.person_id, "latitude": self.latitude, "longitude": self.longitude,
                           "recorded_at": self.recorded_text, "accuracy": self.accuracy},
                          separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Fixes:
    """A valid multi-fix report's payload: one person's fixes, oldest first; a fix's index is its position."""

    person_id: int
    fixes: tuple[Fix, ...]

    def json(self) -> bytes:
        return json.dumps({"person_id": self.person_id, "fixes": [
            {"latitude": f.latitude, "longitude": f.longitude, "recorded_at": f.recorded_text, "accuracy": f.accuracy}
            for f in self.fixes]}, separators=(",", ":")).encode()


def parse(data: Any) -> Fix:
    """The payload as a Fix, or InvalidPayload naming each bad field (in the contract's words)."""
    fix = usual(data)
    return fix if isinstance(fix, Fix) else _by_contract(data)


def usual(data: Any) -> Fix | object:
    """The Fix when `data` has the usual shape, else _NO (which does not mean invalid)."""
    if type(data) is not dict or not _REQUIRED <= data.keys() <= _ALL:
        return _NO
    person_id = data["person_id"]
    if type(person_id) is not int or not 1 <= person_id <= PERSON_ID_MAX:
        return _NO
    return _usual_fix(person_id, data)


def _usual_fix(person_id: int, data: dict) -> Fix | object:
    when = data["recorded_at"]
    latitude, longitude = _number(data["latitude"], LATITUDE_MAX), _number(data["longitude"], LONGITUDE_MAX)
    accuracy = data.get("accuracy")
    if accuracy is not None:
        accuracy = _number(accuracy, ACCURACY_MAX, 0)
        if accuracy is not _NO and 0 < accuracy < ACCURACY_MIN:  # type: ignore[operator]
            return _NO
    if latitude is _NO or longitude is _NO or accuracy is _NO or type(when) is not str or not _RFC3339.match(when):
        return _NO
    try:
        recorded_at = datetime.fromisoformat(when)
    except ValueError:  # e.g. February 30th: the contract says how
        return _NO
    if not _storable(recorded_at):
        return _NO
    return Fix(person_id, latitude, longitude, recorded_at, accuracy, when)  # type: ignore[arg-type]


def usual_fixes(data: Any) -> Fixes | object:
    """The Fixes when `data` is a multi-fix report of the usual shape (fixes in time order), else _NO."""
    if type(data) is not dict or data.keys() != _REPORT_KEYS:
        return _NO
    person_id, items = data["person_id"], data["fixes"]
    if (type(person_id) is not int or not 1 <= person_id <= PERSON_ID_MAX or type(items) is not list
            or not 1 <= len(items) <= MAX_FIXES):
        return _NO
    fixes: list[Fix] = []
    for item in items:
        if type(item) is not dict or not _FIX_REQUIRED <= item.keys() <= _FIX_ALL:
            return _NO
        fix = _usual_fix(person_id, item)
        if not isinstance(fix, Fix) or (fixes and fix.recorded_at < fixes[-1].recorded_at):
            return _NO
        fixes.append(fix)
    return Fixes(person_id, tuple(fixes))


def parse_fixes(data: Any) -> Fixes:
    """A multi-fix report's payload as Fixes, or InvalidPayload naming each bad field by the fix's index
    (data.fixes[3].latitude), in the contract's words."""
    fixes = usual_fixes(data)
    return fixes if isinstance(fixes, Fixes) else _fixes_by_contract(data)


def check_payload(data: Any, now: datetime | None = None) -> Fix:
    """The validated payload, or InvalidPayload naming each bad field."""
    if not isinstance(data, dict):
        raise InvalidPayload([FieldError("data", f"must be a JSON object, got {type(data).__name__}")])
    payload = parse(data)
    now = now or datetime.now(UTC)
    if payload.recorded_at > now + MAX_CLOCK_SKEW:
        raise InvalidPayload([FieldError("data.recorded_at", f"is in the future ({payload.recorded_at.isoformat()})")])
    return payload


def check_fixes(data: Any, now: datetime | None = None, max_fixes: int = MAX_FIXES) -> Fixes:
    """The validated multi-fix payload, or InvalidPayload naming each bad fix by its index."""
    if not isinstance(data, dict):
        raise InvalidPayload([FieldError("data", f"must be a JSON object, got {type(data).__name__}")])
    if isinstance(data.get("fixes"), list) and len(data["fixes"]) > max_fixes:
        raise InvalidPayload([FieldError("data.fixes", f"at most {max_fixes} fixes, got {len(data['fixes'])}: "
                                                       f"upload more often")])
    payload = parse_fixes(data)
    late = (now or datetime.now(UTC)) + MAX_CLOCK_SKEW
    if payload.fixes[-1].recorded_at > late:  # oldest first: the last is the latest
        first = next(i for i, fix in enumerate(payload.fixes) if fix.recorded_at > late)
        raise InvalidPayload([FieldError(f"data.fixes[{first}].recorded_at",
                                         f"is in the future ({payload.fixes[first].recorded_at.isoformat()})")])
    return payload


def _storable(moment: datetime) -> bool:
    """As the contract's time check: an offset PostgreSQL takes, local and UTC years it and every reader hold."""
    offset = moment.utcoffset()
    return (offset is not None and abs(offset) <= _MAX_OFFSET and FIRST_YEAR <= moment.year <= LAST_YEAR
            and FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR)


def _number(value: Any, bound: float, low: float | None = None) -> float | object:
    if type(value) not in (int, float) or not (-bound if low is None else low) <= value <= bound:
        return _NO  # NaN and the infinities fail the comparison too
    return float(value)


def _by_contract(data: Any) -> Fix:
    from pydantic import ValidationError

    from udaconnect.contracts.events import LocationReported
    from udaconnect.errors import field_errors

    try:
        payload = LocationReported.model_validate(data)
    except ValidationError as error:
        raise InvalidPayload(field_errors(error, "data.")) from None
    return Fix(payload.person_id, payload.latitude, payload.longitude, payload.recorded_at, payload.accuracy,
               _text(payload.recorded_at))


def _fixes_by_contract(data: Any) -> Fixes:
    from pydantic import ValidationError

    from udaconnect.contracts.events import LocationsReported

    try:
        payload = LocationsReported.model_validate(data)
    except ValidationError as error:
        raise InvalidPayload(_indexed_errors(error)) from None
    return Fixes(payload.person_id, tuple(Fix(payload.person_id, f.latitude, f.longitude, f.recorded_at, f.accuracy,
                                              _text(f.recorded_at)) for f in payload.fixes))


def _indexed_errors(error: Any) -> list[FieldError]:
    """The contract's errors, a fix named by its index: data.fixes[3].latitude."""
    out = []
    for item in error.errors(include_url=False):
        if item["type"] == "time_order":
            context = item["ctx"]
            out.append(FieldError(f"data.fixes[{context['index']}].recorded_at",
                                  f"earlier than fix {context['before']}: send fixes oldest first"))
            continue
        name = "data"
        for part in item["loc"]:
            name += f"[{part}]" if isinstance(part, int) else f".{part}"
        out.append(FieldError(name, str(item["msg"]).removeprefix("Value error, ")))
    return out


def _text(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
