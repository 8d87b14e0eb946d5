"""The outbox: a person.created event is never lost when the broker is down, and leaves the outbox exactly once."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, text

import ingest.conftest as ingest
from udaconnect import cli
from udaconnect.api import announce
from udaconnect.contracts.api import NewPerson, Person
from udaconnect.contracts.events import PERSON_CREATED
from udaconnect.events import outbox, publisher
from udaconnect.events.event import Event
from udaconnect.ports import free_port
from udaconnect.queries.persons import create_person
from udaconnect.settings import Settings

# the broker fixtures (a real tansu with the broker topic, and the env pointing publishers at it)
kafka, ingest_env, TOPIC = ingest.kafka, ingest.ingest_env, ingest.TOPIC
ADA = {"first_name": "Ada", "last_name": "Lovelace", "company_name": "Analytical Engines"}


@pytest.fixture
def outbox_db(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("TRUNCATE event_outbox"))
    return db


def _announced(bootstrap: str) -> list[tuple[bytes, Event]]:
    """(key, event) of every person.created record in the broker topic, from the start to the current end."""
    from kafka import KafkaConsumer, TopicPartition

    from udaconnect.events.kafka_client import event_of

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end, found = consumer.end_offsets(partitions), []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                found += [(r.key, event_of(r)) for r in records]
        return [(key, e) for key, e in found if e.attributes.get("type") == PERSON_CREATED]
    finally:
        consumer.close()


def _times_published(bootstrap: str, ids: set[str]) -> Counter[str]:
    return Counter(e.attributes["id"] for _, e in _announced(bootstrap) if e.attributes["id"] in ids)


def _rows(engine: Engine) -> list:
    with engine.connect() as conn:
        return outbox.pending(conn)


def _person_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM person")).scalar_one())


def _wait(check, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the outbox"
        time.sleep(0.05)


def test_the_answer_never_waits_on_a_stalled_broker(ingest_env, outbox_db, persons_client, monkeypatch) -> None:
    """A Kafka that accepts connections and never answers held each POST /api/persons for the publish timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing ever answers
    try:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "5")
        publisher.for_settings.cache_clear()
        began = time.monotonic()
        reply = persons_client.post("/api/persons", json=ADA)
        took = time.monotonic() - began
        assert reply.status_code == 201 and took < 4, took  # not held for the 5 s publish timeout
        assert len(_rows(outbox_db)) == 1  # the event waits in the outbox
    finally:
        silent.close()
        publisher.for_settings.cache_clear()


def test_a_created_person_is_announced_once_and_leftovers_follow(ingest_env, kafka, outbox_db,
                                                                  persons_client) -> None:
    leftover = announce.person_created(Person(id=999_999, **ADA))
    with outbox_db.begin() as conn:
        outbox.add(conn, [leftover])
    reply = persons_client.post("/api/persons", json=ADA)
    assert reply.status_code == 201
    _wait(lambda: _rows(outbox_db) == [])  # its own event, and the leftover relayed after it
    announced = _announced(kafka.bootstrap_servers)
    own = [e for _, e in announced if json.loads(e.data or b"null") == reply.get_json()]
    assert len(own) == 1
    assert Counter(e.attributes["id"] for _, e in announced)[leftover.attributes["id"]] == 1


def test_a_person_created_while_the_broker_is_down_is_announced_by_flush(ingest_env, kafka, outbox_db,
                                                                         persons_client, monkeypatch,
                                                                         capsys) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "1")
    publisher.for_settings.cache_clear()
    reply = persons_client.post("/api/persons", json=ADA)
    assert reply.status_code == 201  # the person exists, its event waits
    person = reply.get_json()
    _wait(lambda: [r.attempts for r in _rows(outbox_db)] == [1])
    [row] = _rows(outbox_db)
    assert row.attempts == 1 and "Kafka did not take" in row.last_error
    assert cli.main(["outbox", "list"]) == 0
    assert row.id in capsys.readouterr().out

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    assert cli.main(["outbox", "flush"]) == 0
    assert "published 1 event(s)" in capsys.readouterr().out
    assert _rows(outbox_db) == []
    [(key, event)] = [(k, e) for k, e in _announced(kafka.bootstrap_servers) if e.attributes["id"] == row.id]
    assert json.loads(event.data or b"null") == person and key == str(person["id"]).encode()  # the whole event
    assert event.attributes["subject"] == str(person["id"])
    assert cli.main(["outbox", "flush"]) == 0  # nothing left: nothing published again
    assert "published 0 event(s)" in capsys.readouterr().out
    assert _times_published(kafka.bootstrap_servers, {row.id}) == {row.id: 1}


def test_a_failed_flush_keeps_the_event_and_counts_the_attempt(outbox_db, monkeypatch, app_env, capsys) -> None:
    event = announce.person_created(Person(id=7, **ADA))
    with outbox_db.begin() as conn:
        outbox.add(conn, [event])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("UDACONNECT_PUBLISH_TIMEOUT", "1")
    assert cli.main(["outbox", "flush"]) == 1
    assert "published 0 event(s)" in capsys.readouterr().out
    [row] = _rows(outbox_db)
    assert row.id == event.attributes["id"] and row.attempts == 1 and row.last_error


def test_the_person_and_its_event_commit_or_roll_back_together(outbox_db, persons_client) -> None:
    with pytest.raises(RuntimeError), outbox_db.begin() as conn:
        created = create_person(conn, NewPerson(**ADA))
        outbox.add(conn, [announce.person_created(created)])
        raise RuntimeError("the request dies before the commit")
    assert _person_count(outbox_db) == 0 and _rows(outbox_db) == []

    with outbox_db.begin() as conn:  # the outbox refuses the row: the person must not be committed alone
        conn.execute(text("CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$"))
        conn.execute(text("CREATE TRIGGER test_refuse BEFORE INSERT ON event_outbox "
                          "FOR EACH ROW EXECUTE FUNCTION test_refuse()"))
    try:
        assert persons_client.post("/api/persons", json=ADA).status_code >= 500
    finally:
        with outbox_db.begin() as conn:
            conn.execute(text("DROP TRIGGER test_refuse ON event_outbox"))
            conn.execute(text("DROP FUNCTION test_refuse()"))
    assert _person_count(outbox_db) == 0 and _rows(outbox_db) == []


class _Holding:
    """The real publisher; each relay's first publish waits for the other's, so both hold rows at once."""

    def __init__(self, inner: publisher.Publisher, barrier: threading.Barrier) -> None:
        self.inner, self.barrier, self.ids = inner, barrier, []  # type: list[str]
        self.waited = False

    def publish(self, events: Sequence[Event]) -> None:
        if not self.waited:
            self.waited = True
            self.barrier.wait()  # a relay blocked on the other's locks never gets here: the barrier breaks
        self.inner.publish(events)
        self.ids += [e.attributes["id"] for e in events]


def test_two_relays_at_once_never_publish_a_row_twice(ingest_env, kafka, outbox_db) -> None:
    events = [announce.person_created(Person(id=i, **ADA)) for i in range(1, 61)]
    with outbox_db.begin() as conn:
        outbox.add(conn, events)
    barrier = threading.Barrier(2, timeout=15)
    real = publisher.for_settings(Settings.from_env())
    relays = [_Holding(real, barrier) for _ in range(2)]
    results: list[tuple[int, object]] = []
    threads = [threading.Thread(target=lambda r=r: results.append(outbox.relay(outbox_db, r, batch=10)))
               for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=str) and all(failure is None for _, failure in results), results
    assert sum(n for n, _ in results) == 60
    first, second = (set(r.ids) for r in relays)
    assert first and second and not first & second  # both relayed, never the same row
    ids = {e.attributes["id"] for e in events}
    assert first | second == ids and _rows(outbox_db) == []
    assert _times_published(kafka.bootstrap_servers, ids) == dict.fromkeys(ids, 1)
