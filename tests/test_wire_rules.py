"""The OpenAPI document and the code agree on every input rule: hand-written values each side of each rule, judged by
the document's schema (jsonschema) and by the code that takes them (issue 23). Where a rule cannot be a schema's
(a comparison with the clock, the UTC year of an instant with an offset, data_base64's content), the value is
listed as stated only in words, and the test checks that it is exactly those."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ValidationError

from udaconnect.contracts import text
from udaconnect.contracts.api import NewDevice, NewPerson, PersonQuery, TrackQuery
from udaconnect.contracts.locations import InvalidPayload, parse, parse_fixes
from udaconnect.contracts.names import FIRST_YEAR, LAST_YEAR, LOCATION_REPORTED, LOCATIONS_REPORTED
from udaconnect.errors import InvalidInput
from udaconnect.ingest import envelope, legacy, validation
from udaconnect.openapi import document

DOC = document()
EVENTS = DOC["paths"]["/api/events"]["post"]["requestBody"]["content"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FORMATS = FormatChecker(["date"])


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    """RFC 3339's date-time (jsonschema checks it only with an optional package)."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value):
        return False
    datetime.fromisoformat(re.sub(r"\.\d+", "", value.upper().replace("Z", "+00:00")))
    return True


def valid(schema: dict[str, Any], value: object) -> bool:
    return Draft202012Validator({**schema, "components": DOC["components"]}, format_checker=FORMATS).is_valid(value)


def component(name: str, field: str) -> dict[str, Any]:
    return DOC["components"]["schemas"][name]["properties"][field]


def parameter(path: str, name: str) -> dict[str, Any]:
    (found,) = [p["schema"] for p in DOC["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found


def accepts(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def test_the_year_pattern_holds_exactly_the_years_of_the_contracts() -> None:
    assert [y for y in range(1000, 10000) if re.fullmatch(text.YEAR, str(y))] == list(range(FIRST_YEAR,
                                                                                              LAST_YEAR + 1))


# --- Text: trimmed as pydantic trims, no control characters, a length once trimmed ---------------------------------

NAMES = [("Taco", True), (" Taco\t\n", True), ("\u3000Taco\x85", True), ("A" * 200, True), (" " * 9 + "A" * 200, True),
         ("Ta co", True), ("\ufeff", True), ("", False), ("   ", False), ("\t\u2028", False), ("A" * 201, False),
         ("Ta\x00co", False), ("Ta\tco", False), ("Taco\x7f", False), ("\x1cTaco", False), ("Taco\n\x00", False)]
DEVICE_NAMES = [("", True), ("\t", True), (" phone ", True), ("A" * 100, True), ("A" * 101, False),
                ("ph\x1bone", False)]


@pytest.mark.parametrize("value, accepted", NAMES)
def test_a_name_is_accepted_by_the_document_exactly_when_by_the_api(value: str, accepted: bool) -> None:
    person = {"first_name": "A", "last_name": "B", "company_name": "C"}
    assert valid(DOC["components"]["schemas"]["NewPerson"], {**person, "last_name": value}) is accepted
    assert accepts(NewPerson, {**person, "last_name": value}) is accepted


@pytest.mark.parametrize("value, accepted", DEVICE_NAMES)
def test_a_device_name_and_a_search_are_accepted_by_the_document_exactly_when_by_the_api(value: str,
                                                                                      accepted: bool) -> None:
    assert valid(DOC["components"]["schemas"]["NewDevice"], {"name": value}) is accepted
    assert accepts(NewDevice, {"name": value}) is accepted
    search = value if len(value) <= 100 else value * 2  # q's bound is 200
    assert valid(parameter("/api/persons", "q"), search) is accepted
    assert accepts(PersonQuery, {"q": search}) is accepted


TRICKY = st.text(st.sampled_from("aZ é\t\n\r\x0b\x0c\x1c\x1f\x00\x7f\x85\xa0\u2000\u2028\u3000\ufeff"), max_size=12)


@settings(max_examples=400, deadline=None)
@given(value=TRICKY, long=st.integers(0, 3))
def test_generated_text_is_judged_alike(value: str, long: int) -> None:
    value = value + "x" * (long * 66)  # across the 200-character bound now and then
    person = {"first_name": value, "last_name": "B", "company_name": "C"}
    assert valid(DOC["components"]["schemas"]["NewPerson"], person) is accepts(NewPerson, person), repr(value)
    assert valid(DOC["components"]["schemas"]["NewDevice"], {"name": value}) is accepts(NewDevice, {"name": value})


# --- A fix's time: RFC 3339 in the years 1900-9998, offsets within ±15:59 ------------------------------------------

TIMES = [("2020-08-18T10:37:06Z", True), ("2020-08-18t10:37:06.123456789z", True), ("1900-01-01T00:00:00Z", True),
         ("2020-08-18T10:37:06+15:59", True), ("2020-08-18T10:37:06-00:00", True),
         ("1899-12-31T23:59:59Z", False), ("9999-01-01T00:00:00Z", False), ("2020-08-18T10:37:06+16:00", False),
         ("2020-08-18T10:37:06", False), ("2020-08-18 10:37:06Z", False), ("2020-08-18T10:37Z", False),
         ("2020-02-30T10:37:06Z", False), ("2020-08-18T10:37:60Z", False), ("1597747026", False), (1597747026, False),
         ("", False)]
#: Stated in words only: the UTC year of a time with an offset (no pattern compares the time with its offset).
TIMES_IN_WORDS = {"1900-01-01T00:30:00+01:00", "9998-12-31T23:30:00-01:00"}
FIX = {"person_id": 5, "latitude": 37.5, "longitude": -122.2, "recorded_at": "2020-08-18T10:37:06Z"}


def payload_accepted(data: dict[str, Any]) -> bool:
    try:
        (parse_fixes if "fixes" in data else parse)(data)
    except InvalidPayload:
        return False
    return True


@pytest.mark.parametrize("value, accepted", [*TIMES, *((t, True) for t in TIMES_IN_WORDS)])
def test_a_fix_time_is_accepted_by_the_document_exactly_when_by_the_api(value: object, accepted: bool) -> None:
    one = {**FIX, "recorded_at": value}
    many = {"person_id": 5, "fixes": [{k: v for k, v in one.items() if k != "person_id"}]}
    for data in (one, many):
        assert valid(EVENTS["application/json"]["schema"], data) is accepted
        assert payload_accepted(data) is (accepted and value not in TIMES_IN_WORDS)


@pytest.mark.parametrize("field, value, accepted", [
    ("person_id", 7.0, True), ("person_id", "7", False), ("person_id", True, False), ("person_id", 2**31, False),
    ("latitude", 90, True), ("latitude", "1.5", False), ("latitude", 90.0001, False), ("longitude", -180, True),
    ("accuracy", 0, True), ("accuracy", 0.001, True), ("accuracy", 0.0005, False), ("accuracy", None, True),
    ("accuracy", "3", False), ("extra", 1, False)])
def test_a_fix_number_is_accepted_by_the_document_exactly_when_by_the_api(field: str, value: object,
                                                                          accepted: bool) -> None:
    data = {**FIX, field: value}
    assert valid(EVENTS["application/json"]["schema"], data) is accepted
    assert payload_accepted(data) is accepted


# --- A structured CloudEvent: its attributes ----------------------------------------------------------------------

EVENT = {"specversion": "1.0", "id": "e-1", "source": "/devices/phone", "type": LOCATION_REPORTED, "data": FIX}
MANY = {"person_id": 5, "fixes": [{"latitude": 1, "longitude": 2, "recorded_at": "2020-08-18T10:37:06Z"}]}
ATTRIBUTES = {f"x{i}": "v" for i in range(46)}  # with the 4 required: 50 attributes
EVENTS_CASES = [
    ({}, True), ({"datacontenttype": "application/json"}, True),
    ({"datacontenttype": "Application/JSON; charset=utf-8"}, True), ({"datacontenttype": " text/json "}, True),
    ({"datacontenttype": ""}, False), ({"datacontenttype": "text/plain"}, False),
    ({"datacontenttype": "application/json+x"}, False), ({"datacontenttype": 1}, False),
    ({"traceparent": "00-x"}, True), ({"n": 2}, True), ({"n": 2.0}, True), ({"n": True}, True),
    ({"n": 1.5}, False), ({"n": None}, False), ({"n": [1]}, False), ({"Bad_Name": "x"}, False), ({"a" * 65: 1}, False),
    ({"time": "2020-08-18T10:37:06Z"}, True), ({"time": "yesterday"}, False), ({"time": "0000-01-01T00:00:00Z"}, False),
    ({"specversion": "0.3"}, False), ({"id": ""}, False), ({"id": 1}, False), ({"type": "x"}, False),
    ({"type": LOCATIONS_REPORTED}, False), ({"type": LOCATIONS_REPORTED, "data": MANY}, True),
    ({"data": MANY}, False), ({"data": {**FIX, "latitude": "1"}}, False),
    ({"data_base64": base64.b64encode(json.dumps(FIX).encode()).decode()}, True),
    (ATTRIBUTES, True), ({**ATTRIBUTES, "x46": "v"}, False),
    ({**ATTRIBUTES, "data_base64": base64.b64encode(json.dumps(FIX).encode()).decode()}, True),
]
#: Stated in words only: that data_base64 holds the event's data (contentSchema annotates, it does not assert).
EVENTS_IN_WORDS = [{"data_base64": ""}, {"data_base64": base64.b64encode(b"[1]").decode()}]


def event_accepted(event: dict[str, Any]) -> bool:
    return isinstance(validation.check(envelope.structured(event), NOW), validation.Report)


@pytest.mark.parametrize("change, accepted", [*EVENTS_CASES, *((c, True) for c in EVENTS_IN_WORDS)])
def test_an_event_is_accepted_by_the_document_exactly_when_by_the_api(change: dict[str, Any], accepted: bool) -> None:
    event = {**EVENT, **change}
    if "data_base64" in change:
        del event["data"]
    for media, body in (("application/cloudevents+json", event), ("application/cloudevents-batch+json", [event])):
        assert valid(EVENTS[media]["schema"], body) is accepted
    assert event_accepted(event) is (accepted and change not in EVENTS_IN_WORDS)


def test_an_event_without_data_is_refused_by_both() -> None:
    event = {k: v for k, v in EVENT.items() if k != "data"}
    assert not valid(EVENTS["application/cloudevents+json"]["schema"], event) and not event_accepted(event)


# --- The original POST /api/locations body ------------------------------------------------------------------------

LEGACY = DOC["paths"]["/api/locations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
LEGACY_BODY = {"person_id": "5", "latitude": "37.553", "longitude": "-122.290", "creation_time": "2020-08-18T10:37:06"}
LEGACY_CASES = [
    ("person_id", 5, True), ("person_id", 5.0, True), ("person_id", "2147483647", True), ("person_id", "05", False),
    ("person_id", "0", False), ("person_id", "2147483648", False), ("person_id", " 5", False), ("person_id", "", False),
    ("latitude", "90", True), ("latitude", "90.000", True), ("latitude", "-.5", True), ("latitude", "5.", True),
    ("latitude", "90.01", False), ("latitude", "1e1", False), ("latitude", "", False), ("latitude", 91, False),
    ("longitude", "-180", True), ("longitude", "179.999", True), ("longitude", "181", False),
    ("longitude", "", False), ("longitude", "1_0", False), ("longitude", True, False),
    ("creation_time", "", True), ("creation_time", None, True), ("creation_time", "2020-08-18T10:37:06Z", True),
    ("creation_time", "2020-08-18T10:37:06.5-07:00", True), ("creation_time", "2020-02-29T00:00:00", True),
    ("creation_time", "2019-02-29T00:00:00", False), ("creation_time", "2020-08-18T10:37:06+16:00", False),
    ("creation_time", "1899-12-31T23:59:59", False), ("creation_time", "2020-08-18 10:37:06", False),
    ("creation_time", "yesterday", False), ("creation_time", 0, False),
]


def legacy_accepted(body: dict[str, Any]) -> bool:
    try:
        raw = legacy.to_event(body, NOW)
    except InvalidInput:
        return False
    return isinstance(validation.check(raw, NOW), validation.Report)


@pytest.mark.parametrize("field, value, accepted", LEGACY_CASES)
def test_a_legacy_body_is_accepted_by_the_document_exactly_when_by_the_api(field: str, value: object,
                                                                           accepted: bool) -> None:
    body = {**LEGACY_BODY, field: value}
    assert valid(LEGACY, body) is accepted
    assert legacy_accepted(body) is accepted


# --- A query's day or instant -------------------------------------------------------------------------------------

DAYS = [("2020-01-01", True), (" 2020-01-01\t", True), ("1900-01-01", True), ("9998-12-31", True),
        ("2020-02-29", True), ("2020-01-01T10:00:00Z", True), ("2020-01-01T10:00:00.5+23:59", True),
        ("1899-12-31", False), ("9999-01-01", False), ("2019-02-29", False), ("2020-13-01", False),
        ("2020-01-01 10:00:00Z", False), ("2020-01-01T10:00Z", False), ("2020-01-01T10:00:00z", False),
        ("2020-01-01T10:00:00", False), ("20200101", False), ("2020-W01-1", False), ("", False),
        ("1899-12-31T23:00:00-02:00", False)]
DAYS_IN_WORDS = {"1900-01-01T00:30:00+01:00"}  # 1899 in UTC


@pytest.mark.parametrize("value, accepted", [*DAYS, *((d, True) for d in DAYS_IN_WORDS)])
def test_a_day_or_instant_is_accepted_by_the_document_exactly_when_by_the_api(value: str, accepted: bool) -> None:
    path = "/api/persons/{person_id}/locations"
    assert valid(parameter(path, "start_date"), value) is accepted
    assert accepts(TrackQuery, {"start_date": value, "end_date": "9998-12-31"}) is (accepted and
                                                                                    value not in DAYS_IN_WORDS)


def test_every_leap_day_is_a_day() -> None:
    leap = [y for y in range(FIRST_YEAR, LAST_YEAR + 1) if re.search(text.DAY, f"{y}-02-29")]
    assert leap == [y for y in range(FIRST_YEAR, LAST_YEAR + 1) if y % 4 == 0 and (y % 100 or y % 400 == 0)]
    assert date(2000, 2, 29) and not re.search(text.DAY, "1900-02-29")


# --- The live stream ----------------------------------------------------------------------------------------------

def test_the_live_stream_is_declared_as_server_sent_events_of_encounters() -> None:
    answer = DOC["paths"]["/api/persons/{person_id}/encounters/live"]["get"]["responses"]["200"]
    (media,) = answer["content"]
    assert media == "text/event-stream"
    events = answer["content"][media]["x-itemSchema"]["oneOf"]
    assert {e["properties"]["event"]["const"] for e in events if "event" in e.get("properties", {})} == {
        "ready", "encounter"}
    (encounter,) = [e for e in events if e.get("properties", {}).get("event", {}).get("const") == "encounter"]
    assert encounter["properties"]["data"]["contentSchema"] == {"$ref": "#/components/schemas/Encounter"}
    assert encounter["properties"]["data"]["contentMediaType"] == "application/json"
