"""The ingest target: every bad input is a 4xx problem naming it; good reports land in the broker topic."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest.conftest import read_topic
from udaconnect import bootstrap
from udaconnect.contracts.events import LOCATION_REPORTED, LOCATIONS_REPORTED
from udaconnect.ingest.legacy import LEGACY_SOURCE

BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"


def data(person_id: int = 5, **changes: object) -> dict:
    return {"person_id": person_id, "latitude": 37.55363, "longitude": -122.290883,
            "recorded_at": "2020-08-18T10:37:06Z", **changes}


def structured(person_id: int = 5, **changes: object) -> dict:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/devices/phone-7",
             "type": LOCATION_REPORTED, "datacontenttype": "application/json", "data": data(person_id)}
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def binary_headers(**changes: str | None) -> dict[str, str]:
    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/devices/phone-7",
               "ce-type": LOCATION_REPORTED, "Content-Type": "application/json"}
    headers.update(changes)  # type: ignore[arg-type]
    return {k: v for k, v in headers.items() if v is not None}


def test_binary_mode_lands_in_the_topic_in_binary_mode_keyed_by_person(client, kafka) -> None:
    headers = binary_headers(**{"ce-time": "2020-08-18T10:37:07Z", "ce-deviceos": "android"})
    reply = client.post("/api/events", headers=headers, content=json.dumps(data(5, accuracy=3.5)))
    assert reply.status_code == 202 and reply.json() == {"accepted": 1, "ids": [headers["ce-id"]], "late": 0}
    key, event, raw = read_topic(kafka.bootstrap_servers, {headers["ce-id"]})[headers["ce-id"]]
    assert key == b"5"
    names = {name for name, _ in raw}
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_partitionkey", "content-type"} <= names
    assert event.attributes["partitionkey"] == "5" and event.attributes["deviceos"] == "android"
    assert event.attributes["source"] == "/devices/phone-7" and event.attributes["time"] == "2020-08-18T10:37:07Z"
    assert json.loads(event.data) == {**data(5), "accuracy": 3.5}


def test_structured_and_batch_modes_on_both_paths(client, kafka) -> None:
    one = structured(8)
    assert client.post("/", content=json.dumps(one), headers={"Content-Type": STRUCTURED}).status_code == 202
    batch = [structured(p) for p in (1, 2, 2, 9)]
    reply = client.post("/api/events", content=json.dumps(batch), headers={"Content-Type": BATCH})
    assert reply.status_code == 202 and reply.json()["accepted"] == 4
    found = read_topic(kafka.bootstrap_servers, {e["id"] for e in [one, *batch]})
    assert {found[e["id"]][0] for e in batch} == {b"1", b"2", b"9"} and found[one["id"]][0] == b"8"


def test_data_base64_is_accepted(client, kafka) -> None:
    import base64

    event = structured(3, data=None, data_base64=base64.b64encode(json.dumps(data(3)).encode()).decode())
    reply = client.post("/api/events", content=json.dumps(event), headers={"Content-Type": STRUCTURED})
    assert reply.status_code == 202
    assert json.loads(read_topic(kafka.bootstrap_servers, {event["id"]})[event["id"]][1].data)["person_id"] == 3


def test_the_original_post_api_locations_body_is_accepted(client, kafka) -> None:
    body = {"person_id": "5", "latitude": "37.553", "longitude": "-122.290", "creation_time": "2020-08-18T10:37:06"}
    reply = client.post("/api/locations", json=body)
    assert reply.status_code == 202
    event_id = reply.json()["id"]
    key, event, _ = read_topic(kafka.bootstrap_servers, {event_id})[event_id]
    assert key == b"5" and event.attributes["source"] == LEGACY_SOURCE
    assert json.loads(event.data) == {"person_id": 5, "latitude": 37.553, "longitude": -122.29,
                                      "recorded_at": "2020-08-18T10:37:06Z", "accuracy": None}


@pytest.mark.parametrize("body, field", [
    ({"person_id": 5, "latitude": "north", "longitude": "1", "creation_time": "2020-08-18T10:37:06"}, "latitude"),
    ({"latitude": "1", "longitude": "1", "creation_time": "2020-08-18T10:37:06"}, "person_id"),
    ({"person_id": 5, "latitude": "1", "longitude": "181", "creation_time": "2020-08-18T10:37:06"}, "longitude"),
    ({"person_id": 5, "latitude": "1", "longitude": "1", "creation_time": "yesterday"}, "creation_time"),
])
def test_bad_original_bodies_name_the_field(client, body: dict, field: str) -> None:
    reply = client.post("/api/locations", json=body)
    assert reply.status_code == 400 and reply.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in reply.json()["errors"]}


FUTURE = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize("headers, body, status, field", [
    (binary_headers(**{"ce-id": None}), data(), 400, "id"),
    (binary_headers(**{"ce-source": None, "ce-type": None}), data(), 400, "source"),
    (binary_headers(**{"ce-specversion": "0.3"}), data(), 400, "specversion"),
    (binary_headers(**{"ce-type": "io.udaconnect.person.created.v1"}), data(), 400, "type"),
    (binary_headers(**{"Content-Type": "text/plain"}), data(), 400, "datacontenttype"),
    ({"Content-Type": "text/plain"}, data(), 415, "content-type"),
    (binary_headers(), b"{not json", 400, "data"),
    (binary_headers(), b"", 400, "data"),
    (binary_headers(), data(latitude="north"), 400, "data.latitude"),
    (binary_headers(), data(latitude=95), 400, "data.latitude"),
    (binary_headers(), data(person_id=0), 400, "data.person_id"),
    (binary_headers(), data(recorded_at="2020-08-18T10:37:06"), 400, "data.recorded_at"),
    (binary_headers(), data(recorded_at=FUTURE), 400, "data.recorded_at"),
    (binary_headers(), data(accuracy=-1), 400, "data.accuracy"),
    (binary_headers(), data(extra=1), 400, "data.extra"),
    (binary_headers(), [data()], 400, "data"),
    (binary_headers(**{"ce-bad_name": "x"}), data(), 400, "bad_name"),
])
def test_bad_binary_events_are_4xx_problems(client, headers: dict, body: object, status: int, field: str) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body)
    reply = client.post("/api/events", headers=headers, content=payload)
    assert reply.status_code == status, reply.content
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in reply.json()["errors"]}, reply.json()


@pytest.mark.parametrize("event, field", [
    (structured(id=42), "id"),
    (structured(specversion=1.0), "specversion"),
    (structured(source=None), "source"),
    (structured(type=None), "type"),
    (structured(data=None), "data"),
    (structured(datacontenttype="application/xml"), "datacontenttype"),
    (structured(data_base64="%%%", data=None), "data"),
    (structured(subject={"nested": 1}), "subject"),
    ("just a string", "data"),
])
def test_bad_structured_events_are_4xx_problems(client, event: object, field: str) -> None:
    reply = client.post("/api/events", content=json.dumps(event), headers={"Content-Type": STRUCTURED})
    assert reply.status_code == 400 and reply.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in reply.json()["errors"]}, reply.json()


@pytest.mark.parametrize("body, content_type", [(b"{oops", STRUCTURED), (b"[{", BATCH), (b'{"a": 1}', BATCH),
                                                (b"[]", BATCH)])
def test_malformed_json_and_empty_batches_are_400(client, body: bytes, content_type: str) -> None:
    reply = client.post("/api/events", content=body, headers={"Content-Type": content_type})
    assert reply.status_code == 400 and reply.headers["content-type"] == "application/problem+json"


def test_oversized_batches_are_413(client) -> None:
    reply = client.post("/api/events", content=json.dumps([structured() for _ in range(1001)]),
                        headers={"Content-Type": BATCH})
    assert reply.status_code == 413 and "1000" in reply.json()["detail"]
    big = json.dumps([structured(note="x" * 4000) for _ in range(300)])
    reply = client.post("/api/events", content=big, headers={"Content-Type": BATCH})
    assert reply.status_code == 413 and reply.headers["content-type"] == "application/problem+json"


def test_a_batch_with_bad_events_names_them_and_publishes_none(client, kafka) -> None:
    batch = [structured(1), structured(2, id=7), structured(3), structured(4, data=data(4, latitude=200))]
    reply = client.post("/api/events", content=json.dumps(batch), headers={"Content-Type": BATCH})
    problem = reply.json()
    assert reply.status_code == 400
    assert problem["invalid"] == [{"index": 1, "id": 7}, {"index": 3, "id": batch[3]["id"]}]
    assert {e["field"] for e in problem["errors"]} == {"[1].id", "[3].data.latitude"}
    assert "none was accepted" in problem["detail"]
    assert read_topic(kafka.bootstrap_servers, {batch[0]["id"], batch[2]["id"]}) == {}


def test_health_and_wrong_methods(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    reply = client.get("/api/events")
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"
    assert client.post("/nowhere", content=b"{}").status_code == 404


def fixes(count: int = 3, **changes: object) -> list[dict]:
    return [{"latitude": 37.55 + i / 1e4, "longitude": -122.29, "recorded_at": f"2020-08-18T10:37:{i:02d}Z",
             **changes} for i in range(count)]


def test_a_phones_buffered_fixes_are_one_record_in_every_mode(client, kafka) -> None:
    multi = {"person_id": 6, "fixes": fixes(50, accuracy=4.0)}
    headers = binary_headers(**{"ce-type": LOCATIONS_REPORTED})
    assert client.post("/api/events", headers=headers, content=json.dumps(multi)).status_code == 202
    one = structured(6, type=LOCATIONS_REPORTED, data={"person_id": 6, "fixes": fixes(2)})
    assert client.post("/", content=json.dumps(one), headers={"Content-Type": STRUCTURED}).status_code == 202
    batch = [structured(7, type=LOCATIONS_REPORTED, data={"person_id": 7, "fixes": fixes(3)}), structured(8)]
    reply = client.post("/api/events", content=json.dumps(batch), headers={"Content-Type": BATCH})
    assert reply.status_code == 202 and reply.json()["accepted"] == 2
    found = read_topic(kafka.bootstrap_servers, {headers["ce-id"], one["id"], *(e["id"] for e in batch)})
    key, event, _ = found[headers["ce-id"]]
    assert key == b"6" and event.attributes["type"] == LOCATIONS_REPORTED
    assert json.loads(event.data) == multi
    assert [len(json.loads(found[e["id"]][1].data).get("fixes", [])) for e in [one, *batch]] == [2, 3, 0]


@pytest.mark.parametrize("mode", ["binary", "structured", "batch"])
def test_a_multi_fix_event_with_one_bad_fix_is_refused_whole_naming_the_fix(client, kafka, mode: str) -> None:
    bad = fixes(5)
    bad[3]["latitude"] = 91
    payload = {"person_id": 6, "fixes": bad}
    event = structured(6, type=LOCATIONS_REPORTED, data=payload)
    if mode == "binary":
        headers = binary_headers(**{"ce-type": LOCATIONS_REPORTED, "ce-id": event["id"]})
        reply = client.post("/api/events", headers=headers, content=json.dumps(payload))
    elif mode == "structured":
        reply = client.post("/api/events", content=json.dumps(event), headers={"Content-Type": STRUCTURED})
    else:
        reply = client.post("/api/events", content=json.dumps([structured(5), event]),
                            headers={"Content-Type": BATCH})
    assert reply.status_code == 400 and reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    prefix = "[1]." if mode == "batch" else ""
    assert [e["field"] for e in problem["errors"]] == [f"{prefix}data.fixes[3].latitude"]
    assert "fix 3" in problem["detail"] and problem["invalid"][-1]["fixes"] == [3]
    assert read_topic(kafka.bootstrap_servers, {event["id"]}) == {}


def test_out_of_order_too_many_and_future_fixes_are_refused(client, monkeypatch) -> None:
    def refused(payload: dict) -> list[str]:
        headers = binary_headers(**{"ce-type": LOCATIONS_REPORTED})
        reply = client.post("/api/events", headers=headers, content=json.dumps(payload))
        assert reply.status_code == 400, reply.text
        return [e["field"] for e in reply.json()["errors"]]

    shuffled = fixes(4)
    shuffled[1], shuffled[2] = shuffled[2], shuffled[1]
    assert refused({"person_id": 6, "fixes": shuffled}) == ["data.fixes[2].recorded_at"]
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert refused({"person_id": 6, "fixes": [*fixes(2), *fixes(1, recorded_at=soon)]}) == [
        "data.fixes[2].recorded_at"]
    assert refused({"person_id": 6, "fixes": []}) == ["data.fixes"]
    monkeypatch.setenv("UDACONNECT_MAX_FIXES", "10")
    bootstrap.reset()
    assert refused({"person_id": 6, "fixes": fixes(11)}) == ["data.fixes"]
    assert refused({"person_id": 6, "fixes": fixes(1, extra=1)}) == ["data.fixes[0].extra"]
