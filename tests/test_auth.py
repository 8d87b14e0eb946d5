"""Tokens and their rules outside the access matrix: what a token may claim, that only the issuer's key signs
(no verifier can mint), key rotation, service tokens, an external OpenID Connect issuer (checked against a JWKS
the test serves), the audit log of organizers' reads, the search rate limit, the open mode, and `udaconnect
token` / `udaconnect keys`."""

from __future__ import annotations

import dataclasses
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine, text

from bearer import TEST_KEYS, keyed, stranger
from udaconnect.auth import Access, authorize, issue, keys, verify
from udaconnect.auth.policy import principal_of
from udaconnect.errors import Forbidden, InfrastructureError, Unauthorized
from udaconnect.settings import Settings

KEYED = keyed()
#: A verifier: the public keys alone, as every function but the issuer has them.
VERIFIER = dataclasses.replace(KEYED, auth_signing_key_file="")


def _signed(body: dict, key: object = None, kid: str | None = None) -> str:
    """`body` signed with EdDSA by `key` (default: the test issuer's), with the issuer's kid unless given."""
    own_kid, own_key = keys.signing_key(KEYED)
    return jwt.encode(body, key or own_key, algorithm="EdDSA", headers={"kid": kid or own_kid})


def test_a_token_names_its_principal_and_expires() -> None:
    assert verify(KEYED, issue(KEYED, "attendee", person_id=7)).person_id == 7
    device = verify(KEYED, issue(KEYED, "device", person_id=7, device_id="d-1"))
    assert (device.role, device.person_id, device.source) == ("device", 7, "/devices/d-1")
    with pytest.raises(Unauthorized, match="expired"):
        verify(KEYED, issue(KEYED, "attendee", person_id=7, ttl=timedelta(seconds=-120)))
    with pytest.raises(ValueError):
        issue(KEYED, "attendee")  # an attendee names their person
    with pytest.raises(ValueError):
        issue(KEYED, "root")


@pytest.mark.parametrize("claims, reason", [
    ({"role": "attendee"}, "must name its person"),
    ({"role": "attendee", "person": "7"}, "must name its person"),
    ({"role": "attendee", "person": True}, "must name its person"),
    ({"role": "device", "person": 7}, "must name its device"),
    ({"role": "superuser"}, "no known role"),
    ({"role": "organizer", "aud": "elsewhere"}, "another audience"),
    ({"role": "organizer", "iss": "elsewhere"}, "another issuer"),
    ({"role": "organizer", "exp": None}, "not valid"),
])
def test_a_token_claiming_what_it_may_not_is_refused(claims: dict, reason: str) -> None:
    now = int(time.time())
    body = {"iss": "udaconnect", "aud": "udaconnect", "sub": "x", "iat": now, "exp": now + 60, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(Unauthorized, match=reason):
        verify(KEYED, _signed(body))


def _hmac(body: dict, secret: bytes | str, algorithm: str = "HS256", kid: str | None = None) -> str:
    """An HMAC token, built by hand: PyJWT itself refuses a PEM key as an HMAC secret (an attacker would not)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = {"alg": algorithm, "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(body).encode())
    secret = secret.encode() if isinstance(secret, str) else secret
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[algorithm]
    return (signing_input + b"." + b64(hmac.new(secret, signing_input, digest).digest())).decode()


def test_forged_none_and_other_algorithms_are_refused() -> None:
    now = int(time.time())
    body = {"iss": "udaconnect", "aud": "udaconnect", "sub": "x", "iat": now, "exp": now + 60, "role": "organizer"}
    with pytest.raises(Unauthorized, match="EdDSA"):
        verify(KEYED, jwt.encode(body, None, algorithm="none"))
    with pytest.raises(Unauthorized, match="EdDSA"):
        verify(KEYED, jwt.encode(body, "x" * 64, algorithm="HS512"))
    with pytest.raises(Unauthorized, match="does not publish"):
        verify(KEYED, _signed(body, kid="someone-elses-kid"))
    with pytest.raises(Unauthorized, match="does not publish"):
        verify(KEYED, jwt.encode(body, keys.signing_key(KEYED)[1], algorithm="EdDSA"))  # no kid at all
    with pytest.raises(Unauthorized, match="not a JWT"):
        verify(KEYED, "not.a.token")


def test_no_verifier_can_mint_a_token() -> None:
    """A function that checks tokens holds the public keys alone: it cannot sign, and nothing it holds signs a token
    another verifier takes (HS256 with the public key in any form, EdDSA by any other key under a trusted kid)."""
    with pytest.raises(InfrastructureError, match="holds no signing key"):
        issue(VERIFIER, "organizer")
    now = int(time.time())
    body = {"iss": "udaconnect", "aud": "udaconnect", "sub": "organizer", "iat": now, "exp": now + 60,
            "role": "organizer"}
    (kid, public), = keys.public_keys(VERIFIER).items()
    jwks_text = (TEST_KEYS / keys.JWKS).read_text()
    from cryptography.hazmat.primitives import serialization

    held = [jwks_text, json.dumps(keys.public_jwk(public)), public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw), keys.public_jwk(public)["x"]]
    for secret in held:
        for algorithm in ("HS256", "HS512"):
            with pytest.raises(Unauthorized, match="signed with EdDSA"):
                verify(VERIFIER, _hmac(body, secret, algorithm, kid=kid))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with pytest.raises(Unauthorized, match="signature"):
        verify(VERIFIER, _signed(body, Ed25519PrivateKey.generate(), kid=kid))  # the trusted kid, another key
    with pytest.raises(Unauthorized, match="does not publish"):
        verify(VERIFIER, issue(stranger(), "organizer"))  # a key of its own: not in the JWKS


def test_a_jwks_holding_anything_but_public_ed25519_keys_is_refused(tmp_path: Path) -> None:
    """A private or a symmetric key in the verifiers' JWKS would let each of them sign: never loaded."""
    jwk = json.loads((TEST_KEYS / keys.JWKS).read_text())["keys"][0]
    for bad in ({**jwk, "d": jwk["x"]}, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {**jwk, "crv": "X25519"}):
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps({"keys": [bad]}))
        with pytest.raises(InfrastructureError, match="only Ed25519 public keys"):
            keys.read_public_keys(path)


def test_without_keys_tokens_are_a_configuration_error_not_an_open_door() -> None:
    with pytest.raises(InfrastructureError, match="UDACONNECT_AUTH_JWKS_FILE is unset"):
        verify(Settings(), issue(KEYED, "organizer"))
    with pytest.raises(InfrastructureError, match="holds no signing key"):
        issue(Settings(), "organizer")


def test_a_key_roll_keeps_the_old_tokens_valid_for_the_overlap(tmp_path: Path, monkeypatch) -> None:
    """rotate: the new key signs, the JWKS holds both; a verifier running all along (no restart) takes both;
    retire: the old key's tokens are refused (a cached one too, within keys.RECHECK)."""
    monkeypatch.setattr(keys, "RECHECK", 0.0)
    old_kid = keys.rotate(tmp_path)
    issuer = dataclasses.replace(Settings(), auth_jwks_file=str(tmp_path / keys.JWKS),
                                 auth_signing_key_file=str(tmp_path / keys.SIGNING_KEY))
    verifier = dataclasses.replace(issuer, auth_signing_key_file="")
    before = issue(issuer, "attendee", person_id=4)
    assert verify(verifier, before).person_id == 4
    new_kid = keys.rotate(tmp_path)
    after = issue(issuer, "attendee", person_id=5)
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid == jwt.get_unverified_header(before)["kid"]
    assert list(keys.public_keys(verifier)) == [new_kid, old_kid]
    assert (verify(verifier, before).person_id, verify(verifier, after).person_id) == (4, 5)
    assert oct((tmp_path / keys.SIGNING_KEY).stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError, match="the key that signs"):
        keys.retire(tmp_path, new_kid)
    keys.retire(tmp_path, old_kid)
    with pytest.raises(Unauthorized, match="does not publish"):
        verify(verifier, before)
    assert verify(verifier, after).person_id == 5


def test_a_service_token_serves_its_one_route() -> None:
    from udaconnect.routes import access_for

    service = verify(VERIFIER, issue(KEYED, "service", scope="revocations", subject="service:ingest"))
    assert (service.role, service.scope, service.subject, service.person_id) == (
        "service", "revocations", "service:ingest", None)
    authorize(service, access_for("/api/devices/revoked"))
    for access, person in ((Access.SIGNED_IN, None), (Access.SELF, 1), (Access.ORGANIZER, None),
                           (Access.DEVICE, None)):
        with pytest.raises(Forbidden):
            authorize(service, access, person)
    attendee = verify(VERIFIER, issue(KEYED, "attendee", person_id=3))
    with pytest.raises(Forbidden):
        authorize(attendee, Access.REVOCATIONS)
    for scope in (None, "everything"):
        with pytest.raises(ValueError):
            issue(KEYED, "service", scope=scope)
    with pytest.raises(ValueError):
        issue(KEYED, "organizer", scope="revocations")
    now = int(time.time())
    with pytest.raises(Unauthorized, match="must name its scope"):
        verify(KEYED, _signed({"iss": "udaconnect", "aud": "udaconnect", "sub": "service:x", "iat": now,
                               "exp": now + 60, "role": "service", "scope": "persons"}))


def test_the_header_forms() -> None:
    assert principal_of(KEYED, {}).role == "anonymous"
    with pytest.raises(Unauthorized, match="Bearer"):
        principal_of(KEYED, {"authorization": "Basic dXNlcjpwYXNz"})
    token = issue(KEYED, "organizer")
    assert principal_of(KEYED, {"authorization": f"bearer {token}"}).organizer
    assert principal_of(KEYED, {}).role == "anonymous"  # no token in a URL is ever taken (tests/encounters)
    assert principal_of(dataclasses.replace(KEYED, auth="open"), {}).organizer  # open: everyone


def test_the_rules() -> None:
    attendee = verify(KEYED, issue(KEYED, "attendee", person_id=3))
    device = verify(KEYED, issue(KEYED, "device", person_id=3, device_id="d"))
    authorize(attendee, Access.SELF, 3)
    authorize(attendee, Access.SIGNED_IN)
    for access, person in ((Access.SELF, 4), (Access.ORGANIZER, None), (Access.DEVICE, None)):
        with pytest.raises(Forbidden):
            authorize(attendee, access, person)
    authorize(device, Access.DEVICE)
    with pytest.raises(Forbidden):
        authorize(device, Access.SELF, 3)  # a device reports; it reads nothing, not even its own person's


# An external OpenID Connect issuer: its JWKS served by the test on a real socket.

@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    keys = json.dumps({"keys": [{**public, "kid": "test-1", "use": "sig", "alg": "RS256"}]}).encode()

    class JWKS(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(keys)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    server.shutdown()


def _oidc_settings(jwks: str) -> Settings:
    return dataclasses.replace(KEYED, oidc_issuer="https://id.example.test", oidc_jwks_url=jwks,
                               oidc_audience="udaconnect-web", oidc_person_claim="attendee_id")


def _oidc_token(key: rsa.RSAPrivateKey, kid: str = "test-1", **claims: object) -> str:
    now = int(time.time())
    body = {"iss": "https://id.example.test", "aud": "udaconnect-web", "sub": "u-42", "iat": now, "exp": now + 300,
            **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def test_an_oidc_issuers_tokens_name_an_attendee_or_an_organizer(issuer) -> None:
    jwks, key = issuer
    settings = _oidc_settings(jwks)
    attendee = verify(settings, _oidc_token(key, attendee_id="12"))
    assert (attendee.role, attendee.person_id, attendee.subject) == ("attendee", 12, "oidc:u-42")
    assert verify(settings, _oidc_token(key, roles=["organizer"])).organizer
    with pytest.raises(Unauthorized, match="names no UdaConnect person"):
        verify(settings, _oidc_token(key))
    with pytest.raises(Unauthorized, match="another audience"):
        verify(settings, _oidc_token(key, aud="someone-else", attendee_id=12))
    with pytest.raises(Unauthorized, match="does not publish"):
        verify(settings, _oidc_token(key, kid="unknown", attendee_id=12))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized, match="not valid"):
        verify(settings, _oidc_token(other, attendee_id=12))  # the published kid, another key: a forgery
    # HMAC with the issuer's public key as the secret (the classic confusion) never passes
    forged = jwt.encode({"iss": "https://id.example.test", "aud": "udaconnect-web", "sub": "x", "roles": ["organizer"],
                         "exp": int(time.time()) + 60}, "public-key-as-a-shared-secret-" * 2, algorithm="HS256")
    with pytest.raises(Unauthorized, match="may not use"):
        verify(settings, forged)
    # our own tokens keep working beside the issuer's
    assert verify(settings, issue(settings, "attendee", person_id=5)).person_id == 5
    # the audience is required: an issuer configured without one is a configuration error, not an open door
    with pytest.raises(InfrastructureError, match="UDACONNECT_OIDC_AUDIENCE is unset"):
        verify(dataclasses.replace(settings, oidc_audience=""), _oidc_token(key, attendee_id="12"))
    with pytest.raises(Unauthorized, match="not valid"):
        verify(settings, _oidc_token(key, aud=None, attendee_id="12"))


# Through the functions (in-process clients; the test database).

@pytest.fixture
def met(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES "
                          "('Ada', 'Lovelace', 'Acme'), ('Alan', 'Turing', 'Bletchley')"))
        conn.execute(text("INSERT INTO location (person_id, coordinate, creation_time) VALUES "
                          "(1, 'SRID=4326;POINT(-122.4 37.78)', '2026-03-02T10:00:00Z'), "
                          "(2, 'SRID=4326;POINT(-122.4 37.78)', '2026-03-02T10:01:00Z')"))
    return db


SEARCH = "/api/persons/1/connection?start_date=2026-03-02&end_date=2026-03-02&distance=5"


def _bearer(role: str = "organizer", person_id: int | None = None, **extra: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(KEYED, role, person_id=person_id, **extra)}"}  # type: ignore[arg-type]


def test_an_organizers_reads_of_someone_are_audited_an_attendees_own_are_not(met, connections_client,
                                                                             persons_client) -> None:
    from udaconnect.auth import audit

    own = connections_client.get(SEARCH, headers=_bearer("attendee", 1))
    assert own.status_code == 200 and [c["person"]["id"] for c in own.get_json()] == [2]
    assert set(own.get_json()[0]["person"]) <= {"id", "first_name", "last_name", "company_name"}
    assert audit.entries(met) == []
    organizer = {"Authorization": f"Bearer {issue(KEYED, 'organizer', subject='organizer:grace')}"}
    assert connections_client.get(SEARCH, headers=organizer).status_code == 200
    assert persons_client.get("/api/persons/2", headers=organizer).status_code == 200
    logged = audit.entries(met)
    assert [(e["actor"], e["action"], e["person_id"]) for e in logged] == [
        ("organizer:grace", "read person", 2), ("organizer:grace", "read connections", 1)]
    assert "start_date=2026-03-02" in logged[1]["detail"]


def test_searches_past_the_rate_limit_get_429_with_retry_after(met, connections_client, monkeypatch) -> None:
    monkeypatch.setenv("UDACONNECT_SEARCH_RATE", "0.5")
    monkeypatch.setenv("UDACONNECT_SEARCH_BURST", "3")
    from udaconnect import bootstrap

    bootstrap.context.cache_clear()
    mine = _bearer("attendee", 1)
    answers = [connections_client.get(SEARCH, headers=mine) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].headers["Retry-After"] == "2" and answers[-1].mimetype == "application/problem+json"
    # the limit is per token subject: another attendee is not slowed by this one
    assert connections_client.get("/api/persons/2/connection?start_date=2026-03-02&end_date=2026-03-02",
                                  headers=_bearer("attendee", 2)).status_code == 200


def test_open_mode_lets_everyone_in_and_says_so(met, connections_client, monkeypatch, caplog) -> None:
    from udaconnect import bootstrap
    from udaconnect.auth import policy

    monkeypatch.setenv("UDACONNECT_AUTH", "open")
    monkeypatch.setattr(policy, "_warned", set())
    bootstrap.context.cache_clear()
    connections_client.environ_base.pop("HTTP_AUTHORIZATION")
    with caplog.at_level("WARNING"):
        assert connections_client.get(SEARCH).status_code == 200
    assert "authentication is OFF" in caplog.text


def test_a_token_problem_is_401_with_www_authenticate(met, connections_client) -> None:
    connections_client.environ_base.pop("HTTP_AUTHORIZATION")
    reply = connections_client.get(SEARCH)
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert reply.get_json()["errors"] == [{"field": "Authorization", "message": "missing"}]
    reply = connections_client.get(SEARCH, headers={"Authorization": "Bearer " + "x" * 20})
    assert reply.status_code == 401 and "not a JWT" in reply.get_json()["detail"]


# The command.

def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("UDACONNECT_AUTH")}
    return subprocess.run([sys.executable, "-m", "udaconnect.cli", "--data-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60, env={**env, "DATABASE_URL": ""})


def test_udaconnect_token_signs_with_the_local_key(tmp_path: Path) -> None:
    from udaconnect.auth import keys

    done = _cli(tmp_path, "token", "--person", "5", "--ttl", "30m")
    assert done.returncode == 0, done.stderr
    local = keys.with_key(Settings(data_dir=tmp_path))
    directory = tmp_path / keys.DIRECTORY
    assert oct((directory / keys.SIGNING_KEY).stat().st_mode & 0o777) == "0o600"
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    assert jwt.get_unverified_header(done.stdout.strip())["alg"] == "EdDSA"
    principal = verify(local, done.stdout.strip())
    assert (principal.role, principal.person_id) == ("attendee", 5)
    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1800
    linked = _cli(tmp_path, "token", "--organizer", "--name", "grace", "--link", "--web-url", "http://x:30000")
    assert linked.stdout.startswith("http://x:30000/#token=")
    assert verify(local, linked.stdout.strip().split("#token=")[1]).subject == "organizer:grace"
    refused = _cli(tmp_path, "token", "--person", "5", "--ttl", "90d")
    assert refused.returncode == 1 and "between 1s and 30d" in refused.stderr
    service = _cli(tmp_path, "token", "--service", "revocations")
    assert service.returncode == 0, service.stderr
    claims = jwt.decode(service.stdout.strip(), options={"verify_signature": False})
    assert (claims["role"], claims["scope"], claims["sub"]) == ("service", "revocations", "service:ingest")
    # a key roll by the command: the old token stays valid, the new one is signed by the new key
    old_kid = jwt.get_unverified_header(done.stdout.strip())["kid"]
    rolled = _cli(tmp_path, "keys", "rotate")
    assert rolled.returncode == 0 and rolled.stdout.splitlines()[-1] == old_kid, rolled.stderr
    fresh = _cli(tmp_path, "token", "--person", "6").stdout.strip()
    assert jwt.get_unverified_header(fresh)["kid"] != old_kid
    assert (verify(local, done.stdout.strip()).person_id, verify(local, fresh).person_id) == (5, 6)
    assert _cli(tmp_path, "keys", "retire", old_kid).returncode == 0
    assert len(_cli(tmp_path, "keys", "show").stdout.splitlines()) == 1


def test_the_audit_command_lists_who_read_what(met, tmp_path: Path, settings: Settings) -> None:
    from udaconnect.auth import audit, tokens

    audit.record(met, tokens.Principal("organizer", "organizer:grace"), "read track", 2, "start_date=2026-03-02")
    import os

    done = subprocess.run([sys.executable, "-m", "udaconnect.cli", "audit", "list", "--person", "2"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DATABASE_URL": settings.database_url})
    assert done.returncode == 0, done.stderr
    assert "organizer:grace  read track  person 2  start_date=2026-03-02" in done.stdout


def test_every_function_warns_at_start_when_auth_is_open() -> None:
    """functions-framework imports functions/main.py when a function process starts: that import says it."""
    import os

    from udaconnect.settings import PROJECT_ROOT

    def start(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", "import main"], cwd=PROJECT_ROOT / "functions", text=True,
                              capture_output=True, timeout=60, env={**os.environ, "UDACONNECT_AUTH": mode}).stderr

    assert "authentication is OFF" in start("open")
    assert "authentication is OFF" not in start("on")
    assert "UDACONNECT_AUTH must be on or open" in start("off")  # a typo never means "open"


def test_the_revoked_devices_list_refuses_a_bad_since(met, persons_client) -> None:
    assert persons_client.get("/api/devices/revoked").get_json()["revoked"] == []
    for since in ("yesterday", "2026-03-02T10:00:00"):
        reply = persons_client.get(f"/api/devices/revoked?since={since}")
        assert reply.status_code == 400 and reply.get_json()["errors"][0]["field"] == "since"
    assert persons_client.get("/api/devices/revoked", headers=_bearer("attendee", 1)).status_code == 403
