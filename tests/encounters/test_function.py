"""The encounters target: persist's stored-fix replies delivered to it make one encounter and one announcement
whatever is redelivered; the API lists them; the live stream pushes a new one within a second and resumes after
Last-Event-ID (a real functions-framework process, real PostGIS); bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from udaconnect.encounters import store
from udaconnect.encounters.live import HEARTBEAT
from udaconnect.ports import free_port
from udaconnect.settings import PROJECT_ROOT
from udaconnect_dev.localstack import function_command

MAIN = str(PROJECT_ROOT / "functions" / "main.py")
AT = datetime(2026, 3, 2, 10, 14, tzinfo=UTC)


def report(person_id: int, event_id: str, minutes: float = 0, north_m: float = 0) -> tuple[dict[str, str], bytes]:
    headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/devices/phone", "Prefer": "reply",
               "ce-type": "io.udaconnect.location.reported.v1", "Content-Type": "application/json"}
    body = {"person_id": person_id, "latitude": 37.78 + north_m / 111_000, "longitude": -122.4,
            "recorded_at": (AT + timedelta(minutes=minutes)).isoformat()}
    return headers, json.dumps(body).encode()


@pytest.fixture
def people(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES "
                          "('Ada', 'Lovelace', 'Acme'), ('Alan', 'Turing', 'Bletchley'), ('Grace', 'Hopper', 'Navy')"))
    return db


@pytest.fixture
def clients(app_env, monkeypatch):  # type: ignore[no-untyped-def]
    from functions_framework import create_app
    from starlette.testclient import TestClient

    monkeypatch.setenv("DATABASE_URL", app_env.database_url)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    from bearer import headers
    from persist.test_function import asgi_client  # with ingest's delivery proof, as the broker delivers

    return asgi_client(), TestClient(create_app("encounters", MAIN), headers=headers())


def announced(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [json.loads(bytes(r[0])) for r in conn.execute(text(
            "SELECT data FROM event_outbox WHERE type = 'io.udaconnect.encounter.detected.v1' ORDER BY seq"))]


def test_stored_fixes_make_one_encounter_and_one_announcement_whatever_is_redelivered(people, clients) -> None:
    persist, encounters = clients
    replies = []
    for person, key, minutes in ((1, "a", 0), (2, "b", 1), (1, "c", 3)):
        reply = persist.post("/", headers=report(person, key, minutes)[0], content=report(person, key, minutes)[1])
        assert reply.status_code == 200
        replies.append(({k: v for k, v in reply.headers.items() if k.startswith("ce-") or k == "content-type"},
                        reply.content))
    for headers, body in replies + replies[::-1]:  # each delivered twice, in both orders
        answer = encounters.post("/", headers=headers, content=body)
        assert answer.status_code == 204 and answer.content == b""
    events = announced(people)
    assert len(events) == 1 and events[0]["person_ids"] == [1, 2]
    listed = encounters.get("/api/persons/2/encounters?start_date=2026-03-02&end_date=2026-03-02")
    assert listed.status_code == 200
    [found] = listed.json()
    assert found["person"]["first_name"] == "Ada" and found["contacts"] == 2
    assert (found["first_seen"], found["last_seen"]) == (AT.isoformat(), (AT + timedelta(minutes=3)).isoformat())
    assert encounters.get("/api/persons/2/encounters?start_date=2026-03-03&end_date=2026-03-04").json() == []
    assert encounters.get("/api/persons/3/encounters?start_date=2026-03-02&end_date=2026-03-02").json() == []


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 405), ("GET", "/nowhere", 404), ("GET", "/api/persons/x/encounters", 404),
    ("GET", "/api/persons/99/encounters?start_date=2026-03-02&end_date=2026-03-02", 404),
    ("GET", "/api/persons/1/encounters", 400),
    ("GET", "/api/persons/1/encounters?start_date=2026-03-02&end_date=x", 400),
    ("GET", "/api/persons/1/encounters?start_date=2026-03-03&end_date=2026-03-02", 400),
    ("GET", "/api/persons/1/encounters?start_date=2026-03-02&end_date=2026-03-02&start_date=2026-03-01", 400),
    ("POST", "/api/persons/1/encounters", 405), ("HEAD", "/api/persons/1/encounters/live", 405),
    ("GET", "/api/persons/99999999999/encounters/live", 404), ("GET", "/api/persons/99/encounters/live", 404),
])
def test_bad_requests_are_4xx(people, clients, method: str, path: str, status: int) -> None:
    assert clients[1].request(method, path).status_code == status


def test_bad_deliveries_are_4xx_and_dead_lettered(people, clients) -> None:
    encounters = clients[1]
    assert encounters.post("/", content=b"nothing").status_code == 400
    headers, body = report(1, "x")
    assert encounters.post("/", headers=headers, content=body).status_code == 422  # a report, not a stored fix
    stored = {**headers, "ce-type": "io.udaconnect.location.stored.v1"}
    assert encounters.post("/", headers=stored, content=b"{}").status_code == 422
    assert encounters.post("/", headers=stored, content=b"[[[").status_code == 422
    assert encounters.get("/api/persons/1/encounters/live", headers={"Last-Event-ID": "x"}).status_code == 400


class Stream:
    """An SSE client on a real socket: (event, id, data) tuples as they arrive, with their arrival time."""

    def __init__(self, url: str, last_event_id: str | None = None, bearer: str | None = None) -> None:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {}),
                   **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
        self.reply = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30)
        self.events: list[tuple[str, str, str, float]] = []
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event, ident, data = "message", "", ""
        for raw in self.reply:
            line = raw.decode().rstrip("\n")
            if not line:
                if data or ident:
                    self.events.append((event, ident, data, time.monotonic()))
                event, ident, data = "message", "", ""
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data = line[6:]
        self.ended.set()

    def wait(self, kind: str, count: int = 1, timeout: float = 10) -> list[tuple[str, str, str, float]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events if e[0] == kind]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{count} {kind} event(s) did not arrive: {self.events}")


@pytest.fixture
def server(settings, people):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "UDACONNECT_LIVE_TIMEOUT": "6",
           "FUNCTION_TARGET": "encounters", "UDACONNECT_AUTH_JWKS_FILE": settings.auth_jwks_file}
    process = subprocess.Popen(function_command("encounters", port), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


def meet(engine: Engine, key: str, minutes: float, *persons: int) -> None:
    with engine.begin() as conn:
        for person in persons:
            conn.execute(text("INSERT INTO location (person_id, coordinate, creation_time, event_source, event_id) "
                              "VALUES (:p, 'SRID=4326;POINT(-122.4 37.78)', :t, '/t', :k)"),
                         {"p": person, "t": AT + timedelta(minutes=minutes), "k": f"{key}-{person}"})
    with engine.begin() as conn:
        store.detect(conn, [("/t", f"{key}-{p}") for p in persons], 5.0, timedelta(minutes=5))


def test_the_live_stream_pushes_a_new_encounter_and_resumes_after_last_event_id(people, server) -> None:
    from bearer import token

    live = server + "/api/persons/1/encounters/live"
    # someone else's token is refused; the person's own in the URL too (URLs end up in logs): 400, naming it
    for someone_else in (token(role="attendee", person_id=2), token(role="device", person_id=1, device_id="d")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(live, headers={"Authorization": f"Bearer {someone_else}"}),
                                   timeout=10)
        assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as in_url:
        urllib.request.urlopen(live + f"?access_token={token(role='attendee', person_id=1)}", timeout=10)
    assert in_url.value.code == 400 and json.load(in_url.value)["errors"][0]["field"] == "access_token"
    stream = Stream(live, bearer=token(role="attendee", person_id=1))
    [(_, ready_id, _, _)] = stream.wait("ready")
    # Pushed, not polled: each wait below (10 s) is shorter than the stream's catch-up read (live.HEARTBEAT, 15 s).
    # How fast a push arrives is measured by `nox -s bench -- encounters`, not asserted here.
    assert HEARTBEAT > 10, "a stream's catch-up read could pass for a push"
    meet(people, "first", 0, 1, 2)
    [(_, first_id, data, _)] = stream.wait("encounter")
    assert json.loads(data)["person"]["last_name"] == "Turing" and int(first_id) > int(ready_id)
    meet(people, "unrelated", 200, 2, 3)  # not person 1's
    meet(people, "later", 60, 1, 3)
    found = stream.wait("encounter", 2)
    assert [json.loads(e[2])["person"]["first_name"] for e in found] == ["Alan", "Grace"]
    assert stream.ended.wait(10), "the stream ends after UDACONNECT_LIVE_TIMEOUT"
    resumed = Stream(live, last_event_id=first_id, bearer=token(role="attendee", person_id=1))
    again = resumed.wait("encounter")
    # a marker after it: one stream sends in id order, so a repeat or a `ready` would have come before the marker
    meet(people, "marker", 120, 1, 2)
    resumed.wait("encounter", 2)
    assert [json.loads(e[2])["person"]["first_name"] for e in resumed.events if e[0] == "encounter"] == \
        ["Grace", "Alan"]
    assert again[0][1] == found[1][1]
    assert not [e for e in resumed.events if e[0] == "ready"]
