"""persist stores a report only with ingest's delivery proof, and a device's only for that device's own person (issue
22: `ce-source: /not-a-device` into the broker ingress stored a fix for person 5, a POST straight to persist one for
person 6). Each case's status and stored count are written out by hand."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bearer import proved
from persist.test_function import asgi_client, count, persons  # noqa: F401 - persons is a fixture
from udaconnect import bootstrap
from udaconnect.contracts.events import LOCATION_REPORTED


def report(person_id: int, source: str, **extra: str) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": source, "ce-type": LOCATION_REPORTED,
               "ce-partitionkey": str(person_id), "ce-arrivedat": "2020-08-18T10:37:07+00:00",
               "Content-Type": "application/json", "Prefer": "reply", **extra}
    body = {"person_id": person_id, "latitude": 37.55, "longitude": -122.29, "recorded_at": "2020-08-18T10:37:06Z",
            "accuracy": 8.0}  # a phone says how sure it is (without, a device's fix is kept imprecise)
    return headers, json.dumps(body).encode()


@pytest.fixture
def raw(app_env, monkeypatch):  # type: ignore[no-untyped-def]
    """persist with no proving wrapper: what arrives is what an attacker sent."""
    monkeypatch.setenv("DATABASE_URL", app_env.database_url)
    bootstrap.reset()
    return asgi_client(proving=False)


@pytest.fixture
def device_of_1(persons: Engine) -> str:  # noqa: F811
    device = str(uuid.uuid4())
    with persons.begin() as conn:
        conn.execute(text("INSERT INTO device (id, person_id, name, token_sha256) VALUES (:d, 1, 'phone', :h)"),
                     {"d": device, "h": "0" * 64})
    return f"/devices/{device}"


def test_the_issues_forgeries_are_dropped_and_nothing_is_stored(raw, persons: Engine, device_of_1: str) -> None:  # noqa: F811
    # no proof at all: the attack as the review ran it (a non-device source, and a device's)
    for source in ("/not-a-device", device_of_1):
        headers, body = report(1, source)
        reply = raw.post("/", headers=headers, content=body)
        assert (reply.status_code, reply.content) == (204, b""), source  # dropped: never dead-lettered
    # a proof in the client's own name
    headers, body = report(1, "/not-a-device", **{"ce-reportedby": "organizer", "ce-deliveryproof": "A" * 43})
    assert raw.post("/", headers=headers, content=body).status_code == 204
    # a proof made with another key
    other = Path(tempfile.mkdtemp()) / "key"
    other.write_text("another-key-" + "1" * 40)
    headers, body = report(1, "/import/x")
    assert raw.post("/", headers=proved(headers, body, key=other), content=body).status_code == 204
    assert count(persons) == 0


def test_a_proved_report_changed_on_the_way_is_dropped(raw, persons: Engine) -> None:  # noqa: F811
    headers, body = report(1, "/import/x")
    good = proved(headers, body)
    assert raw.post("/", headers=good, content=body.replace(b'"person_id": 1', b'"person_id": 2')).status_code == 204
    assert raw.post("/", headers={**good, "ce-arrivedat": "2030-01-01T00:00:00+00:00"}, content=body).status_code == 204
    assert raw.post("/", headers={**good, "ce-reportedby": "device"}, content=body).status_code == 204
    assert count(persons) == 0
    assert raw.post("/", headers=good, content=body).status_code == 200  # as ingest sent it
    assert count(persons) == 1


def test_a_device_report_is_stored_only_for_that_devices_own_person(raw, persons: Engine, device_of_1: str) -> None:  # noqa: F811
    headers, body = report(2, device_of_1)  # person 1's device, reporting person 2
    assert raw.post("/", headers=proved(headers, body, "device"), content=body).status_code == 204
    headers, body = report(2, "/not-a-device")  # a device's report always names its device's source
    assert raw.post("/", headers=proved(headers, body, "device"), content=body).status_code == 204
    assert count(persons) == 0
    headers, body = report(1, device_of_1)
    assert raw.post("/", headers=proved(headers, body, "device"), content=body).status_code == 200
    assert count(persons) == 1 and count(persons, "person_id = 1") == 1


def test_an_organizers_import_keeps_its_own_source(raw, persons: Engine) -> None:  # noqa: F811
    headers, body = report(3, "/import/original-udaconnect")
    assert raw.post("/", headers=proved(headers, body, "organizer"), content=body).status_code == 200
    assert count(persons, "event_source = '/import/original-udaconnect' AND person_id = 3") == 1
