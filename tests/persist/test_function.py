"""The persist target as the broker's dispatcher sees it: binary-mode deliveries in, status codes out."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from bearer import proved
from udaconnect import bootstrap
from udaconnect.contracts.events import LOCATION_REPORTED
from udaconnect.ports import free_port
from udaconnect.settings import PROJECT_ROOT

MAIN = str(PROJECT_ROOT / "functions" / "main.py")


def delivery(person_id: int = 1, event_id: str | None = None, **data: object) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": event_id or str(uuid.uuid4()), "ce-source": "/devices/phone-1",
               "ce-type": LOCATION_REPORTED, "ce-partitionkey": str(person_id), "Content-Type": "application/json",
               "Prefer": "reply"}
    body = {"person_id": person_id, "latitude": 37.55, "longitude": -122.29, "recorded_at": "2020-08-18T10:37:06Z",
            **data}
    return headers, json.dumps(body).encode()


@pytest.fixture
def persons(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          "SELECT 'P', 'N' || g, 'C' FROM generate_series(1, 3) g"))
    return db


def asgi_client(proving: bool = True):  # type: ignore[no-untyped-def]
    """The persist target as functions-framework serves it (an ASGI app: persist is an aio function); each
    binary-mode delivery carries ingest's delivery proof (an organizer's import) unless `proving` is off or the
    test sent a proof of its own (tests/persist/test_proof.py sends none, or forged ones)."""
    from functions_framework import create_app
    from starlette.testclient import TestClient

    client = TestClient(create_app("persist", MAIN))
    if proving:
        send = client.post

        def post(url, *, headers=None, content=None, **kwargs):  # type: ignore[no-untyped-def]
            if headers and "ce-deliveryproof" not in {k.lower() for k in headers} and isinstance(content, bytes) \
                    and any(k.lower().startswith("ce-") for k in headers):
                headers = proved(dict(headers), content)
            return send(url, headers=headers, content=content, **kwargs)

        client.post = post  # type: ignore[method-assign]
    return client


@pytest.fixture
def client(app_env, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", app_env.database_url)
    bootstrap.reset()
    return asgi_client()


def count(engine: Engine, where: str = "true") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM location WHERE {where}")).scalar_one())


def assert_stored_reply(reply, person_id: int, source: str, event_id: str) -> None:
    """200 with io.udaconnect.location.stored.v1 in binary mode: the dispatcher writes it back to the broker."""
    assert reply.status_code == 200, reply.content
    assert reply.headers["ce-type"] == "io.udaconnect.location.stored.v1"
    assert reply.headers["ce-source"] == "/udaconnect/persist" and reply.headers["ce-specversion"] == "1.0"
    assert reply.headers["ce-id"] == f"{source}#{event_id}" and reply.headers["ce-partitionkey"] == str(person_id)
    data = json.loads(reply.content)
    assert (data["person_id"], data["report_source"], data["report_id"]) == (person_id, source, event_id)


def test_a_delivery_is_stored_and_answered_with_a_stored_event(client, persons: Engine) -> None:
    headers, body = delivery(2, "fix-1", accuracy=4.5)
    reply = client.post("/", headers=headers, content=body)
    assert_stored_reply(reply, 2, "/devices/phone-1", "fix-1")
    from udaconnect.contracts.events import LocationStored

    assert LocationStored.model_validate_json(reply.content).recorded_at.isoformat() == "2020-08-18T10:37:06+00:00"
    with persons.connect() as conn:
        row = conn.execute(text("SELECT person_id, ST_X(coordinate::geometry), ST_Y(coordinate::geometry), "
                                "creation_time, accuracy, event_source, event_id FROM location")).one()
    assert row[0] == 2 and row[1] == pytest.approx(-122.29) and row[2] == pytest.approx(37.55)
    assert row[3].isoformat() == "2020-08-18T10:37:06+00:00" and row[4] == pytest.approx(4.5)
    assert (row[5], row[6]) == ("/devices/phone-1", "fix-1")


def test_a_redelivery_never_makes_a_second_row_and_announces_the_same_event(client, persons: Engine) -> None:
    headers, body = delivery(1, "same-id")
    for _ in range(3):  # the first reply may have been lost: each redelivery answers the same event
        assert_stored_reply(client.post("/", headers=headers, content=body), 1, "/devices/phone-1", "same-id")
    assert count(persons) == 1
    # the same id from another device is another event
    other = {**headers, "ce-source": "/devices/phone-2"}
    assert client.post("/", headers=other, content=body).status_code == 200
    assert count(persons) == 2


def test_unknown_person_is_refused_with_a_reason_and_not_retried(client, persons: Engine) -> None:
    reply = client.post("/", headers=(d := delivery(999))[0], content=d[1])
    assert reply.status_code == 422 and reply.headers["content-type"] == "application/problem+json"
    assert "person 999 does not exist" in reply.json()["detail"]
    assert count(persons) == 0


@pytest.mark.parametrize("change, status", [
    ({"ce-type": "io.udaconnect.person.created.v1"}, 422),
    ({"ce-specversion": None}, 400),
    ({"ce-id": None}, 400),
    ({"ce-id": "nul%00inside"}, 422),  # PostgreSQL text cannot hold NUL: refused, never a failing batch
    ({"body": b"{not json"}, 422),
    ({"body": json.dumps({"person_id": 1, "latitude": 91, "longitude": 0,
                          "recorded_at": "2020-08-18T10:37:06Z"}).encode()}, 422),
    ({"body": json.dumps({"person_id": 1, "latitude": 1, "longitude": 0, "recorded_at": "2020-08-18T10:37:06"})
      .encode()}, 422),
])
def test_malformed_deliveries_are_refused_with_4xx(client, persons: Engine, change: dict, status: int) -> None:
    headers, body = delivery(1)
    body = change.pop("body", body)
    headers = {k: v for k, v in {**headers, **change}.items() if v is not None}
    reply = client.post("/", headers=headers, content=body)
    assert reply.status_code == status and reply.headers["content-type"] == "application/problem+json"
    assert count(persons) == 0


def test_one_unknown_person_does_not_fail_its_neighbours(client, persons: Engine) -> None:
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: client.post("/", headers=(d := delivery(i % 5 + 1))[0], content=d[1])
                                 .status_code, range(40)))
    assert statuses.count(200) == count(persons) == 24 and statuses.count(422) == 16


def test_concurrent_deliveries_share_transactions_and_each_answer_follows_its_commit(client, persons: Engine,
                                                                                      app_env) -> None:
    from udaconnect.persist import group_commit

    group = group_commit.for_url(app_env.database_url)
    before = group.batches
    mismatches = []

    def deliver(i: int) -> int:
        headers, body = delivery(i % 3 + 1, f"concurrent-{i}")
        status = client.post("/", headers=headers, content=body).status_code
        # answered only after commit: another connection already sees the row
        if count(persons, f"event_id = 'concurrent-{i}'") != 1:
            mismatches.append(i)
        return status

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(deliver, range(200)))
    assert statuses == [200] * 200 and not mismatches and count(persons) == 200
    print(f"200 deliveries in {group.batches - before} transactions")
    assert group.batches - before < 150, "concurrent deliveries were not grouped"


def test_database_down_answers_503_so_the_broker_retries(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    bootstrap.reset()
    client = asgi_client()
    reply = client.post("/", headers=(d := delivery(1))[0], content=d[1])
    assert reply.status_code == 503 and reply.headers.get("Retry-After")


def test_health_and_methods(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/").status_code == 405


def test_writer_recovers_after_a_failed_transaction(persons: Engine, app_env) -> None:
    from udaconnect.persist.group_commit import GroupCommitWriter, Row
    from udaconnect.storage.urls import libpq

    group = GroupCommitWriter(libpq(app_env.database_url))
    row = Row(1, 1.0, 2.0, datetime(2020, 1, 1, tzinfo=UTC), None, "/devices/x", "recover", imported=True)
    # kill the writer's connection from the server side, between two writes
    assert group.write(row) == "stored"
    with persons.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'udaconnect-persist'"))
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(group.write(row))
        except Exception as error:  # the first write on the dead connection may fail: that is a 503
            outcomes.append(type(error).__name__)
    assert outcomes[-1] == "duplicate" and count(persons) == 1
