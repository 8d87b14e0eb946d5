"""Erasure: DELETE /api/persons/{id} removes the person and what is theirs in one transaction and announces it;
persist then drops the person's in-flight fixes (204, counted), and encounters makes nothing of them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from bearer import headers as bearer
from udaconnect.settings import PROJECT_ROOT

MAIN = str(PROJECT_ROOT / "functions" / "main.py")
AT = datetime(2026, 3, 2, 10, 14, tzinfo=UTC)


def report(person_id: int, event_id: str, minutes: float = 0) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/devices/phone", "Prefer": "reply",
               "ce-type": "io.udaconnect.location.reported.v1", "Content-Type": "application/json"}
    body = {"person_id": person_id, "latitude": 37.78, "longitude": -122.4,
            "recorded_at": (AT + timedelta(minutes=minutes)).isoformat()}
    return headers, json.dumps(body).encode()


def buffered(person_id: int, event_id: str, fixes: int = 3) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/devices/phone",
               "ce-type": "io.udaconnect.locations.reported.v1", "Content-Type": "application/json"}
    body = {"person_id": person_id, "fixes": [{"latitude": 37.78, "longitude": -122.4,
                                               "recorded_at": (AT + timedelta(minutes=m)).isoformat()}
                                              for m in range(fixes)]}
    return headers, json.dumps(body).encode()


@pytest.fixture
def people(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES "
                          "('Ada', 'Lovelace', 'Acme'), ('Alan', 'Turing', 'Bletchley'), ('Grace', 'Hopper', 'Navy')"))
        conn.execute(text("INSERT INTO device (id, person_id, name, token_sha256) VALUES (:id, 1, 'phone', '\\x00')"),
                     {"id": str(uuid.uuid4())})
    return db


@pytest.fixture
def functions(app_env, monkeypatch, persons_client):  # type: ignore[no-untyped-def]
    """persist, encounters (ASGI) and persons, in-process on the test database."""
    from functions_framework import create_app
    from starlette.testclient import TestClient

    monkeypatch.setenv("DATABASE_URL", app_env.database_url)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    from persist.test_function import asgi_client  # with ingest's delivery proof, as the broker delivers

    return (asgi_client(), TestClient(create_app("encounters", MAIN), headers=bearer()),
            persons_client)


def counts(engine: Engine, person_id: int) -> dict[str, int]:
    queries = {"person": "SELECT count(*) FROM person WHERE id = :p",
               "device": "SELECT count(*) FROM device WHERE person_id = :p",
               "location": "SELECT (SELECT count(*) FROM location WHERE person_id = :p) "
                           "+ (SELECT count(*) FROM location_untrusted WHERE person_id = :p)",
               "encounter": "SELECT count(*) FROM encounter WHERE :p IN (person_a, person_b)",
               "encounter_scan": "SELECT count(*) FROM encounter_scan s JOIN location l ON l.id = s.location_id "
                                 "WHERE l.person_id = :p",
               "erasure": "SELECT count(*) FROM person_erasure WHERE person_id = :p"}
    with engine.connect() as conn:
        return {name: int(conn.execute(text(sql), {"p": person_id}).scalar_one()) for name, sql in queries.items()}


def forward(reply) -> tuple[dict[str, str], bytes]:  # type: ignore[no-untyped-def]
    """persist's reply as the dispatcher writes it back to the broker (and encounters receives it)."""
    return ({k: v for k, v in reply.headers.items() if k.startswith("ce-") or k == "content-type"}, reply.content)


def meet(persist, encounters) -> None:  # type: ignore[no-untyped-def]
    """Persons 1 and 2 at the same place a minute apart: one encounter."""
    for person, key, minutes in ((1, "a", 0), (2, "b", 1)):
        reply = persist.post("/", headers=report(person, key, minutes)[0], content=report(person, key, minutes)[1])
        assert reply.status_code == 200
        stored = forward(reply)
        assert encounters.post("/", headers=stored[0], content=stored[1]).status_code == 204


def test_an_organizer_erases_a_person_and_everything_theirs_in_one_transaction(people, functions) -> None:
    persist, encounters, persons = functions
    meet(persist, encounters)
    assert counts(people, 1) == {"person": 1, "device": 1, "location": 1, "encounter": 1, "encounter_scan": 1,
                                 "erasure": 0}
    reply = persons.delete("/api/persons/1")
    assert reply.status_code == 204 and reply.data == b""
    assert counts(people, 1) == {"person": 0, "device": 0, "location": 0, "encounter": 0, "encounter_scan": 0,
                                 "erasure": 1}
    assert counts(people, 2)["location"] == 1, "the other person's fixes stay"
    with people.connect() as conn:
        [event] = conn.execute(text("SELECT type, source, attributes, data FROM event_outbox "
                                    "WHERE type = 'io.udaconnect.person.deleted.v1'")).all()
        detected = conn.execute(text("SELECT count(*) FROM event_outbox "
                                     "WHERE type = 'io.udaconnect.encounter.detected.v1'")).scalar_one()
        audit = conn.execute(text("SELECT actor, action, person_id FROM audit_log")).all()
    from udaconnect.contracts.events import PersonDeleted

    deleted = PersonDeleted.model_validate_json(bytes(event.data))
    assert deleted.person_id == 1 and event.attributes["subject"] == "1" and event.source == "/udaconnect/persons"
    assert detected == 0, "the undelivered announcement of an encounter of the erased person went with it"
    assert [(a.action, a.person_id) for a in audit] == [("erase person", 1)]
    assert persons.delete("/api/persons/1").status_code == 404
    assert persons.get("/api/persons/1").status_code == 404


def test_an_attendee_erases_themselves_but_no_one_else(people, functions, settings) -> None:
    persons = functions[2]
    assert persons.delete("/api/persons/2", headers=bearer(role="attendee", person_id=3)).status_code == 403
    assert persons.delete("/api/persons/2", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert counts(people, 2)["person"] == 1
    assert persons.delete("/api/persons/2", headers=bearer(role="attendee", person_id=2)).status_code == 204
    assert counts(people, 2)["person"] == 0
    with people.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 0, "one's own: not audited"
    assert persons.delete("/api/persons/x").status_code == 404
    assert persons.delete("/api/persons/99").status_code == 404


def test_in_flight_fixes_of_an_erased_person_are_dropped_and_counted_never_stored(people, functions) -> None:
    from udaconnect.persist import function as persist_function

    persist, encounters, persons = functions
    early = persist.post("/", headers=report(1, "early")[0], content=report(1, "early")[1])
    assert early.status_code == 200  # stored; its location.stored is still on its way to encounters
    assert persons.delete("/api/persons/1").status_code == 204
    counter = persist_function._writer()  # the process's writer, as persist finds it
    before = counter.erased
    for headers, body in (report(1, "late", 2), buffered(1, "late-batch"), report(1, "early")):
        reply = persist.post("/", headers=headers, content=body)
        assert reply.status_code == 204 and reply.content == b"", reply.content
        assert "ce-type" not in reply.headers, "no location.stored reply for a dropped fix"
    assert counter.erased - before == 1 + 3 + 1
    assert counts(people, 1)["location"] == 0
    # the fix stored before the erasure reaches encounters after it: nothing to detect, no encounter
    other = persist.post("/", headers=report(2, "other", 1)[0], content=report(2, "other", 1)[1])
    for reply in (early, other):
        stored = forward(reply)
        assert encounters.post("/", headers=stored[0], content=stored[1]).status_code == 204
    assert counts(people, 1)["encounter"] == 0 and counts(people, 2)["encounter"] == 0
    # a person that never existed is still refused (dead-lettered), not silently dropped
    assert persist.post("/", headers=report(77, "ghost")[0], content=report(77, "ghost")[1]).status_code == 422


def test_an_erased_persons_id_is_never_given_out_again(people, functions) -> None:
    persons = functions[2]
    assert persons.delete("/api/persons/3").status_code == 204
    created = persons.post("/api/persons", json={"first_name": "New", "last_name": "Comer", "company_name": "X"})
    assert created.status_code == 201 and created.get_json()["id"] == 4


def test_on_the_local_stack_an_erasure_mid_flight_leaves_no_fix_and_no_dead_letter(postgres_server: str) -> None:
    """Reports of a person in flight on the real data plane (ingest -> Kafka -> broker -> persist) while the
    person is erased through the gateway: none is stored, none is dead-lettered, persist counts the drops."""
    import time
    import urllib.request

    from tests.conftest import create_database

    from udaconnect.ports import free_port
    from udaconnect.storage import database
    from udaconnect_dev.localstack import LocalStack
    from udaconnect_dev.simulator import post

    settings = create_database(postgres_server, "udaconnect_erasure_stack")
    engine = database.engine(settings)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES ('A', 'B', 'C'), "
                          "('D', 'E', 'F')"))
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    stack.start()
    try:
        def batch(start: int, person: int = 1) -> list[dict]:
            return [{"specversion": "1.0", "id": f"e{start + i}", "source": "/import/erasure-test",
                     "type": "io.udaconnect.location.reported.v1", "datacontenttype": "application/json",
                     "data": {"person_id": person, "latitude": 37.78, "longitude": -122.4,
                              "recorded_at": (AT + timedelta(seconds=start + i)).isoformat()}} for i in range(100)]

        url, token = stack.api_url + "/api/events", stack.token()
        assert post(url, batch(0), token=token) == 202
        erase = urllib.request.Request(stack.api_url + "/api/persons/1", method="DELETE",
                                       headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(erase, timeout=30) as reply:
            assert reply.status == 204
        for start in (100, 200):
            assert post(url, batch(start), token=token) == 202
        assert post(url, batch(300, person=2), token=token) == 202  # someone else's, stored as ever

        def delivery() -> dict[str, int]:
            with urllib.request.urlopen(stack.processes["broker"].url + "/status", timeout=5) as reply:
                [persist] = [t for t in json.loads(reply.read())["triggers"]
                             if t["name"] == "persist-location-reported"]
                return dict(persist["counts"])

        deadline = time.monotonic() + 90
        while delivery().get("delivered", 0) < 400 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert delivery().get("delivered", 0) >= 400 and delivery().get("dead-lettered", 0) == 0, delivery()
        assert counts(engine, 1) == {"person": 0, "device": 0, "location": 0, "encounter": 0, "encounter_scan": 0,
                                     "erasure": 1}
        assert counts(engine, 2)["location"] == 100
        log = (settings.data_dir / "logs" / "persist.log").read_text()
        assert "of erased person 1" in log
    finally:
        stack.stop()
