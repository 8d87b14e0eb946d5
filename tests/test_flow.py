"""End to end on the local stack: simulated devices -> gateway -> ingest -> Kafka -> local broker -> persist -> PostGIS.

Each test checks the one promise that matters: every accepted report ends up as exactly one row, whatever fails
in between (redelivery, a killed persist, a stopped database); a report that can never be stored is dead-lettered.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from udaconnect.localstack import LocalStack
from udaconnect.ports import free_port
from udaconnect.settings import Settings
from udaconnect.simulator import Simulator, post
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres

PERSONS = 20


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """The stack's own cluster: these tests stop and start it, which the session's shared server must not see."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("flow-postgres"), fsync=False)
    server.start()
    yield server
    server.stop(mode="immediate")


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = Settings(database_url=postgres.url, data_dir=Path(tmp_path_factory.mktemp("flow")), pool_size=2)
    running = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    running.start_database()
    with database.engine(settings).begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          f"SELECT 'Device', 'Owner ' || g, 'Co' FROM generate_series(1, {PERSONS}) g"))
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def engine(stack: LocalStack) -> Engine:
    return database.engine(stack.settings)


def rows(engine: Engine) -> tuple[int, int]:
    """(rows, distinct events) in the location table, retrying while the database restarts."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(  # type: ignore[return-value]
            "SELECT count(*), count(DISTINCT (event_source, event_id)) FROM location")).one())


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # e.g. the database is still starting
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def trigger_counts(stack: LocalStack) -> dict[str, int]:
    with urllib.request.urlopen(stack.processes["broker"].url + "/status", timeout=5) as reply:
        return json.loads(reply.read())["triggers"][0]["counts"]


def devices(stack: LocalStack, seed: int, **options: object) -> Simulator:
    return Simulator(stack.api_url + "/api/events", list(range(1, PERSONS + 1)), devices=PERSONS, record=True,
                     seed=seed, **options)  # type: ignore[arg-type]


def stored_ids(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text("SELECT event_source, event_id FROM location"))}


def assert_exactly_once(engine: Engine, accepted: list[dict], before: int) -> None:
    total, distinct = rows(engine)
    assert total == distinct == before + len(accepted), (total, distinct, before, len(accepted))
    assert {(e["source"], e["id"]) for e in accepted} <= stored_ids(engine)


def test_n_reports_make_n_rows_and_posting_them_again_makes_none(stack: LocalStack, engine: Engine) -> None:
    before = rows(engine)[0]
    sim = devices(stack, seed=1, rate=150, batch=1)
    stats = sim.run(count=300)
    assert stats.sent == 300 and stats.refused == stats.failed == 0
    wait_for(lambda: rows(engine)[0] == before + 300, 60, "300 rows")
    assert_exactly_once(engine, sim.accepted, before)
    # The same events again, in batch mode: delivered again, stored never again.
    delivered = trigger_counts(stack).get("delivered", 0)
    for start in range(0, 300, 100):
        assert post(stack.api_url + "/api/events", sim.accepted[start:start + 100]) == 202
    wait_for(lambda: trigger_counts(stack).get("delivered", 0) >= delivered + 300, 60, "the redeliveries")
    assert_exactly_once(engine, sim.accepted, before)


def test_persist_killed_mid_load_loses_and_duplicates_nothing(stack: LocalStack, engine: Engine) -> None:
    before, retries = rows(engine)[0], trigger_counts(stack).get("retries", 0)
    sim = devices(stack, seed=2, rate=200, batch=5)
    load = threading.Thread(target=sim.run, kwargs={"count": 800})
    load.start()
    time.sleep(1.5)
    stack.stop_process("persist", signal.SIGKILL)  # mid-transaction, answers unsent: the broker must redeliver
    time.sleep(1.0)
    stack.restart("persist")
    load.join(60)
    assert sim.stats.sent == 800 and sim.stats.failed == 0
    wait_for(lambda: rows(engine)[0] >= before + 800, 90, "800 rows after the restart")
    time.sleep(1.0)  # a late duplicate would show up now
    assert_exactly_once(engine, sim.accepted, before)
    assert trigger_counts(stack).get("retries", 0) > retries, "the kill did not interrupt any delivery"


def test_database_stopped_for_20_s_during_a_load_stores_every_report(
        stack: LocalStack, engine: Engine, postgres: EmbeddedPostgres) -> None:
    before = rows(engine)[0]
    sim = devices(stack, seed=3, rate=40, batch=1)
    load = threading.Thread(target=sim.run, kwargs={"count": 400})
    load.start()
    time.sleep(2.0)
    postgres.stop(mode="fast")
    time.sleep(20.0)  # ingest keeps accepting (Kafka holds the events); persist answers 503 and the broker retries
    postgres.start()
    load.join(60)
    assert sim.stats.sent == 400 and sim.stats.failed == 0
    wait_for(lambda: rows(engine)[0] >= before + 400, 120, "400 rows after the database came back")
    assert_exactly_once(engine, sim.accepted, before)
    assert trigger_counts(stack).get("retries", 0) > 0


def test_a_poison_report_is_dead_lettered_with_its_reason(stack: LocalStack, engine: Engine) -> None:
    from ingest.conftest import read_topic

    sim = Simulator(stack.api_url + "/api/events", [999_999], devices=1, record=True, seed=4)
    assert sim.run(count=1).sent == 1
    poison = sim.accepted[0]
    found: dict = {}

    def dead_lettered() -> bool:
        assert stack.kafka is not None
        found.update(read_topic(stack.kafka.bootstrap_servers, {poison["id"]}, topic="udaconnect-dead-letters"))
        return bool(found)

    wait_for(dead_lettered, 30, "the poison event in the dead-letter topic")
    key, event, _ = found[poison["id"]]
    attributes = event.attributes
    assert key == b"999999" and json.loads(event.data)["person_id"] == 999_999
    assert attributes["knativeerrorcode"] == "422"
    assert attributes["knativeerrordest"] == stack.processes["persist"].url
    reason = json.loads(base64.b64decode(attributes["knativeerrordata"]))
    assert "person 999999 does not exist" in reason["detail"]
    assert (poison["source"], poison["id"]) not in stored_ids(engine)


def test_udaconnect_send_reports_with_a_progress_line(stack: LocalStack, engine: Engine) -> None:
    import subprocess
    import sys

    before = rows(engine)[0]
    done = subprocess.run([sys.executable, "-m", "udaconnect.cli", "send", "--url", stack.api_url + "/api/events",
                           "--count", "40", "--rate", "40", "--devices", "4", "--batch", "4"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "sent 40 " in done.stderr and "failed 0" in done.stderr
    wait_for(lambda: rows(engine)[0] == before + 40, 30, "40 rows")


def test_a_dead_letter_is_replayed_once_its_cause_is_fixed(stack: LocalStack, engine: Engine) -> None:
    import subprocess
    import sys

    from udaconnect import deadletters

    sim = Simulator(stack.api_url + "/api/events", [777_777], devices=1, record=True, seed=5)
    assert sim.run(count=1).sent == 1
    event_id = sim.accepted[0]["id"]
    assert stack.kafka is not None
    wait_for(lambda: any(d.event.attributes["id"] == event_id for d in deadletters.read(stack.kafka.bootstrap_servers)),
             30, "the dead letter")
    cli = [sys.executable, "-m", "udaconnect.cli", "--data-dir", str(stack.settings.data_dir), "dead-letters"]
    listing = subprocess.run([*cli, "list", "--id", event_id], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "422" in listing.stdout and "person 777777 does not exist" in listing.stdout
    with engine.begin() as conn:  # the cause, fixed
        conn.execute(text("INSERT INTO person (id, first_name, last_name, company_name) "
                          "VALUES (777777, 'Late', 'Comer', 'Co')"))
    replay = subprocess.run([*cli, "replay", "--id", event_id], capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0 and "replayed 1 event" in replay.stdout
    wait_for(lambda: (sim.accepted[0]["source"], event_id) in stored_ids(engine), 30, "the replayed event stored")
    status = subprocess.run([sys.executable, "-m", "udaconnect.cli", "--data-dir", str(stack.settings.data_dir),
                             "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "persist-location-reported  ready" in status.stdout
