"""Tokens and their rules outside the access matrix: what a token may claim, an external OpenID Connect issuer
(checked against a JWKS the test serves), the audit log of organizers' reads, the search rate limit, the open
mode, and `udaconnect token`."""

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

from bearer import TEST_SECRET
from udaconnect.auth import Access, authorize, issue, verify
from udaconnect.auth.policy import principal_of
from udaconnect.errors import Forbidden, InfrastructureError, Unauthorized
from udaconnect.settings import Settings

KEYED = Settings(auth_secret=TEST_SECRET)


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
        verify(KEYED, jwt.encode(body, TEST_SECRET, algorithm="HS256"))


def test_forged_none_and_other_algorithms_are_refused() -> None:
    now = int(time.time())
    body = {"iss": "udaconnect", "aud": "udaconnect", "sub": "x", "iat": now, "exp": now + 60, "role": "organizer"}
    with pytest.raises(Unauthorized, match="HS256"):
        verify(KEYED, jwt.encode(body, None, algorithm="none"))
    with pytest.raises(Unauthorized, match="HS256"):
        verify(KEYED, jwt.encode(body, TEST_SECRET * 2, algorithm="HS512"))
    with pytest.raises(Unauthorized, match="signature"):
        verify(KEYED, jwt.encode(body, "x" * 40, algorithm="HS256"))
    with pytest.raises(Unauthorized, match="not a JWT"):
        verify(KEYED, "not.a.token")


def test_without_a_key_tokens_are_a_configuration_error_not_an_open_door() -> None:
    with pytest.raises(InfrastructureError, match="UDACONNECT_AUTH_SECRET is unset"):
        verify(Settings(), issue(KEYED, "organizer"))
    with pytest.raises(InfrastructureError, match="too short"):
        issue(Settings(auth_secret="short"), "organizer")


def test_the_header_forms() -> None:
    assert principal_of(KEYED, {}).role == "anonymous"
    with pytest.raises(Unauthorized, match="Bearer"):
        principal_of(KEYED, {"authorization": "Basic dXNlcjpwYXNz"})
    token = issue(KEYED, "organizer")
    assert principal_of(KEYED, {"authorization": f"bearer {token}"}).organizer
    assert principal_of(KEYED, {}, query_token=token).organizer
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
    local = Settings(auth_secret=keys.local_secret(tmp_path))
    assert oct((tmp_path / keys.FILE).stat().st_mode & 0o777) == "0o600"
    principal = verify(local, done.stdout.strip())
    assert (principal.role, principal.person_id) == ("attendee", 5)
    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1800
    linked = _cli(tmp_path, "token", "--organizer", "--name", "grace", "--link", "--web-url", "http://x:30000")
    assert linked.stdout.startswith("http://x:30000/#token=")
    assert verify(local, linked.stdout.strip().split("#token=")[1]).subject == "organizer:grace"
    refused = _cli(tmp_path, "token", "--person", "5", "--ttl", "90d")
    assert refused.returncode == 2 and "between 1s and 30d" in refused.stderr


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
