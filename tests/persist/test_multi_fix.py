"""persist and a device's buffered fixes (io.udaconnect.locations.reported.v1): one group, each fix once by its
index however often the report is delivered, and each fix announced as io.udaconnect.location.stored.v1."""

# ruff: noqa: F811 - the fixtures imported below are taken as arguments under their own names

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from ingest.conftest import kafka  # noqa: F401 - the session's real tansu
from persist.test_function import asgi_client, count, persons  # noqa: F401 - persons is a fixture
from udaconnect import bootstrap
from udaconnect.contracts.events import LOCATION_STORED, LOCATIONS_REPORTED, LocationStored


def report(person_id: int = 1, fixes: int = 50, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": event_id or str(uuid.uuid4()), "ce-source": "/devices/phone-1",
               "ce-type": LOCATIONS_REPORTED, "ce-partitionkey": str(person_id), "Content-Type": "application/json",
               "Prefer": "reply"}
    body = {"person_id": person_id, "fixes": [
        {"latitude": 37.55 + i / 1e5, "longitude": -122.29, "recorded_at": f"2020-08-18T10:{i // 60:02d}:{i % 60:02d}Z",
         "accuracy": 5.0} for i in range(fixes)]}
    return headers, json.dumps(body).encode()


@pytest.fixture
def client(app_env, kafka, monkeypatch):  # type: ignore[no-untyped-def]
    from udaconnect.events import publisher
    from udaconnect.persist import group_commit

    group_commit.for_url.cache_clear()  # a fresh connection: test_function's last test kills the writers' connections
    monkeypatch.setenv("DATABASE_URL", app_env.database_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("UDACONNECT_PUBLISHER", "kafka")
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "5")
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    yield asgi_client()
    publisher.for_settings.cache_clear()
    bootstrap.reset()


def announced(bootstrap: str, source: str, event_id: str, fixes: int) -> dict[str, list]:
    """Each announcement's id -> the stored events with that id (all copies in the topic)."""
    ids = {f"{source}#{event_id}#{i}" for i in range(fixes)}
    from kafka import KafkaConsumer, TopicPartition

    from udaconnect.events.kafka_client import event_of
    from udaconnect.settings import Settings

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        topic = Settings().broker_topic
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        found: dict[str, list] = {}
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    event = event_of(record)
                    if event.attributes.get("id") in ids:
                        found.setdefault(event.attributes["id"], []).append((record.key, event))
        return found
    finally:
        consumer.close()


def test_a_multi_fix_report_is_one_group_each_fix_by_its_index_and_each_announced(client, persons: Engine,
                                                                                 kafka, app_env) -> None:
    from udaconnect.persist.function import _writer

    group = _writer()  # the process's own, as persist's composition root makes it
    before = group.batches
    headers, body = report(2, 50, "phone-upload-1")
    answer = client.post("/", headers=headers, content=body)
    assert answer.status_code == 204 and answer.content == b""
    assert group.batches - before == 1  # one transaction for the 50 fixes
    with persons.connect() as conn:
        rows = conn.execute(text("SELECT event_index, person_id, ST_Y(coordinate::geometry), creation_time "
                                 "FROM location WHERE event_id = 'phone-upload-1' ORDER BY event_index")).all()
    assert [r[0] for r in rows] == list(range(50)) and {r[1] for r in rows} == {2}
    assert rows[7][2] == pytest.approx(37.55007) and rows[7][3].isoformat() == "2020-08-18T10:00:07+00:00"
    found = announced(kafka.bootstrap_servers, "/devices/phone-1", "phone-upload-1", 50)
    assert len(found) == 50
    key, event = found["/devices/phone-1#phone-upload-1#7"][0]
    assert key == b"2" and event.attributes["type"] == LOCATION_STORED
    stored = LocationStored.model_validate_json(event.data)
    assert (stored.report_source, stored.report_id, stored.report_index) == ("/devices/phone-1", "phone-upload-1", 7)
    assert stored.latitude == pytest.approx(37.55007) and stored.recorded_at.isoformat() == "2020-08-18T10:00:07+00:00"


def test_a_redelivered_multi_fix_report_stores_each_fix_once_and_announces_again(client, persons: Engine,
                                                                                kafka) -> None:
    headers, body = report(1, 20, "again")
    for _ in range(3):  # redelivered after a lost answer: the fixes are there, announced again
        assert client.post("/", headers=headers, content=body).status_code == 204
    assert count(persons) == 20
    # at once, as the broker redelivers while the first delivery is still in flight, mixed with single fixes
    headers2, body2 = report(3, 30, "racing")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.post("/", headers=headers2, content=body2).status_code, range(8)))
    assert statuses == [204] * 8
    assert count(persons) == 50 and count(persons, "event_id = 'racing'") == 30
    with persons.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT event_index) FROM location WHERE event_id = 'racing'")
                            ).scalar_one() == 30
    found = announced(kafka.bootstrap_servers, "/devices/phone-1", "again", 20)
    assert len(found) == 20 and all(len(copies) == 3 for copies in found.values())
    # the same id from another device, or a single fix with that id, is another report
    other = {**headers, "ce-source": "/devices/phone-2"}
    assert client.post("/", headers=other, content=body).status_code == 204
    assert count(persons) == 70


def test_an_unknown_person_refuses_the_whole_report(client, persons: Engine) -> None:
    reply = client.post("/", headers=(r := report(999, 5))[0], content=r[1])
    assert reply.status_code == 422 and "person 999 does not exist" in reply.json()["detail"]
    assert count(persons) == 0


def test_an_invalid_multi_fix_report_is_refused_naming_the_fix(client, persons: Engine) -> None:
    headers, body = report(1, 5)
    data = json.loads(body)
    data["fixes"][3]["longitude"] = 181
    reply = client.post("/", headers=headers, content=json.dumps(data))
    assert reply.status_code == 422 and [e["field"] for e in reply.json()["errors"]] == ["data.fixes[3].longitude"]
    assert count(persons) == 0


def test_broker_down_answers_503_after_the_commit_and_the_redelivery_announces(client, persons: Engine,
                                                                              monkeypatch, kafka) -> None:
    from udaconnect.events import publisher
    from udaconnect.ports import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "1")
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    headers, body = report(1, 4, "unannounced")
    assert client.post("/", headers=headers, content=body).status_code == 503
    assert count(persons) == 4  # stored, but not done: the broker redelivers
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    assert client.post("/", headers=headers, content=body).status_code == 204
    assert count(persons) == 4
    assert len(announced(kafka.bootstrap_servers, "/devices/phone-1", "unannounced", 4)) == 4
