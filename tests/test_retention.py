"""Retention: a PingSource tick makes the retention function delete what holds a location older than
UDACONNECT_RETENTION_DAYS, in bounded batches; the Kafka topics keep events no longer."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, text

from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.broker.kafka_adapter import ensure_topics
from udaconnect_dev.broker.loader import load_dir
from udaconnect_dev.broker.model import PingSourceSpec
from udaconnect_dev.broker.ping import PingScheduler, headers
from udaconnect_dev.broker.resolver import Resolver
from udaconnect_dev.broker.topics import topic_configs, wanted_topics

MAIN = str(PROJECT_ROOT / "functions" / "main.py")
NOW = datetime.now(UTC)
DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def aged(db: Engine) -> Engine:
    """Two persons with a fix, an encounter and an undelivered event each 40 days old, and each a day old; and of
    person 1 a fix kept apart as untrusted of each age."""
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          "VALUES ('A', 'B', 'C'), ('D', 'E', 'F')"))
        for age, key in ((40, "old"), (1, "new")):
            at = NOW - timedelta(days=age)
            for person in (1, 2):
                conn.execute(text("INSERT INTO location (person_id, coordinate, creation_time, event_source, event_id) "
                                  "VALUES (:p, 'SRID=4326;POINT(-122.4 37.78)', :at, '/t', :id)"),
                             {"p": person, "at": at, "id": f"{key}-{person}"})
            conn.execute(text("INSERT INTO location_untrusted (person_id, coordinate, creation_time, event_source, "
                              "event_id, reason) VALUES (1, 'SRID=4326;POINT(-122.5 37.78)', :at, '/t', :id, 'speed')"),
                         {"at": at, "id": f"doubted-{key}"})
            conn.execute(text("INSERT INTO encounter_scan SELECT id FROM location WHERE event_id LIKE :k"),
                         {"k": f"{key}-%"})
            conn.execute(text("INSERT INTO encounter (person_a, person_b, first_seen, last_seen, contacts, longitude, "
                              "latitude) VALUES (1, 2, :at, :at, 1, -122.4, 37.78)"), {"at": at})
            conn.execute(text("INSERT INTO event_outbox (source, id, type, created_at) "
                              "VALUES ('/t', :id, 'io.udaconnect.encounter.detected.v1', :at)"), {"id": key, "at": at})
    return db


def left(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
                for table in ("location", "location_untrusted", "encounter_scan", "encounter", "event_outbox",
                              "person")}


def test_a_sweep_deletes_what_is_older_than_the_retention_and_keeps_the_rest(aged: Engine) -> None:
    from udaconnect.retention import sweep

    assert sweep(aged, 30, dry_run=True).locations == 2 and left(aged)["location"] == 4
    from udaconnect.retention.sweep import count_older

    with aged.connect() as conn:  # what `udaconnect dev` warns about before the first hourly tick
        assert count_older(conn, 30) == 2 + 1
    done = sweep(aged, 30)
    assert (done.locations, done.untrusted, done.encounters, done.outbox, done.left) == (2, 1, 1, 1, False)
    assert left(aged) == {"location": 2, "location_untrusted": 1, "encounter_scan": 2, "encounter": 1,
                          "event_outbox": 1, "person": 2}
    assert sweep(aged, 30).locations == 0
    assert sweep(aged, 0.5).locations == 2, "a shorter retention takes the day-old fixes too"


def test_a_sweep_is_bounded_and_says_what_is_left(aged: Engine) -> None:
    from udaconnect.retention import sweep

    first = sweep(aged, 30, batch=1, budget=0)
    assert (first.locations, first.encounters, first.left) == (1, 0, True), "one batch, then the budget is spent"
    second = sweep(aged, 30, batch=1, budget=0)
    assert second.locations == 1 and second.left
    rest = sweep(aged, 30, batch=1, budget=60)
    assert (rest.locations, rest.untrusted, rest.encounters, rest.outbox, rest.left) == (0, 1, 1, 1, False)


def test_the_function_answers_a_ping_with_204_and_nothing_else(aged: Engine, app_env) -> None:
    from functions_framework import create_app

    client = create_app("retention", MAIN).test_client()
    source = PingSourceSpec("retention-hourly", "udaconnect", sink=None, data='{"reason": "retention"}',  # type: ignore[arg-type]
                            content_type="application/json")
    reply = client.post("/", headers=headers(source, NOW), data=source.data)
    assert reply.status_code == 204 and reply.data == b""
    assert left(aged)["location"] == 2
    other = {**headers(source, NOW), "ce-type": "io.udaconnect.location.reported.v1"}
    assert client.post("/", headers=other, data=b"{}").status_code == 422
    assert client.post("/", data=b"nothing").status_code == 400
    assert client.get("/").status_code == 405 and client.get("/health").status_code == 200


def test_the_retention_is_a_setting() -> None:
    assert Settings().retention_days == 30
    assert Settings.from_env({"UDACONNECT_RETENTION_DAYS": "7"}).retention_days == 7
    for bad in ("0", "-1", "nan", "x"):
        with pytest.raises(ValueError):
            Settings.from_env({"UDACONNECT_RETENTION_DAYS": bad})


def test_the_cli_runs_a_sweep(aged: Engine, settings: Settings, monkeypatch) -> None:
    from udaconnect import cli

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("UDACONNECT_RETENTION_DAYS", "30")
    assert cli.main(["retention", "run", "--dry-run"]) == 0 and left(aged)["location"] == 4
    assert cli.main(["retention", "run", "--batch", "1"]) == 0 and left(aged)["location"] == 2


def test_the_pingsource_in_eventing_is_read_and_ticks_on_its_schedule() -> None:
    eventing = load_dir(Settings().eventing_dir)
    [ping] = eventing.pings
    assert (ping.name, ping.schedule, ping.timezone) == ("retention-hourly", "0 * * * *", "UTC")
    assert ping.sink.ref is not None and (ping.sink.ref.kind, ping.sink.ref.name) == ("Service", "retention")
    assert ping.source == "/apis/v1/namespaces/udaconnect/pingsources/retention-hourly"
    at = datetime(2026, 3, 2, 10, 14, 5, tzinfo=UTC)
    assert PingScheduler.next_tick(ping, at) == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    sent = headers(ping, at)
    assert sent["ce-type"] == "dev.knative.sources.ping" and sent["ce-source"] == ping.source
    unresolved = PingScheduler([ping], Resolver({}, env={}), stopping=None)  # type: ignore[arg-type]
    assert unresolved.targets == {} and "retention" in unresolved.problems["retention-hourly"]


def test_a_tick_of_the_real_pingsource_reaches_the_retention_function_which_deletes_old_rows(
        aged: Engine, settings: Settings, tmp_path: Path) -> None:
    """The schedule of eventing/retention.yaml, its clock moved to a second before the top of the hour, sent over
    HTTP to the retention target served as in the cluster (functions-framework)."""
    import threading

    from udaconnect.ports import free_port, until_ok

    port = free_port()
    log = open(tmp_path / "retention.log", "wb")  # noqa: SIM115 - the child owns it
    server = subprocess.Popen([sys.executable, "-m", "functions_framework", "--source", MAIN, "--target", "retention",
                               "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                              env={"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url,
                                   "UDACONNECT_RETENTION_DAYS": "30", "PYTHONPATH": str(PROJECT_ROOT / "functions")})
    stopping = threading.Event()
    try:
        until_ok(f"http://127.0.0.1:{port}/health", 60)
        [ping] = load_dir(Settings().eventing_dir).pings
        real = datetime.now(UTC)
        top = PingScheduler.next_tick(ping, real)
        shift = top - real - timedelta(seconds=1)
        scheduler = PingScheduler([ping], Resolver({"retention": f"http://127.0.0.1:{port}"}, env={}), stopping,
                                  clock=lambda: datetime.now(UTC) + shift)
        scheduler.start()
        deadline = time.monotonic() + 30
        while not scheduler.sent["retention-hourly"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler.sent["retention-hourly"] == [204], (tmp_path / "retention.log").read_text()
        assert left(aged) == {"location": 2, "location_untrusted": 1, "encounter_scan": 2, "encounter": 1,
            "event_outbox": 1, "person": 2}
        assert scheduler.status()[0]["sent"] == 1
    finally:
        stopping.set()
        server.terminate()
        server.wait(10)


def test_the_topics_keep_events_no_longer_than_the_retention() -> None:
    retention_ms = str(int(Settings().retention_days * DAY_MS))
    eventing = load_dir(Settings().eventing_dir)
    configs = topic_configs(eventing)
    assert configs["knative-broker-udaconnect-default"]["retention.ms"] == retention_ms
    assert configs["udaconnect-dead-letters"] == {"retention.ms": retention_ms}
    # on the cluster: the dead-letter KafkaSink sets no topic configuration, the Kafka cluster's default applies
    [kafka] = [d for d in yaml.safe_load_all((PROJECT_ROOT / "manifests" / "base" / "kafka.yaml").read_text())
               if d and d["kind"] == "Kafka"]
    assert str(kafka["spec"]["kafka"]["config"]["log.retention.ms"]) == retention_ms


def test_the_local_topics_are_created_with_the_retention(tmp_path: Path) -> None:
    """tansu takes and describes retention.ms (it does not enforce it: see broker/topics.py)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from udaconnect_dev.broker.kafka_server import KafkaServer

    eventing = load_dir(Settings().eventing_dir)
    with KafkaServer(external="") as kafka:
        ensure_topics(kafka.bootstrap_servers, wanted_topics(eventing), topic_configs(eventing))
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
        try:
            described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)
                                                for topic in wanted_topics(eventing)], config_filter="all")
        finally:
            admin.close()
    topics = described["topic"]
    assert set(topics) == {"knative-broker-udaconnect-default", "udaconnect-dead-letters"}
    for topic, config in topics.items():
        assert config["retention.ms"]["value"] == str(int(Settings().retention_days * DAY_MS)), topic
