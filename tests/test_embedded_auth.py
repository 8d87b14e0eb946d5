"""The embedded PostgreSQL lets in its owner alone: the password its URL carries, nothing trusted, no shared socket."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import create_engine, text

from udaconnect.storage.embedded import PG_HBA, EmbeddedPostgres, _bindir


@pytest.fixture(autouse=True)
def _no_client_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """libpq must not find a password anywhere but where a test puts it."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("auth") / "postgres", fsync=False)
    server.start()
    yield server
    server.stop(mode="immediate")


def _refused(**kwargs: object) -> str:
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(connect_timeout=5, **kwargs).close()
    return str(refused.value)


def test_the_owners_url_works(server: EmbeddedPostgres) -> None:
    engine = create_engine(server.start())  # a second start reuses the running cluster and its password
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "postgres"
        assert conn.execute(text("SHOW listen_addresses")).scalar() == "127.0.0.1"
    engine.dispose()


def test_tcp_without_or_with_a_wrong_password_is_refused(server: EmbeddedPostgres) -> None:
    tcp = {"host": "127.0.0.1", "port": server.port, "user": "postgres", "dbname": "postgres"}
    assert "no password supplied" in _refused(**tcp)
    assert "password authentication failed" in _refused(**tcp, password="postgres")


def test_the_password_and_the_socket_are_private(server: EmbeddedPostgres) -> None:
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.directory.stat().st_mode) == 0o700  # the unix socket's directory
    assert stat.S_IMODE(server.data.stat().st_mode) == 0o700
    assert (server.data / "pg_hba.conf").read_text() == PG_HBA
    assert "trust" not in "".join(line for line in PG_HBA.splitlines() if not line.startswith("#"))
    assert len(server.password) >= 32


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another local user needs root")
def test_another_local_user_gets_in_neither_by_tcp_nor_by_the_socket(server: EmbeddedPostgres) -> None:
    """What the security review did as `nobody`: psql to the port, and to the socket."""
    nobody = pwd.getpwnam("nobody")
    psql = [str(_bindir() / "psql"), "-p", str(server.port), "-U", "postgres", "-d", "postgres", "-w", "-c", "SELECT 1"]
    for host in ("127.0.0.1", str(server.directory)):
        run = subprocess.run([*psql[:1], "-h", host, *psql[1:]], capture_output=True, text=True, check=False,
                             user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[], env={"HOME": "/nonexistent"})
        assert run.returncode != 0, run.stdout
        assert "no password supplied" in run.stderr or "Permission denied" in run.stderr, run.stderr


def test_a_trust_cluster_of_an_older_version_is_upgraded(tmp_path: Path) -> None:
    old = EmbeddedPostgres(tmp_path / "postgres", fsync=False)
    old._prepare_directory()
    old._run("initdb", "-D", str(old.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
             "--locale=C.UTF-8")
    assert not old.password_file.exists()
    try:
        url = old.start()
        assert old.password_file.exists() and (old.data / "pg_hba.conf").read_text() == PG_HBA
        assert "no password supplied" in _refused(host="127.0.0.1", port=old.port, user="postgres", dbname="postgres")
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
        old.stop()
        old.wait_stopped()
        assert old.start() == url  # the password is kept across restarts
    finally:
        old.stop(mode="immediate")
