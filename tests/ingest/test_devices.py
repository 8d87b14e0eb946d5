"""Devices: enrolment (the token shown once, kept as its SHA-256), listing, revocation; ingest takes a device's own
reports only, within its rate; persist drops what a revoked or unknown device sent."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from bearer import headers, keyed, stranger, token
from ingest.conftest import read_topic
from ingest.test_function import BATCH, binary_headers, data, structured
from udaconnect import bootstrap
from udaconnect.contracts.events import LOCATIONS_REPORTED

PROBLEM = "application/problem+json"


@pytest.fixture
def persons(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          "SELECT 'P', 'N' || g, 'C' FROM generate_series(1, 3) g"))
    return db


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def enrol(persons_client, person_id: int = 1, name: str = "phone", **auth: str) -> dict:  # type: ignore[no-untyped-def]
    reply = persons_client.post(f"/api/persons/{person_id}/devices", json={"name": name}, headers=auth or None)
    assert reply.status_code == 201, reply.data
    return reply.get_json()


def fields(reply) -> list[str]:  # type: ignore[no-untyped-def]
    body = reply.json() if hasattr(reply, "json") and callable(reply.json) else reply.get_json()
    return [e["field"] for e in body["errors"]]


def test_an_enrolled_devices_token_is_shown_once_and_kept_only_as_its_hash(persons, persons_client) -> None:
    from udaconnect.auth import verify

    enrolled = enrol(persons_client, 1, "Taco's phone")
    assert set(enrolled) == {"device_id", "name", "token", "created_at"} and enrolled["name"] == "Taco's phone"
    principal = verify(keyed(), enrolled["token"])
    assert (principal.role, principal.person_id, principal.device_id) == ("device", 1, enrolled["device_id"])
    with persons.connect() as conn:
        kept = conn.execute(text("SELECT person_id, token_sha256 FROM device WHERE id = :d"),
                            {"d": enrolled["device_id"]}).one()
    assert kept.person_id == 1 and bytes(kept.token_sha256) == hashlib.sha256(enrolled["token"].encode()).digest()
    listed = persons_client.get("/api/persons/1/devices")
    assert listed.status_code == 200 and "token" not in listed.get_data(as_text=True)
    assert [(d["device_id"], d["revoked_at"]) for d in listed.get_json()] == [(enrolled["device_id"], None)]
    assert enrol(persons_client, 2)["name"] == "phone"  # an empty body enrols too:
    assert persons_client.post("/api/persons/2/devices").status_code == 201


def test_an_attendee_manages_their_own_devices_only(persons, persons_client) -> None:
    own = enrol(persons_client, 1, **headers(role="attendee", person_id=1))
    theirs = enrol(persons_client, 2)
    other = headers(role="attendee", person_id=2)
    assert persons_client.get("/api/persons/1/devices", headers=other).status_code == 403
    assert persons_client.post("/api/persons/1/devices", json={}, headers=other).status_code == 403
    assert persons_client.delete(f"/api/persons/1/devices/{own['device_id']}", headers=other).status_code == 403
    assert persons_client.get("/api/persons/1/devices", headers=bearer(own["token"])).status_code == 403  # a device
    assert persons_client.get("/api/persons/1/devices", headers={"Authorization": ""}).status_code == 401
    # someone else's device, an unknown one, something that is no id: 404, and nothing is revoked
    mine = headers(role="attendee", person_id=1)
    for device in (theirs["device_id"], str(uuid.uuid4()), "not-a-device"):
        reply = persons_client.delete(f"/api/persons/1/devices/{device}", headers=mine)
        assert reply.status_code == 404 and reply.content_type == PROBLEM
    assert persons_client.get("/api/persons/2/devices").get_json()[0]["revoked_at"] is None
    assert persons_client.delete(f"/api/persons/1/devices/{own['device_id']}", headers=mine).status_code == 204
    assert persons_client.delete(f"/api/persons/1/devices/{own['device_id']}", headers=mine).status_code == 204
    assert persons_client.get("/api/persons/1/devices").get_json()[0]["revoked_at"] is not None
    assert persons_client.get("/api/persons/9/devices").status_code == 404
    assert persons_client.post("/api/persons/1/devices", json={"name": "x" * 101}).status_code == 400


def device_token(person_id: int = 5, device: str | None = None) -> tuple[str, str]:
    """A device's id and token (ingest checks the signature only: no enrolment needed to reach it)."""
    device = device or str(uuid.uuid4())
    return device, token(role="device", person_id=person_id, device_id=device)


def test_a_device_reports_its_own_persons_fixes_with_its_own_source(client, kafka) -> None:
    device, value = device_token(5)
    own = binary_headers(**{"ce-source": f"/devices/{device}"}) | bearer(value)
    assert client.post("/api/events", headers=own, content=json.dumps(data(5))).status_code == 202
    batch = [structured(5, source=f"/devices/{device}") for _ in range(3)]
    reply = client.post("/api/events", content=json.dumps(batch), headers={"Content-Type": BATCH} | bearer(value))
    assert reply.status_code == 202
    multi = structured(5, source=f"/devices/{device}", type=LOCATIONS_REPORTED,
                       data={"person_id": 5, "fixes": [{"latitude": 1.0, "longitude": 2.0,
                                                        "recorded_at": "2020-08-18T10:37:06Z"}]})
    assert client.post("/api/events", content=json.dumps(multi),
                       headers={"Content-Type": "application/cloudevents+json"} | bearer(value)).status_code == 202
    legacy = client.post("/api/locations", json={"person_id": 5, "latitude": 1, "longitude": 2}, headers=bearer(value))
    assert legacy.status_code == 202
    found = read_topic(kafka.bootstrap_servers, {own["ce-id"], legacy.json()["id"]})
    assert found[legacy.json()["id"]][1].attributes["source"] == f"/devices/{device}"


def test_a_device_may_not_report_for_someone_else_or_as_another_device(client) -> None:
    device, value = device_token(5)
    source = f"/devices/{device}"
    other = client.post("/api/events", headers=binary_headers(**{"ce-source": source}) | bearer(value),
                        content=json.dumps(data(6)))
    assert other.status_code == 403 and other.headers["content-type"] == PROBLEM
    assert fields(other) == ["data.person_id"]
    forged = client.post("/api/events", headers=binary_headers(**{"ce-source": "/devices/phone-7"}) | bearer(value),
                         content=json.dumps(data(5)))
    assert forged.status_code == 403 and fields(forged) == ["source"]
    batch = [structured(5, source=source), structured(6, source=source), structured(5, source="/devices/x")]
    reply = client.post("/api/events", content=json.dumps(batch), headers={"Content-Type": BATCH} | bearer(value))
    assert reply.status_code == 403 and fields(reply) == ["[1].data.person_id", "[2].source"]
    assert "events 1, 2" in reply.json()["detail"]
    multi = structured(5, source=source, type=LOCATIONS_REPORTED, data={"person_id": 6, "fixes": [
        {"latitude": 1.0, "longitude": 2.0, "recorded_at": "2020-08-18T10:37:06Z"}]})
    reply = client.post("/api/events", content=json.dumps(multi),
                        headers={"Content-Type": "application/cloudevents+json"} | bearer(value))
    assert reply.status_code == 403 and fields(reply) == ["data.person_id"]
    legacy = client.post("/api/locations", json={"person_id": 6, "latitude": 1, "longitude": 2}, headers=bearer(value))
    assert legacy.status_code == 403 and fields(legacy) == ["person_id"]


def test_ingest_wants_a_device_or_an_organizer(client) -> None:
    body = json.dumps(data(5))
    assert client.post("/api/events", headers=binary_headers() | {"Authorization": ""}, content=body).status_code == 401
    anonymous = client.post("/api/events", headers=binary_headers() | {"Authorization": ""}, content=body)
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/events", headers=binary_headers() | bearer("not.a.token"), content=body).status_code == 401
    forged = token(stranger(), role="device", person_id=5, device_id="d")
    assert client.post("/api/events", headers=binary_headers() | bearer(forged), content=body).status_code == 401
    attendee = headers(role="attendee", person_id=5)
    assert client.post("/api/events", headers=binary_headers() | attendee, content=body).status_code == 403
    assert client.post("/api/events", headers=binary_headers(), content=body).status_code == 202  # an organizer


def test_a_device_over_its_rate_is_429_with_retry_after_and_an_organizer_gets_ten_times_as_much(
        client, monkeypatch) -> None:
    monkeypatch.setenv("UDACONNECT_INGEST_RATE", "0.01")
    monkeypatch.setenv("UDACONNECT_INGEST_BURST", "2")
    bootstrap.reset()
    device, value = device_token(5)
    own = {"ce-source": f"/devices/{device}"}
    answers = [client.post("/api/events", headers=binary_headers(**own) | bearer(value),
                           content=json.dumps(data(5))) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1 and answers[2].headers["content-type"] == PROBLEM
    other, another = device_token(5)  # the person's other device shares their bucket: fixes count per person
    assert client.post("/api/events", headers=binary_headers(**{"ce-source": f"/devices/{other}"}) | bearer(another),
                       content=json.dumps(data(5))).status_code == 429
    third, its_token = device_token(6)  # another person has their own
    assert client.post("/api/events", headers=binary_headers(**{"ce-source": f"/devices/{third}"}) | bearer(its_token),
                       content=json.dumps(data(6))).status_code == 202
    organizer = [client.post("/api/events", headers=binary_headers(), content=json.dumps(data(5))).status_code
                 for _ in range(21)]
    assert organizer == [202] * 20 + [429]


def persist_delivery(source: str, person_id: int = 1) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": source,
               "ce-type": "io.udaconnect.location.reported.v1", "Content-Type": "application/json",
               "Prefer": "reply"}
    body = {"person_id": person_id, "latitude": 37.55, "longitude": -122.29, "recorded_at": "2020-08-18T10:37:06Z"}
    return headers, json.dumps(body).encode()


@pytest.fixture
def persist_client(app_env, monkeypatch):  # type: ignore[no-untyped-def]
    from persist.test_function import asgi_client

    monkeypatch.setenv("DATABASE_URL", app_env.database_url)
    bootstrap.reset()
    return asgi_client()


def stored(engine: Engine, source: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM location WHERE event_source = :s"), {"s": source}).scalar())


def test_persist_drops_what_a_revoked_or_unknown_device_sent_and_stores_an_enrolled_ones(
        persons, persons_client, persist_client, monkeypatch) -> None:
    enrolled, revoked = enrol(persons_client, 1), enrol(persons_client, 1)
    assert persons_client.delete(f"/api/persons/1/devices/{revoked['device_id']}").status_code == 204
    live, gone, unknown = (f"/devices/{d}" for d in (enrolled["device_id"], revoked["device_id"], uuid.uuid4()))
    assert persist_client.post("/", headers=(h := persist_delivery(live))[0], content=h[1]).status_code == 200
    for source in (gone, unknown):
        reply = persist_client.post("/", headers=(h := persist_delivery(source))[0], content=h[1])
        assert reply.status_code == 204 and not reply.content  # done: never retried, never dead-lettered
    multi = persist_delivery(gone)
    multi[0]["ce-type"] = LOCATIONS_REPORTED
    body = {"person_id": 1, "fixes": [{"latitude": 1.0, "longitude": 2.0, "recorded_at": "2020-08-18T10:37:06Z"},
                                      {"latitude": 1.0, "longitude": 2.0, "recorded_at": "2020-08-18T10:38:06Z"}]}
    assert persist_client.post("/", headers=multi[0], content=json.dumps(body)).status_code == 204
    assert (stored(persons, live), stored(persons, gone), stored(persons, unknown)) == (1, 0, 0)
    legacy = persist_delivery("/devices/legacy-api")  # not a device id: an organizer's import, not checked
    assert persist_client.post("/", headers=legacy[0], content=legacy[1]).status_code == 200
    # a group mixing them: each row's own outcome (one query for the group)
    from udaconnect.persist.group_commit import REVOKED, STORED, Row
    from udaconnect.persist.store import prepare, store

    at = datetime(2020, 8, 18, 10, tzinfo=UTC)
    rows = [Row(1, 2.0, 1.0, at, None, source, str(uuid.uuid4())) for source in (live, gone, live, unknown)]
    raw = persons.raw_connection()
    try:
        prepare(raw.driver_connection)
        assert store(raw.driver_connection, rows) == [STORED, REVOKED, STORED, REVOKED]
    finally:
        raw.close()
    monkeypatch.setenv("UDACONNECT_AUTH", "open")  # no devices to check against
    bootstrap.reset()
    open_ = persist_delivery(gone)
    assert persist_client.post("/", headers=open_[0], content=open_[1]).status_code == 200


def test_a_person_has_at_most_max_devices_active_devices_and_revoking_one_frees_a_place(
        persons, persons_client, monkeypatch) -> None:
    monkeypatch.setenv("UDACONNECT_MAX_DEVICES", "3")  # the default (the session relaxes it)
    bootstrap.reset()
    attendee = headers(role="attendee", person_id=2)
    kept = [enrol(persons_client, 2, f"phone {i}", **attendee) for i in range(3)]  # UDACONNECT_MAX_DEVICES: 3
    fourth = persons_client.post("/api/persons/2/devices", json={"name": "phone 4"}, headers=attendee)
    assert fourth.status_code == 409 and fourth.mimetype == PROBLEM
    assert "UDACONNECT_MAX_DEVICES=3" in fourth.get_json()["detail"], fourth.get_json()
    organizer = persons_client.post("/api/persons/2/devices", json={"name": "phone 4"}, headers=headers())
    assert organizer.status_code == 409, "an organizer enrols within the same limit"
    with persons.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM device WHERE person_id = 2")).scalar_one() == 3
    assert persons_client.delete(f"/api/persons/2/devices/{kept[0]['device_id']}", headers=attendee).status_code == 204
    enrol(persons_client, 2, "phone 4", **attendee)  # a revoked device holds no place
    assert enrol(persons_client, 3, "phone", **headers(role="attendee", person_id=3))  # another person's own three


def test_enrolment_is_paced_per_person_at_the_real_default_and_refused_with_retry_after(
        persons, persons_client, monkeypatch) -> None:
    monkeypatch.setenv("UDACONNECT_ENROL_RATE", "6")  # the default: 6 an hour, bursts of 3
    monkeypatch.setenv("UDACONNECT_MAX_DEVICES", "100")
    bootstrap.reset()
    attendee = headers(role="attendee", person_id=1)
    for i in range(3):
        enrol(persons_client, 1, f"phone {i}", **attendee)
    refused = persons_client.post("/api/persons/1/devices", json={"name": "phone 3"}, headers=attendee)
    assert refused.status_code == 429 and refused.mimetype == PROBLEM
    assert "device enrolments" in refused.get_json()["detail"]
    assert 500 <= int(refused.headers["Retry-After"]) <= 600, "one more in 10 minutes at 6 an hour"
    enrol(persons_client, 3, "phone", **headers(role="attendee", person_id=3))  # another person's pace is their own
    for i in range(30):  # an organizer (an import of many phones) gets ten times the burst
        enrol(persons_client, 2, f"phone {i}", **headers())
    more = persons_client.post("/api/persons/2/devices", json={"name": "one more"}, headers=headers())
    assert more.status_code == 429
