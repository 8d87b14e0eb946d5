"""persons announces io.udaconnect.person.created.v1 after the commit, and still answers 201 without a broker."""

from __future__ import annotations

import json

from sqlalchemy import text

from ingest.conftest import TOPIC
from udaconnect import bootstrap
from udaconnect.contracts.events import PERSON_CREATED, PERSONS_SOURCE
from udaconnect.events import outbox


def _person_events(bootstrap: str) -> list:
    from kafka import KafkaConsumer, TopicPartition

    from udaconnect.events.kafka_client import event_of

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end, events = consumer.end_offsets(partitions), []
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=500).values():
            events += [(r.key, event_of(r)) for r in records]
    consumer.close()
    return [(key, e) for key, e in events if e.attributes.get("type") == PERSON_CREATED]


def test_creating_a_person_publishes_person_created(ingest_env, kafka, db, persons_client) -> None:
    reply = persons_client.post("/api/persons", json={"first_name": "Ada", "last_name": "L", "company_name": "AE"})
    assert reply.status_code == 201
    person = reply.get_json()
    outbox.settle()  # published after the answer
    matching = [(k, e) for k, e in _person_events(kafka.bootstrap_servers) if json.loads(e.data) == person]
    assert len(matching) == 1
    key, event = matching[0]
    assert key == str(person["id"]).encode() and event.attributes["source"] == PERSONS_SOURCE
    assert event.attributes["subject"] == str(person["id"])


def test_the_person_exists_even_when_the_broker_is_down(db, persons_client, monkeypatch) -> None:
    from udaconnect.events import publisher
    from udaconnect.ports import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "1")
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    reply = persons_client.post("/api/persons", json={"first_name": "B", "last_name": "C", "company_name": "D"})
    assert reply.status_code == 201
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM person")).scalar_one() == 1
    publisher.for_settings.cache_clear()
    bootstrap.reset()
