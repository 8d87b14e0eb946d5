"""Database TLS as production configures it (issue 22): `sslmode=verify-full` in DATABASE_URL and the CA in
PGSSLROOTCERT (manifests/overlays/production). A real PostgreSQL serving a certificate for `localhost` signed by a
test CA: the functions' engine connects over TLS when the CA and the host name hold, and refuses a server whose
certificate another CA signed or that names another host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import certificates
from udaconnect.settings import Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres


def _ca(directory: Path, common: str) -> certificates.Authority:
    ca = certificates.authority(common)
    (directory / f"{common}.crt").write_bytes(certificates.pem(ca[1]))
    return ca


def _server_certificate(data: Path, ca: certificates.Authority) -> None:
    """server.crt and server.key in the data directory, for the DNS name localhost only (not 127.0.0.1)."""
    cert, key = certificates.server(ca, "localhost")
    (data / "server.crt").write_bytes(cert)
    key_file = data / "server.key"
    key_file.write_bytes(key)
    stat = data.stat()  # the server's own user must own its key, readable by it alone
    for path in (data / "server.crt", key_file):
        os.chown(path, stat.st_uid, stat.st_gid)
    key_file.chmod(0o600)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("tls")
    server = EmbeddedPostgres(directory / "pg", fsync=False)
    url = server.start()
    ca = _ca(directory, "udaconnect-test-db-ca")
    _ca(directory, "another-ca")
    _server_certificate(server.data, ca)
    engine = database.engine(Settings(database_url=url))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER SYSTEM SET ssl = on"))
        conn.execute(text("SELECT pg_reload_conf()"))
    database.dispose()
    yield server, directory
    database.dispose()
    server.stop(mode="immediate")


def _connect(url: str, ca: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the functions' engine for `url` talks TLS to the server (PGSSLROOTCERT=ca, as in production)."""
    monkeypatch.setenv("PGSSLROOTCERT", str(ca))
    database.dispose()
    try:
        with database.engine(Settings(database_url=url)).connect() as conn:
            return bool(conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar_one())
    finally:
        database.dispose()


def test_verify_full_connects_when_the_ca_and_the_host_name_hold(tls_server, monkeypatch) -> None:
    server, directory = tls_server
    url = server.url.replace("@127.0.0.1:", "@localhost:") + "?sslmode=verify-full"
    assert _connect(url, directory / "udaconnect-test-db-ca.crt", monkeypatch) is True


def test_verify_full_refuses_a_certificate_another_ca_signed(tls_server, monkeypatch) -> None:
    server, directory = tls_server
    url = server.url.replace("@127.0.0.1:", "@localhost:") + "?sslmode=verify-full"
    with pytest.raises(OperationalError, match="certificate verify failed"):
        _connect(url, directory / "another-ca.crt", monkeypatch)


def test_verify_full_refuses_a_certificate_for_another_host(tls_server, monkeypatch) -> None:
    server, directory = tls_server
    # the URL names the address; the certificate, localhost only
    with pytest.raises(OperationalError, match='does not match host name "127.0.0.1"'):
        _connect(server.url + "?sslmode=verify-full", directory / "udaconnect-test-db-ca.crt", monkeypatch)


def test_require_without_a_ca_believes_whichever_server_answers(tls_server, monkeypatch) -> None:
    """Why production no longer stops at `require` with no CA (as before): it encrypts, but to whoever answers,
    whatever CA signed its certificate and whatever host it names."""
    server, directory = tls_server
    assert _connect(server.url + "?sslmode=require", directory / "no-ca-here.crt", monkeypatch) is True
