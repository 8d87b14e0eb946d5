"""Schemathesis hooks for tests/test_api_fuzz.py: the input rules JSON Schema cannot state, applied to the cases
schemathesis generates as valid (positive), so that `positive_data_acceptance` checks everything else.

Every rule a schema can say is in the OpenAPI document (udaconnect.contracts.text, tests/test_wire_rules.py); these
compare one value with another or with the clock, or tie a header to a media type, which no schema can:
- a range's end_date is not before its start_date (in the venue's days: any time zone, here), and an instant is
  in the years 1900-9998 in UTC too;
- a fix is not in the future (ingest's clock, MAX_CLOCK_SKEW) nor, in UTC, before the year 1900;
- a multi-fix report's fixes are oldest first;
- binary mode (an application/json body at POST /api/events) carries the ce-* headers of its event (the
  document cannot require them for one media type only, nor type them: other modes ignore them), and its
  ce-type is the body's payload's; structured data_base64 is the event's data, base64-encoded.
A positive case that breaks a rule which cannot be mended here is left out (filter_case); negative cases are
never touched, so `negative_data_rejection` sees exactly what was generated.
Loaded through SCHEMATHESIS_HOOKS (the test sets it to this file's path).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis.generation import GenerationMode

from udaconnect.contracts.api import day_range
from udaconnect.contracts.locations import MAX_CLOCK_SKEW
from udaconnect.contracts.names import LOCATION_REPORTED, LOCATIONS_REPORTED

#: The venue's time zone is the stack's; a range valid in all of these is valid in any.
_ZONES = ("UTC", "Etc/GMT-14", "Etc/GMT+12")
_RANGES = ("/api/persons/{person_id}/connection", "/api/persons/{person_id}/locations",
           "/api/persons/{person_id}/encounters")
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
#: A fix's time must not be later than this when it arrives (the run takes minutes, not hours).
_LATEST_SLACK = MAX_CLOCK_SKEW - timedelta(seconds=30)


def _positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    return not _positive(case) or _keep(case)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    return _mend(case) if _positive(case) else case


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    """The examples phase applies no case hooks: the same rules on the schema's examples (all valid)."""
    examples[:] = [_mend(case) for case in examples if _keep(case)]


def _keep(case: Any) -> bool:
    if case.operation.path in _RANGES:
        return _ordered(case.query or {})
    if case.operation.path == "/api/locations" and isinstance(case.body, dict):
        created = case.body.get("creation_time")
        return not created or _storable(created if created[-6] in "+-" or created[-1] == "Z" else created + "Z")
    if case.operation.path == "/api/events":  # data_base64 alone: its content is the schema's only in words
        return (all(_plausible(event) for event in _events(case))
                and not any("data_base64" in event and "data" not in event for event in _structured(case)))
    return True


def _mend(case: Any) -> Any:
    if case.operation.path != "/api/events":
        return case
    if case.media_type == "application/json" and isinstance(case.body, dict):
        event_type = LOCATIONS_REPORTED if "fixes" in case.body else LOCATION_REPORTED
        headers = {**(case.headers or {}), "ce-specversion": "1.0", "ce-type": event_type}
        for name, default in (("ce-id", "fuzz"), ("ce-source", "/devices/fuzz")):
            if not str(headers.get(name, "")).strip():
                headers[name] = default
        if "ce-time" in headers and _instant(headers["ce-time"]) is None:
            del headers["ce-time"]
        case.headers = headers
    for event in _structured(case):
        if "data_base64" in event and "data" in event:
            event["data_base64"] = base64.b64encode(json.dumps(event["data"]).encode()).decode()
    return case


def _structured(case: Any) -> list[dict[str, Any]]:
    if case.media_type == "application/cloudevents+json" and isinstance(case.body, dict):
        return [case.body]
    if case.media_type == "application/cloudevents-batch+json" and isinstance(case.body, list):
        return [event for event in case.body if isinstance(event, dict)]
    return []


def _events(case: Any) -> list[dict[str, Any]]:
    """Each event's data (a binary-mode body is one)."""
    if case.media_type == "application/json":
        return [case.body] if isinstance(case.body, dict) else []
    return [event.get("data") for event in _structured(case)]


def _plausible(data: Any) -> bool:
    if not isinstance(data, dict):
        return True
    if isinstance(data.get("fixes"), list):
        times = [_instant(fix.get("recorded_at")) for fix in data["fixes"] if isinstance(fix, dict)]
        known = [t for t in times if t is not None]
        return all(_in_range(t) for t in known) and known == sorted(known)
    moment = _instant(data.get("recorded_at"))
    return moment is None or _in_range(moment)


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None


def _in_range(moment: datetime) -> bool:
    return moment.utcoffset() is None or _EARLIEST <= moment <= datetime.now(UTC) + _LATEST_SLACK


def _storable(text: str) -> bool:
    moment = _instant(text)
    return moment is None or _in_range(moment)


def _ordered(query: dict[str, Any]) -> bool:
    start, end = query.get("start_date"), query.get("end_date")
    if not isinstance(start, str) or not isinstance(end, str):
        return True
    try:
        first, last = (datetime.fromisoformat(v) if len(v) > 10 else datetime.fromisoformat(v).date()
                       for v in (start, end))
        for zone in _ZONES:
            day_range(first, last, zone)
        instants = [moment for moment in (first, last) if isinstance(moment, datetime)]
        return all(_EARLIEST <= moment < datetime(9999, 1, 1, tzinfo=UTC) for moment in instants)
    except (ValueError, OverflowError):
        return False
