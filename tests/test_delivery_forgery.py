"""Issue 22's attack on the event path, on a whole local stack: as the owner and as the unprivileged user `nobody`,
a report posted to the broker's ingress (`ce-source: /not-a-device`, and a device's own source naming another
person) and one posted straight to persist are not stored; a device's genuine report through ingest is (so the
wait below proves the forgeries were delivered and dropped, not merely late)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from udaconnect_dev.localstack import LocalStack

#: Posts one binary-mode report with the system's Python (the test's venv need not be readable by nobody).
POST = """
import json, sys, urllib.request, urllib.error
url, headers, body = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].encode()
try:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError as e:
    print("refused", e)
"""


@pytest.fixture(scope="module")
def stack(postgres_server: str) -> Iterator[tuple[LocalStack, Engine]]:
    from tests.conftest import create_database

    from udaconnect.ports import free_port
    from udaconnect.storage import database

    settings = create_database(postgres_server, "udaconnect_delivery_forgery")
    engine = database.engine(settings)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          "SELECT 'P', 'N' || g, 'C' FROM generate_series(1, 6) g"))
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    try:
        stack.start()
        yield stack, engine
    finally:
        stack.stop()


def forged(person_id: int, source: str) -> tuple[dict[str, str], str]:
    headers = {"ce-specversion": "1.0", "ce-id": f"forged-{uuid.uuid4()}", "ce-source": source,
               "ce-type": "io.udaconnect.location.reported.v1", "ce-partitionkey": str(person_id),
               "Content-Type": "application/json"}
    body = {"person_id": person_id, "latitude": 37.55, "longitude": -122.29, "recorded_at": "2020-08-18T10:37:06Z",
            "accuracy": 8.0}
    return headers, json.dumps(body)


def post(url: str, headers: dict[str, str], body: str, user: str | None = None) -> str:
    command = ["/usr/bin/python3", "-c", POST, url, json.dumps(headers), body]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/").stdout.strip()


def stored(engine: Engine, person_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM location WHERE person_id = :p"), {"p": person_id})
                   .scalar_one())


USERS = [None] + (["nobody"] if os.geteuid() == 0 and shutil.which("runuser") else [])


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "owner")
def test_forged_reports_into_the_broker_ingress_and_persist_are_not_stored(stack, user) -> None:
    stack_, engine = stack
    victim = {None: 5, "nobody": 6}[user]
    # a device of person 1, enrolled: its source used for the victim
    request = urllib.request.Request(f"{stack_.api_url}/api/persons/1/devices", method="POST",
                                     data=json.dumps({"name": "phone"}).encode(),
                                     headers={"Authorization": f"Bearer {stack_.token('attendee', 1)}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        device = json.loads(reply.read())
    persist = stack_.processes["persist"].url
    answers, ids = [], []
    for source in ("/not-a-device", f"/devices/{device['device_id']}"):
        headers, body = forged(victim, source)
        answers.append(post(stack_.broker_url, headers, body, user))  # the broker takes it (202) ...
        ids.append(headers["ce-id"])
        headers, body = forged(victim, source)
        answers.append(post(persist, headers, body, user))  # ... and persist, straight, drops it (204)
        ids.append(headers["ce-id"])
    assert answers == ["202", "204", "202", "204"], answers
    # the device's genuine report, through the gateway and ingest, for its own person
    event = {"specversion": "1.0", "id": f"genuine-{uuid.uuid4()}", "source": f"/devices/{device['device_id']}",
             "type": "io.udaconnect.location.reported.v1", "datacontenttype": "application/json",
             "data": {"person_id": 1, "latitude": 37.55, "longitude": -122.29, "recorded_at": "2020-08-18T10:37:06Z",
                      "accuracy": 8.0}}
    before = stored(engine, 1)
    request = urllib.request.Request(f"{stack_.api_url}/api/events", method="POST", data=json.dumps(event).encode(),
                                     headers={"Authorization": f"Bearer {device['token']}",
                                              "Content-Type": "application/cloudevents+json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 202
    deadline = time.monotonic() + 60
    while stored(engine, 1) == before:
        assert time.monotonic() < deadline, "the genuine report was never stored"
        time.sleep(0.25)

    def dropped() -> set[str]:
        return {event_id for line in (stack_.log_dir / "persist.log").read_text().splitlines()
                if "without a valid delivery proof" in line for event_id in ids if repr(event_id) in line}

    # dropped, counted and logged by persist: the two straight posts and the two the broker delivered (which
    # may come after the genuine report: another partition); once all four are logged, none is still to come
    deadline = time.monotonic() + 60
    while dropped() != set(ids):
        assert time.monotonic() < deadline, f"persist logged {len(dropped())} of the 4 forgeries dropped"
        time.sleep(0.25)
    assert stored(engine, victim) == 0
