"""End to end on the local stack: simulated devices -> gateway -> ingest -> Kafka -> local broker -> persist -> PostGIS.

Each test checks the one promise that matters: every accepted report ends up as exactly one row, whatever fails
in between (redelivery, a killed process, a stopped database, a restarted Kafka, a stop of the whole stack);
a report that can never be stored is dead-lettered, and replayed once its cause is fixed. Killed processes come
back by themselves: the stack is supervised, as Kubernetes restarts a pod.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from udaconnect.ports import free_port, ok, until_ok
from udaconnect.settings import Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres
from udaconnect_dev.localstack import LocalStack
from udaconnect_dev.simulator import Simulator, post

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
        yield running.start(supervise=True)
    finally:
        running.stop()


@pytest.fixture(scope="module")
def engine(stack: LocalStack) -> Engine:
    return database.engine(stack.settings)


def rows(engine: Engine) -> tuple[int, int]:
    """(rows, distinct events) in the location table, retrying while the database restarts."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(  # type: ignore[return-value]
            "SELECT count(*), count(DISTINCT (event_source, event_id)) FROM "
            "(SELECT event_source, event_id FROM location UNION ALL "
            "SELECT event_source, event_id FROM location_untrusted) AS stored")).one())


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


def settled(stack: LocalStack) -> bool:
    """The broker holds nothing back: every trigger has fetched every record and has none in flight (a retry
    waiting out its backoff is in flight), so no delivery, a late duplicate included, is still to come."""
    with urllib.request.urlopen(stack.processes["broker"].url + "/status", timeout=5) as reply:
        triggers = json.loads(reply.read())["triggers"]
    return all(t["in_flight"] == 0 and t["fetch_lag"] == 0 for t in triggers)


def devices(stack: LocalStack, seed: int, **options: object) -> Simulator:
    """PERSONS phones, each enrolled for its person and reporting with its own device token and source."""
    return Simulator(stack.api_url + "/api/events", list(range(1, PERSONS + 1)), devices=PERSONS, record=True,
                     seed=seed, **options).enrol(stack.api_url, stack.token())  # type: ignore[arg-type]


def stored_ids(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(
            "SELECT event_source, event_id FROM location"
            " UNION ALL SELECT event_source, event_id FROM location_untrusted"))}


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
        assert post(stack.api_url + "/api/events", sim.accepted[start:start + 100], token=stack.token()) == 202
    wait_for(lambda: trigger_counts(stack).get("delivered", 0) >= delivered + 300, 60, "the redeliveries")
    assert_exactly_once(engine, sim.accepted, before)


def wait_back(stack: LocalStack, name: str, old_pid: int, timeout: float = 90) -> None:
    """Until the supervisor has `name` running again in a new process that answers."""
    def back() -> bool:
        process = stack.processes.get(name)
        if process is None or process.popen.pid == old_pid or process.popen.poll() is not None:
            return False
        return ok(process.url + "/health", timeout=2)
    wait_for(back, timeout, f"{name} restarted by the supervisor")


@pytest.mark.slow  # a fault and the recovery from it, on a whole stack
@pytest.mark.parametrize("victim", ["persist", "broker", "ingest"])
def test_a_process_killed_mid_load_comes_back_by_itself_and_loses_and_duplicates_nothing(
        stack: LocalStack, engine: Engine, victim: str) -> None:
    before = rows(engine)[0]
    sim = devices(stack, seed=20 + len(victim), rate=200, batch=5)
    load = threading.Thread(target=sim.run, kwargs={"count": 800})
    load.start()
    wait_for(lambda: sim.stats.sent >= 200 and rows(engine)[0] > before, 60, "the load under way and stored")
    assert load.is_alive(), "the load ended before the kill: nothing was mid-flight"
    pid = stack.processes[victim].popen.pid
    os.killpg(pid, signal.SIGKILL)  # mid-transaction / mid-delivery / mid-publish: no clean-up of any kind
    wait_back(stack, victim, pid)
    load.join(120)
    assert sim.stats.sent == 800 and sim.stats.failed == 0, sim.stats
    wait_for(lambda: rows(engine)[0] >= before + 800, 90, f"800 rows after {victim} came back")
    wait_for(lambda: settled(stack), 60, "the broker with nothing in flight")  # a late duplicate is in by now
    assert_exactly_once(engine, sim.accepted, before)


@pytest.mark.slow  # a fault and the recovery from it, on a whole stack
@pytest.mark.parametrize("outage", [20, 130])
def test_the_database_stopped_mid_load_loses_no_report(
        stack: LocalStack, engine: Engine, postgres: EmbeddedPostgres, outage: int) -> None:
    """20 s: inside a few retries. 130 s: longer than the old ~100 s retry budget, which dead-lettered them."""
    before = rows(engine)[0]
    sim = devices(stack, seed=3, rate=40, batch=1)
    load = threading.Thread(target=sim.run, kwargs={"count": 400})
    load.start()
    wait_for(lambda: sim.stats.sent >= 80 and rows(engine)[0] > before, 60, "the load under way and stored")
    assert load.is_alive(), "the load ended before the outage"
    postgres.stop(mode="fast")
    time.sleep(outage)  # ingest keeps accepting (Kafka holds the events); persist answers 503 and the broker retries
    postgres.start()
    load.join(60)
    assert sim.stats.sent == 400 and sim.stats.failed == 0
    wait_for(lambda: rows(engine)[0] >= before + 400, 120, "400 rows after the database came back")
    assert_exactly_once(engine, sim.accepted, before)
    assert trigger_counts(stack).get("dead-lettered", 0) == 0


@pytest.mark.slow  # a fault and the recovery from it, on a whole stack
def test_a_kafka_restart_loses_nothing_delivered_before_it_or_accepted_after_it(
        stack: LocalStack, engine: Engine) -> None:
    """The in-memory Kafka forgets its topics and offsets: the stack makes the topics again, the Trigger reads the
    new ones from their start (not 'latest'), and every producer and consumer reconnects with no hand."""
    before = rows(engine)[0]
    delivered = devices(stack, seed=30, rate=200, batch=5)
    assert delivered.run(count=300).sent == 300
    wait_for(lambda: rows(engine)[0] == before + 300, 60, "300 rows before the restart")
    assert stack.kafka is not None and stack.kafka.process is not None
    old = stack.kafka.process
    old.kill()
    old.wait()
    after = devices(stack, seed=31, rate=100, batch=1)  # retries while Kafka is down: 202 only once it took them
    load = threading.Thread(target=after.run, kwargs={"count": 300})
    load.start()
    wait_for(lambda: stack.kafka is not None and stack.kafka.process not in (None, old), 30, "Kafka restarted")
    load.join(120)
    assert after.stats.sent == 300 and after.stats.failed == 0, after.stats
    wait_for(lambda: rows(engine)[0] >= before + 600, 90, "the reports accepted after the restart")
    wait_for(lambda: settled(stack), 60, "the broker with nothing in flight")
    assert_exactly_once(engine, delivered.accepted + after.accepted, before)


def test_a_poison_report_is_dead_lettered_with_its_reason(stack: LocalStack, engine: Engine) -> None:
    from ingest.conftest import read_topic

    sim = Simulator(stack.api_url + "/api/events", [999_999], devices=1, record=True, seed=4, token=stack.token())
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
                           "--count", "40", "--rate", "40", "--devices", "4", "--batch", "4",
                           "--token", stack.token()],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "sent 40 " in done.stderr and "failed 0" in done.stderr
    wait_for(lambda: rows(engine)[0] == before + 40, 30, "40 rows")


def test_dead_letters_are_replayed_once_their_cause_is_fixed_and_status_shouts(
        stack: LocalStack, engine: Engine) -> None:
    import subprocess
    import sys

    from udaconnect import deadletters

    sim = Simulator(stack.api_url + "/api/events", [777_777], devices=1, record=True, seed=5, token=stack.token())
    assert sim.run(count=1).sent == 1
    event_id = sim.accepted[0]["id"]
    assert stack.kafka is not None
    kafka = stack.kafka.bootstrap_servers
    wait_for(lambda: any(d.event.attributes["id"] == event_id for d in deadletters.read(kafka)), 30, "the dead letter")
    cli = [sys.executable, "-m", "udaconnect.cli", "--data-dir", str(stack.settings.data_dir)]
    seen: list[subprocess.CompletedProcess[str]] = []

    def persist_row() -> list[str]:
        seen.append(subprocess.run([*cli, "status"], capture_output=True, text=True, timeout=60))
        assert seen[-1].returncode == 0, seen[-1].stderr
        return next(line.split() for line in seen[-1].stdout.splitlines()
                    if line.startswith("persist-location-reported "))

    # the offset past a dead-lettered event is committed at the next periodic commit after it: LAG reaches 0 soon
    deadline = time.monotonic() + 20
    while (persist := persist_row())[3] != "0" and time.monotonic() < deadline:
        time.sleep(0.5)
    status = seen[-1]
    assert re.search(r"^TRIGGER +READY +SUBSCRIBER +LAG +IN FLIGHT .*DEAD-LETTERED", status.stdout, re.M), status.stdout
    assert persist[1] == "ready", status.stdout
    assert persist[3] == "0", status.stdout  # LAG
    assert "WARNING" in status.stdout and "dead-letter" in status.stdout
    with engine.connect() as conn:
        believed = conn.execute(text("SELECT count(*) FROM location")).scalar_one()
        doubted = conn.execute(text("SELECT count(*) FROM location_untrusted")).scalar_one()
    record = next(line for line in status.stdout.splitlines() if line.startswith("record "))
    assert re.search(rf"{believed:,} fixes believed, {doubted:,} kept apart as untrusted \(late [\d,]+, "
                     r"imprecise [\d,]+, speed [\d,]+, burst [\d,]+\)", record), record
    listing = subprocess.run([*cli, "dead-letters", "list", "--id", event_id], capture_output=True, text=True,
                             timeout=60)
    assert listing.returncode == 0 and "422" in listing.stdout and "person 777777 does not exist" in listing.stdout
    waiting = [d for d in deadletters.read(kafka) if not d.replayed]
    assert event_id in {d.event.attributes["id"] for d in waiting}
    with engine.begin() as conn:  # the cause, fixed
        conn.execute(text("INSERT INTO person (id, first_name, last_name, company_name) "
                          "VALUES (777777, 'Late', 'Comer', 'Co')"))
    # one command replays everything not replayed yet (the earlier poison event too, which fails again)
    replay = subprocess.run([*cli, "dead-letters", "replay"], capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0 and f"replayed {len(waiting)} event" in replay.stdout, replay.stdout
    wait_for(lambda: (sim.accepted[0]["source"], event_id) in stored_ids(engine), 30, "the replayed event stored")
    # what was replayed is not replayed again; only what failed since is
    again = subprocess.run([*cli, "dead-letters", "replay"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0
    still = [d for d in deadletters.read(kafka) if not d.replayed]
    assert event_id not in {d.event.attributes["id"] for d in still}


def test_a_fresh_stack_stores_what_it_accepts_from_its_first_answer_and_a_stop_under_load_drains(
        postgres: EmbeddedPostgres, stack: LocalStack, engine: Engine, tmp_path: Path) -> None:
    """As a new user: post the moment GET /api/persons first answers; later, stop the stack mid-load. Every 202
    is a row: the edge opens only once the Triggers' offsets are committed, and a stop delivers before it ends."""
    settings = Settings(database_url=postgres.url, data_dir=tmp_path, pool_size=2)
    fresh = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=tmp_path / "logs")
    first = Simulator(fresh.api_url + "/api/events", [1, 2], devices=2, record=True, seed=40, rate=0,
                      token=fresh.token())
    early: list[dict] = []

    def as_soon_as_it_answers() -> None:
        until_ok(fresh.api_url + "/api/openapi.json", timeout=120)  # the edge is open (a public route)
        first.run(count=50)
        early.extend(first.accepted)

    poster = threading.Thread(target=as_soon_as_it_answers)
    poster.start()
    try:
        fresh.start()
        poster.join(60)
        assert len(early) == 50, first.stats
        wait_for(lambda: {(e["source"], e["id"]) for e in early} <= stored_ids(engine), 30,
                 "the 50 reports posted at the first answer")
        load = Simulator(fresh.api_url + "/api/events", list(range(1, PERSONS + 1)), devices=PERSONS, record=True,
                         seed=41, rate=400, batch=5, max_retries=2).enrol(fresh.api_url, fresh.token())
        loading = threading.Thread(target=load.run, kwargs={"count": 4000})
        loading.start()
        wait_for(lambda: load.stats.sent >= 800, 60, "the load under way")
        assert loading.is_alive(), "the load ended before the stop"
    finally:
        left = fresh.stop(drain_timeout=30)
    loading.join(60)
    assert left == 0
    assert load.stats.sent > 0
    accepted = {(e["source"], e["id"]) for e in load.accepted}
    assert accepted <= stored_ids(engine), f"{len(accepted - stored_ids(engine))} accepted reports lost at the stop"
    with engine.connect() as conn:
        duplicates = conn.execute(text("SELECT count(*) - count(DISTINCT (event_source, event_id)) FROM (SELECT "
                                       "event_source, event_id FROM location UNION ALL SELECT event_source, event_id "
                                       "FROM location_untrusted) AS stored"))
        assert duplicates.scalar() == 0
    assert not (tmp_path / "stack.json").exists(), "the address file outlived its stack"
    assert fresh.last_stop() == "the last stop delivered every accepted event"  # what the next start says
