"""Whatever reaches persist and can never be stored is a 4xx (dead-lettered at once), never a 503 retried for
minutes, and never holds its group up; bounded work per delivery (issue 10, findings 5 and 9)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from persist.test_function import client, count, delivery, persons  # noqa: F401 - fixtures
from persist.test_store import conn, row, stored  # noqa: F401 - fixtures
from udaconnect.persist.store import STORED, UNSTORABLE, Row, store

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("changes", [
    {"accuracy": 1e-50},
    {"recorded_at": "2020-08-18T10:37:06+18:00"},
    {"recorded_at": "0001-01-01T00:00:00+14:00"},
    {"person_id": True},
])
def test_a_report_the_database_cannot_hold_is_422(client, persons: Engine, changes: dict) -> None:  # noqa: F811
    headers, body = delivery(**changes)
    started = time.perf_counter()
    reply = client.post("/", headers=headers, content=body)
    assert reply.status_code == 422 and reply.headers["content-type"] == PROBLEM, reply.content
    assert time.perf_counter() - started < 5 and count(persons) == 0


def test_a_value_the_database_refuses_fails_only_its_own_row(conn, db: Engine) -> None:  # noqa: F811
    """Past every check, a value PostgreSQL refuses (here 1e-50 into a REAL) is UNSTORABLE; its group is stored."""
    rows = [row("a"), row("b", accuracy=1e-50), row("c"), Row(1, 1.0, 1.0, datetime(2020, 1, 1, tzinfo=UTC),
                                                             3.4e39, "/devices/a", "d", imported=True), row("e")]
    assert store(conn, rows) == [STORED, UNSTORABLE, STORED, UNSTORABLE, STORED]
    assert [r[2] for r in stored(db)] == ["a", "c", "e"]


def test_twenty_thousand_extension_headers_are_refused_fast(client, persons: Engine) -> None:  # noqa: F811
    """Finding 9: header handling was quadratic; 20,000 extensions stalled persist for 18 s."""
    headers, body = delivery()
    headers.update({f"ce-x{i}": "v" for i in range(20_000)})
    started = time.perf_counter()
    reply = client.post("/", headers=headers, content=body)
    assert reply.status_code == 431 and reply.headers["content-type"] == PROBLEM
    assert time.perf_counter() - started < 9  # half the 18 s of the quadratic handling: a bound, not a goal


def test_a_lone_surrogate_and_deep_nesting_are_4xx(client, persons: Engine) -> None:  # noqa: F811
    event = {"specversion": "1.0", "id": "\ud800", "source": "/devices/a", "type": "io.udaconnect.location.reported.v1",
             "datacontenttype": "application/json",
             "data": {"person_id": 1, "latitude": 1.0, "longitude": 2.0, "recorded_at": "2020-08-18T10:37:06Z"}}
    structured = {"Content-Type": "application/cloudevents+json"}
    reply = client.post("/", headers=structured, content=json.dumps(event))
    assert reply.status_code == 422, reply.content
    reply = client.post("/", headers=structured, content=b"[" * 100_000 + b"]" * 100_000)
    assert 400 <= reply.status_code < 500 and reply.headers["content-type"] == PROBLEM
    headers, _ = delivery()
    reply = client.post("/", headers=headers, content=b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    assert 400 <= reply.status_code < 500 and reply.headers["content-type"] == PROBLEM
    assert count(persons) == 0
