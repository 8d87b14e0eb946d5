"""Ingest accepts only what persist can store, with strict JSON types, and bounded work per request
(issue 10, findings 5, 6 and 9): each input the review found is a case here."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from ingest.conftest import read_topic
from ingest.test_function import BATCH, STRUCTURED, binary_headers, data, structured

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("changes, field", [
    ({"accuracy": 1e-50}, "data.accuracy"),  # a REAL holds nothing that small: persist answered 503 for ~100 s
    ({"accuracy": 1e-39}, "data.accuracy"),
    ({"recorded_at": "2020-08-18T10:37:06+18:00"}, "data.recorded_at"),  # PostgreSQL takes offsets to ±15:59
    ({"recorded_at": "2020-08-18T10:37:06-16:00"}, "data.recorded_at"),
    ({"recorded_at": "0001-01-01T00:00:00+14:00"}, "data.recorded_at"),  # stored as a BC date; reads gave 500
    ({"recorded_at": "1899-12-31T23:59:59Z"}, "data.recorded_at"),
    ({"recorded_at": "1900-01-01T00:30:00+01:00"}, "data.recorded_at"),  # 1899 in UTC
    ({"person_id": True}, "data.person_id"),  # was stored for person 1
    ({"latitude": False}, "data.latitude"),  # was stored as 0
    ({"longitude": True}, "data.longitude"),
    ({"accuracy": True}, "data.accuracy"),
])
def test_what_persist_cannot_store_or_the_schema_forbids_is_refused(client, changes: dict, field: str) -> None:
    for headers, body in ((binary_headers(), json.dumps(data(**changes))),
                          ({"Content-Type": STRUCTURED}, json.dumps(structured(data=data(**changes))))):
        reply = client.post("/api/events", headers=headers, content=body)
        assert reply.status_code == 400 and reply.headers["content-type"] == PROBLEM, reply.content
        assert field in {e["field"] for e in reply.json()["errors"]}, reply.json()


def test_the_bounds_themselves_are_accepted(client, kafka) -> None:
    events = [structured(data=data(accuracy=0)), structured(data=data(accuracy=0.001)),
              structured(data=data(recorded_at="1900-01-01T00:00:00Z")),
              structured(data=data(recorded_at="2020-08-18T10:37:06+15:59")),
              structured(data=data(recorded_at="2020-08-18T10:37:06-15:59"))]
    reply = client.post("/api/events", headers={"Content-Type": BATCH}, content=json.dumps(events))
    assert reply.status_code == 202, reply.content


@pytest.mark.parametrize("value", ["not-a-time", "2020-08-18", "2020-08-18T10:37:06", "2020-02-30T10:00:00Z",
                                   "2020-08-18 10:37:06Z"])
def test_a_time_attribute_that_is_no_rfc3339_timestamp_is_refused(client, value: str) -> None:
    reply = client.post("/api/events", headers=binary_headers(**{"ce-time": value}), content=json.dumps(data()))
    assert reply.status_code == 400 and "time" in {e["field"] for e in reply.json()["errors"]}
    reply = client.post("/api/events", headers={"Content-Type": STRUCTURED}, content=json.dumps(structured(time=value)))
    assert reply.status_code == 400 and "time" in {e["field"] for e in reply.json()["errors"]}


def test_a_time_attribute_with_nanoseconds_is_an_rfc3339_timestamp(client, kafka) -> None:
    headers = binary_headers(**{"ce-time": "2020-08-18T10:37:06.123456789Z"})
    assert client.post("/api/events", headers=headers, content=json.dumps(data())).status_code == 202


def test_twenty_thousand_extension_attributes_are_refused_fast(client) -> None:
    """Finding 9: one 230 KB event with 20,000 extensions stalled persist for 18 s (quadratic headers)."""
    headers = {**binary_headers(), **{f"ce-x{i}": "v" for i in range(20_000)}}
    started = time.perf_counter()
    reply = client.post("/api/events", headers=headers, content=json.dumps(data()))
    assert reply.status_code == 431 and reply.headers["content-type"] == PROBLEM
    event = structured(**{f"x{i}": "v" for i in range(20_000)})
    reply = client.post("/api/events", headers={"Content-Type": STRUCTURED}, content=json.dumps(event))
    assert reply.status_code == 400 and "attributes" in {e["field"] for e in reply.json()["errors"]}
    assert time.perf_counter() - started < 9  # half the 18 s of the quadratic handling: a bound, not a goal


def test_a_lone_surrogate_in_an_id_is_refused_and_the_producer_keeps_working(client, kafka) -> None:
    """Finding 9: a lone surrogate in an event id made ingest throw its shared Kafka producer away."""
    body = json.dumps(structured(id="\ud800"))  # json.dumps writes it as the escape \ud800
    for _ in range(3):
        reply = client.post("/api/events", headers={"Content-Type": STRUCTURED}, content=body)
        assert reply.status_code == 400 and "id" in {e["field"] for e in reply.json()["errors"]}
    good = structured()
    assert client.post("/api/events", headers={"Content-Type": STRUCTURED}, content=json.dumps(good)).status_code == 202
    assert set(read_topic(kafka.bootstrap_servers, {good["id"]})) == {good["id"]}


@pytest.mark.parametrize("path, headers, body", [
    ("/api/events", {"Content-Type": STRUCTURED}, b"[" * 100_000 + b"]" * 100_000),
    ("/api/events", {"Content-Type": BATCH}, b"[" * 100_000 + b"]" * 100_000),
    ("/api/events", binary_headers(), b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("/api/locations", {"Content-Type": "application/json"}, b"[" * 100_000 + b"]" * 100_000),
])
def test_deeply_nested_json_is_a_4xx(client, path: str, headers: dict, body: bytes) -> None:
    reply = client.post(path, headers=headers, content=body)
    assert 400 <= reply.status_code < 500 and reply.headers["content-type"] == PROBLEM, reply.content[:200]


def test_nested_data_base64_is_a_4xx(client) -> None:
    import base64

    nested = base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    event = {**structured(), "data_base64": nested}
    event.pop("data")
    reply = client.post("/api/events", headers={"Content-Type": STRUCTURED}, content=json.dumps(event))
    assert reply.status_code == 400 and reply.headers["content-type"] == PROBLEM


def test_an_event_of_the_largest_allowed_size_is_accepted(client, kafka) -> None:
    headers = {**binary_headers(), **{f"ce-x{i}": "v" for i in range(40)}, "ce-id": str(uuid.uuid4())}
    assert client.post("/api/events", headers=headers, content=json.dumps(data())).status_code == 202
