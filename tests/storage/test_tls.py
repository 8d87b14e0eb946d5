"""Database TLS as production configures it (issue 22): `sslmode=verify-full` in DATABASE_URL and the CA in
PGSSLROOTCERT (manifests/overlays/production). A real PostgreSQL serving a certificate for `localhost` signed by a
test CA: the functions' engine connects over TLS when the CA and the host name hold, and refuses a server whose
certificate another CA signed or that names another host."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from udaconnect.settings import Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(directory: Path, common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    (directory / f"{common}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _server_certificate(data: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> None:
    """server.crt and server.key in the data directory, for the DNS name localhost only (not 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (data / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = data / "server.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    stat = data.stat()  # the server's own user must own its key, readable by it alone
    for path in (data / "server.crt", key_file):
        os.chown(path, stat.st_uid, stat.st_gid)
    key_file.chmod(0o600)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("tls")
    server = EmbeddedPostgres(directory / "pg", fsync=False)
    url = server.start()
    ca_key, ca = _ca(directory, "udaconnect-test-db-ca")
    _ca(directory, "another-ca")
    _server_certificate(server.data, ca_key, ca)
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
