"""Reads on a read replica (DATABASE_READ_URL, issue 26), against a real streaming replica of a real primary.

The replica is made as an operator would (pg_basebackup -R from a primary that admits replication, then started as
a hot standby). A track read through the connections function goes to the replica once it has caught up; with the
replica's replay paused (lag as long as one likes), a fix the primary stored after the pause is still in the
person's track, because the read goes to the primary; a replica that is down costs nothing but its speed."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from bearer import headers
from conftest import create_database
from udaconnect import bootstrap
from udaconnect.ports import free_port
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import SERVER_OPTIONS, EmbeddedPostgres
from udaconnect.telemetry import metrics

PERSON = 7


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    """(primary's settings, the replica's URL, the replica's server directory, the primary's server)."""
    directory = tmp_path_factory.mktemp("replication")
    primary = EmbeddedPostgres(directory / "primary", fsync=False)
    url = primary.start()
    server = url.rsplit("/", 1)[0]
    settings = create_database(server, "udaconnect_replicated")
    with create_engine(settings.database_url).begin() as conn:
        conn.execute(text("INSERT INTO person (id, first_name, last_name, company_name) "
                          "VALUES (:p, 'Rita', 'Replica', 'Co')"), {"p": PERSON})
    hba = primary.data / "pg_hba.conf"  # the operator's step: the primary admits a standby
    hba.write_text(hba.read_text() + "host replication postgres 127.0.0.1/32 scram-sha-256\n")
    with create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("SELECT pg_reload_conf()"))
    standby = directory / "replica"
    standby.mkdir(mode=0o700)
    owner = primary.directory.stat()
    os.chown(standby, owner.st_uid, owner.st_gid)
    primary._run("pg_basebackup", "-D", str(standby / "data"), "-R", "-X", "stream", "-c", "fast", "-h", "127.0.0.1",
                 "-p", str(primary.port), "-U", "postgres",
                 env={**os.environ, "PGPASSWORD": primary.password})
    port = free_port()
    # a standby needs at least the primary's max_connections and the like: the same server options
    options = " ".join(f"-c {k}={v}" for k, v in {**SERVER_OPTIONS, "port": port, "unix_socket_directories": standby,
                                                  "fsync": "off"}.items())
    primary._run("pg_ctl", "-D", str(standby / "data"), "-l", str(standby / "server.log"), "-o", options, "-w",
                 "-t", "60", "start")
    replica_url = settings.database_url.replace(f":{primary.port}/", f":{port}/")
    yield settings, replica_url, standby, primary
    database.dispose()
    primary._run("pg_ctl", "-D", str(standby / "data"), "-m", "immediate", "-w", "stop", check=False)
    primary.stop(mode="immediate")


def _reads(database_name: str) -> float:
    return metrics.READS.labels(database_name)._value.get()  # type: ignore[attr-defined]


def _track(monkeypatch: pytest.MonkeyPatch, settings: Settings, replica_url: str) -> list[dict]:
    from functions_framework import create_app

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATABASE_READ_URL", replica_url)
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    client = create_app("connections", str(PROJECT_ROOT / "functions" / "main.py")).test_client()
    day = datetime.now(UTC).date()
    answer = client.get(f"/api/persons/{PERSON}/locations?start_date={day - timedelta(days=1)}&end_date={day}",
                        headers=headers(settings))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def settings_env(settings: Settings) -> dict[str, str]:
    """The token verifier's environment of `settings` (its JWKS), as the functions read it."""
    return {"UDACONNECT_AUTH_JWKS_FILE": settings.auth_jwks_file}


def _fix(settings: Settings, minutes_ago: int) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with create_engine(settings.database_url).begin() as conn:
        conn.execute(text("INSERT INTO location (person_id, coordinate, creation_time) "
                          "VALUES (:p, ST_SetSRID(ST_MakePoint(-122.29, 37.55), 4326), :at)"), {"p": PERSON, "at": at})


def _replay(replica_url: str, paused: bool) -> None:
    with create_engine(replica_url, isolation_level="AUTOCOMMIT").connect() as conn:
        if not paused:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            return
        conn.execute(text("SELECT pg_wal_replay_pause()"))  # a request: replay stops a moment later
        deadline = time.monotonic() + 30
        while conn.execute(text("SELECT pg_get_wal_replay_pause_state()")).scalar_one() != "paused":
            assert time.monotonic() < deadline, "the replica's replay did not pause"
            time.sleep(0.05)


def test_a_caught_up_replica_answers_the_read(servers, monkeypatch) -> None:
    settings, replica_url, _, _ = servers
    _fix(settings, 30)
    before = _reads("replica"), _reads("primary")
    track = _track(monkeypatch, settings, replica_url)
    assert len(track) >= 1  # the fix the primary stored a moment ago: the read waited for the replica to have it
    assert (_reads("replica") - before[0], _reads("primary") - before[1]) == (1.0, 0.0)


def test_a_lagging_replica_sends_the_read_to_the_primary_so_a_person_sees_their_new_fix(servers, monkeypatch) -> None:
    settings, replica_url, _, _ = servers
    seen = len(_track(monkeypatch, settings, replica_url))
    _replay(replica_url, paused=True)  # the replica stops replaying: it lags as long as the test likes
    try:
        _fix(settings, 20)
        before = _reads("replica"), _reads("primary")
        assert len(_track(monkeypatch, settings, replica_url)) == seen + 1
        assert (_reads("replica") - before[0], _reads("primary") - before[1]) == (0.0, 1.0)
    finally:
        _replay(replica_url, paused=False)
    before = _reads("replica")
    assert len(_track(monkeypatch, settings, replica_url)) == seen + 1
    assert _reads("replica") - before == 1.0  # caught up again: back to the replica


def test_a_replica_that_is_down_costs_only_its_speed(servers, monkeypatch) -> None:
    settings, _, _, primary = servers
    _fix(settings, 10)
    down = settings.database_url.replace(f":{primary.port}/", f":{free_port()}/")
    before = _reads("primary")
    assert len(_track(monkeypatch, settings, down)) >= 1
    assert _reads("primary") - before == 1.0


def test_without_a_read_url_every_read_is_the_primarys(servers) -> None:
    settings, _, _, _ = servers
    context = bootstrap.Context(Settings(database_url=settings.database_url))
    try:
        assert context.replica is None and context.reader() is context.engine
    finally:
        context.close()


def test_the_read_url_is_a_setting_documented_beside_database_url() -> None:
    assert Settings.from_env({"DATABASE_READ_URL": "postgresql://r@replica/db"}).database_read_url.endswith("/db")
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "`DATABASE_READ_URL`" in readme and "`UDACONNECT_READ_REPLICA_WAIT`" in readme
