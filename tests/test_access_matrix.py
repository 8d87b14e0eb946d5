"""Who may call what, through the gateway of a real local stack: every route of the routing table x {anonymous,
expired, wrong signature, wrong audience, alg none, HS256 with the public key, device, service (ingest's
revocation-feed credential), attendee self, attendee other, organizer}.

Each case runs on a fresh person (the "self" of the path), so a case that deletes never changes another's
outcome. A route added to udaconnect.routes without a request here fails test_every_route_is_in_the_matrix.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from sqlalchemy import text

from bearer import stranger
from conftest import create_database
from udaconnect.auth import issue
from udaconnect.auth.policy import Access
from udaconnect.ports import free_port
from udaconnect.routes import ROUTES, Route
from udaconnect_dev.localstack import LocalStack

PRINCIPALS = ("anonymous", "expired", "wrong signature", "wrong audience", "alg none", "hs256 public key", "device",
              "service", "attendee self", "attendee other", "organizer")
BAD_TOKENS = ("expired", "wrong signature", "wrong audience", "alg none", "hs256 public key")


@dataclasses.dataclass
class Case:
    """One request about `person` (the path's person, fresh for the case)."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    stream: bool = False


@pytest.fixture(scope="module")
def stack(postgres_server: str, tmp_path_factory) -> Iterator[LocalStack]:
    settings = create_database(postgres_server, "udaconnect_access")
    with LocalStack(settings, api_port=free_port(), web_port=free_port(),
                    log_dir=tmp_path_factory.mktemp("access-logs")) as running:
        yield running


def _call(stack: LocalStack, case: Case, token: str | None) -> requests.Response:
    headers = dict(case.headers)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = None if case.body is None else json.dumps(case.body)
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    reply = requests.request(case.method, stack.api_url + case.path, data=body, headers=headers, timeout=30,
                             stream=case.stream)
    if case.stream and reply.status_code == 200:
        reply.close()  # a live stream has said its status: that is all this test needs
    else:
        _ = reply.content
    return reply


def _organizer(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token()}"}


def _new_person(stack: LocalStack) -> int:
    reply = requests.post(stack.api_url + "/api/persons", json={"first_name": "Ada", "last_name": "Case",
                                                                 "company_name": "Matrix"},
                          headers=_organizer(stack), timeout=30)
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def _location(stack: LocalStack, person: int) -> int:
    from udaconnect.storage import database

    with database.engine(stack.settings).begin() as conn:
        return int(conn.execute(text(
            "INSERT INTO location (person_id, coordinate, creation_time) VALUES "
            "(:p, ST_SetSRID(ST_MakePoint(-122.29, 37.55), 4326)::geography, now()) RETURNING id"), {"p": person})
            .scalar_one())


def _device(stack: LocalStack, person: int) -> tuple[str, str]:
    reply = requests.post(f"{stack.api_url}/api/persons/{person}/devices", json={"name": "matrix phone"},
                          headers=_organizer(stack), timeout=30)
    assert reply.status_code == 201, reply.text
    return reply.json()["device_id"], reply.json()["token"]


def _now() -> datetime:
    return datetime.now(UTC)


def _today() -> str:
    return _now().date().isoformat()


def _fix(person: int, device: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"/devices/{device}",
            "type": "io.udaconnect.location.reported.v1", "datacontenttype": "application/json",
            "data": {"person_id": person, "latitude": 37.55, "longitude": -122.29,
                     "recorded_at": _now().strftime("%Y-%m-%dT%H:%M:%SZ")}}


#: A request per route (by name), about the fresh person `p` (with device `d`, location `loc`).
EXAMPLES: dict[str, Callable[[dict[str, Any]], Case]] = {
    "connections": lambda c: Case(
        "GET", f"/api/persons/{c['p']}/connection?start_date={_today()}&end_date={_today()}&distance=5"),
    "track": lambda c: Case(
        "GET", f"/api/persons/{c['p']}/locations?start_date={_today()}&end_date={_today()}"),
    "encounters": lambda c: Case(
        "GET", f"/api/persons/{c['p']}/encounters?start_date={_today()}&end_date={_today()}"),
    "live-encounters": lambda c: Case(
        "GET", f"/api/persons/{c['p']}/encounters/live", headers={"Accept": "text/event-stream"}, stream=True),
    "devices": lambda c: Case("POST", f"/api/persons/{c['p']}/devices", {"name": "phone"}),
    "device": lambda c: Case("DELETE", f"/api/persons/{c['p']}/devices/{c['d']}"),
    "revoked-devices": lambda c: Case("GET", "/api/devices/revoked"),
    "location": lambda c: Case("GET", f"/api/locations/{c['loc']}"),
    "places": lambda c: Case("GET", "/api/places"),
    "report-location": lambda c: Case("POST", "/api/locations", {
        "person_id": c["p"], "latitude": 37.55, "longitude": -122.29,
        "creation_time": _now().strftime("%Y-%m-%dT%H:%M:%S")}),
    "report-events": lambda c: Case("POST", "/api/events", _fix(c["p"], c["d"]),
                                    {"Content-Type": "application/cloudevents+json"}),
    "persons": lambda c: Case("GET", "/api/persons"),
    "person": lambda c: Case("DELETE", f"/api/persons/{c['p']}"),
    "docs": lambda c: Case("GET", "/api/openapi.json"),
}
#: More requests for routes whose methods differ in effect (the matrix covers each).
EXTRA: dict[str, Callable[[dict[str, Any]], Case]] = {
    "GET /api/persons/{p}/devices": lambda c: Case("GET", f"/api/persons/{c['p']}/devices"),
    "GET /api/persons/{p}": lambda c: Case("GET", f"/api/persons/{c['p']}"),
    "POST /api/persons": lambda c: Case("POST", "/api/persons", {"first_name": "N", "last_name": "M",
                                                                 "company_name": "O"}),
}
#: Who may call what, written by hand from docs/security.md ("Who may call what", the threat model) and the
#: README's Security section, never read from udaconnect.routes: test_the_route_table_grants_what_the_docs_say
#: holds the code's table to it.
ACCESS = {
    "connections": "self", "track": "self", "encounters": "self", "live-encounters": "self", "devices": "self",
    "device": "self", "revoked-devices": "revocations", "location": "self", "places": "signed-in",
    "report-location": "device", "report-events": "device", "persons": "organizer", "person": "self",
    "docs": "public",
}
#: The status each caller gets for each request (a fresh person "self", the path's; "other" another attendee),
#: also by hand. Every bad token (expired, forged, other audience, alg none, HS256) answers as anonymous does.
#: A location of someone else answers 404 (its id tells nothing); a device only reports, an attendee never does;
#: the service token (ingest's) reads the revocation feed and nothing else.
COLUMNS = ("anonymous", "device", "service", "attendee self", "attendee other", "organizer")
TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    #                                anon  device service  self  other  organizer
    "connections":                  (401, 403, 403, 200, 403, 200),
    "track":                        (401, 403, 403, 200, 403, 200),
    "encounters":                   (401, 403, 403, 200, 403, 200),
    "live-encounters":              (401, 403, 403, 200, 403, 200),
    "devices":                      (401, 403, 403, 201, 403, 201),
    "device":                       (401, 403, 403, 204, 403, 204),
    "revoked-devices":              (401, 403, 200, 403, 403, 200),
    "location":                     (401, 403, 403, 200, 404, 200),
    "places":                       (401, 403, 403, 200, 200, 200),
    "report-location":              (401, 202, 403, 403, 403, 202),
    "report-events":                (401, 202, 403, 403, 403, 202),
    "persons":                      (401, 403, 403, 403, 403, 200),
    "person":                       (401, 403, 403, 204, 403, 204),
    "docs":                         (200, 200, 200, 200, 200, 200),
    "GET /api/persons/{p}/devices": (401, 403, 403, 200, 403, 200),
    "GET /api/persons/{p}":         (401, 403, 403, 200, 403, 200),
    "POST /api/persons":            (401, 403, 403, 403, 403, 201),
}


def expected(name: str, principal: str) -> int:
    """The status `principal` gets for request `name`: a cell of TABLE."""
    column = "anonymous" if principal in BAD_TOKENS else principal
    return TABLE[name][COLUMNS.index(column)]


def _token(stack: LocalStack, principal: str, person: int, other: int, device: tuple[str, str]) -> str | None:
    if principal == "anonymous":
        return None
    if principal == "device":
        return device[1]
    if principal == "attendee self":
        return stack.token("attendee", person)
    if principal == "attendee other":
        return stack.token("attendee", other)
    if principal == "organizer":
        return stack.token()
    if principal == "service":
        return stack.token("service")
    if principal == "hs256 public key":
        import base64
        import hashlib
        import hmac

        from udaconnect.auth import keys

        jwks = keys.with_key(stack.settings).auth_jwks_file
        now = int(time.time())

        def b64(data: bytes) -> bytes:
            return base64.urlsafe_b64encode(data).rstrip(b"=")

        (kid,) = keys.read_public_keys(Path(jwks))
        signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + b"." + b64(
            json.dumps({"iss": "udaconnect", "aud": "udaconnect", "sub": "organizer", "role": "organizer",
                        "iat": now, "exp": now + 3600}).encode())
        secret = Path(jwks).read_bytes()  # what every verifier holds
        return (signing_input + b"." + b64(hmac.new(secret, signing_input, hashlib.sha256).digest())).decode()
    if principal == "expired":
        return stack.token("attendee", person, ttl=-120)
    if principal == "wrong signature":
        return issue(stranger(stack.settings), "attendee",
                     person_id=person)
    if principal == "wrong audience":
        from udaconnect.auth import keys

        keyed = keys.with_key(stack.settings)
        return issue(dataclasses.replace(keyed, token_audience="someone-else"), "attendee", person_id=person,
                     ttl=timedelta(hours=1))
    assert principal == "alg none"
    now = int(time.time())
    return jwt.encode({"iss": "udaconnect", "aud": "udaconnect", "sub": "organizer", "role": "organizer",
                       "iat": now, "exp": now + 3600}, None, algorithm="none")


def _cases() -> list[tuple[str, Callable[[dict[str, Any]], Case]]]:
    return [*EXAMPLES.items(), *EXTRA.items()]


@pytest.fixture(scope="module")
def other(stack: LocalStack) -> int:
    return _new_person(stack)


def test_every_route_is_in_the_matrix() -> None:
    names = {route.name for route in ROUTES}
    assert names == set(EXAMPLES), f"routes without a matrix request: {names - set(EXAMPLES)}"
    assert set(TABLE) == {name for name, _ in _cases()}


def test_the_route_table_grants_what_the_docs_say() -> None:
    """udaconnect.routes, the table every function enforces, gives each route the access written above."""
    assert {route.name: str(route.access) for route in ROUTES} == ACCESS


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("name, make", _cases(), ids=[name for name, _ in _cases()])
def test_access(stack: LocalStack, other: int, principal: str, name: str,
                make: Callable[[dict[str, Any]], Case]) -> None:
    person = _new_person(stack)
    device = _device(stack, person)
    case = make({"p": person, "d": device[0], "loc": _location(stack, person)})
    reply = _call(stack, case, _token(stack, principal, person, other, device))
    want = expected(name, principal)
    assert reply.status_code == want, f"{principal} {case.method} {case.path}: {reply.status_code} {reply.text[:300]}"
    if want in (401, 403):
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert reply.json()["status"] == want
    if want == 401:
        assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_a_route_states_its_access() -> None:
    for route in ROUTES:
        assert isinstance(route, Route) and isinstance(route.access, Access), route


def _refused_once_ended(stack: LocalStack, end: str) -> None:
    """A fresh person's enrolled device reports (202), then `end` ("revoke" the device, or "erase" the person)
    through the API: ingest learns it from persons (its refresh every 5 s) and answers 401 within 7 s, and the
    revocation feed names the device."""
    person = _new_person(stack)
    device, token = _device(stack, person)

    def post() -> int:
        return requests.post(stack.api_url + "/api/events", data=json.dumps(_fix(person, device)), timeout=30,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/cloudevents+json"}).status_code

    assert post() == 202
    path = f"/api/persons/{person}/devices/{device}" if end == "revoke" else f"/api/persons/{person}"
    ended = requests.delete(stack.api_url + path, headers=_organizer(stack), timeout=30)
    assert ended.status_code == 204
    began = time.monotonic()
    while (status := post()) == 202 and time.monotonic() - began < 20:
        time.sleep(0.25)
    assert status == 401, status
    assert time.monotonic() - began < 12, "ingest refreshes its revoked devices every 5 s: within two refreshes"
    listed = requests.get(stack.api_url + "/api/devices/revoked", headers=_organizer(stack), timeout=30).json()
    assert device in listed["revoked"] and listed["until"]


def test_a_revoked_device_is_refused_at_ingest_within_seconds(stack: LocalStack) -> None:
    """Revoked through the API; ingest learns it from persons (its refresh every 5 s) and answers 401."""
    _refused_once_ended(stack, "revoke")


def test_an_erased_persons_devices_are_refused_at_ingest_within_the_revocation_bound(stack: LocalStack) -> None:
    """Erasure deletes the devices with their person; their tokens (valid a year) must end too: the revocation
    feed names them (device_ended), and ingest answers 401 as for a revoked device."""
    _refused_once_ended(stack, "erase")


# --- The cells that matter most, end to end with their bodies: another attendee's data, a device for another -----

def _get(stack: LocalStack, path: str, token: str, **kwargs: Any) -> requests.Response:
    return requests.get(stack.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)


def test_another_attendee_gets_403_for_a_track_connections_and_encounters_and_learns_nothing(
        stack: LocalStack, other: int) -> None:
    """The person's own token reads their track (so there is something to hide); another attendee's is refused
    with a problem that names no coordinate, and their unknown-looking location answers 404."""
    person = _new_person(stack)
    location = _location(stack, person)
    day = f"start_date={_today()}&end_date={_today()}"
    own = _get(stack, f"/api/persons/{person}/locations?{day}", stack.token("attendee", person))
    assert own.status_code == 200 and [item["id"] for item in own.json()] == [location], own.text
    theirs = stack.token("attendee", other)
    for path in (f"/api/persons/{person}/locations?{day}", f"/api/persons/{person}/connection?{day}&distance=5",
                 f"/api/persons/{person}/encounters?{day}", f"/api/persons/{person}"):
        reply = _get(stack, path, theirs)
        assert reply.status_code == 403, (path, reply.status_code, reply.text)
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert "37.55" not in reply.text and "122.29" not in reply.text and "Case" not in reply.text, reply.text
    reply = _get(stack, f"/api/locations/{location}", theirs)
    assert reply.status_code == 404 and "37.55" not in reply.text, reply.text
    assert _get(stack, f"/api/locations/{location}", stack.token("attendee", person)).status_code == 200


def test_another_attendees_live_stream_is_refused_and_no_token_is_taken_from_the_url(stack: LocalStack,
                                                                                    other: int) -> None:
    """Another attendee's token is 403 on the live stream; a token in the URL (?access_token=, what an
    EventSource would need) is refused whoever's it is, the stream's own person's too (400 naming it): URLs end
    up in logs. The person's own token in the header streams."""
    person = _new_person(stack)
    path = f"/api/persons/{person}/encounters/live"
    with _get(stack, path, stack.token("attendee", other), stream=True) as by_header:
        assert by_header.status_code == 403, by_header.status_code
    for token in (stack.token("attendee", other), stack.token("attendee", person)):
        with requests.get(f"{stack.api_url}{path}?access_token={token}", timeout=30, stream=True) as by_query:
            assert by_query.status_code == 400, by_query.status_code
            assert by_query.json()["errors"][0]["field"] == "access_token"
    with _get(stack, path, stack.token("attendee", person), stream=True) as own:
        assert own.status_code == 200 and own.headers["Content-Type"].startswith("text/event-stream")


def test_a_device_reports_for_its_own_person_only(stack: LocalStack, other: int) -> None:
    """A device's token reporting a fix of another person, or under another device's source, is refused (403),
    in both the CloudEvents and the original API; for its own person and source it is accepted (202)."""
    person = _new_person(stack)
    device, token = _device(stack, person)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents+json"}

    def report(event: dict[str, Any]) -> requests.Response:
        return requests.post(stack.api_url + "/api/events", data=json.dumps(event), headers=headers, timeout=30)

    for_other = report(_fix(other, device))
    assert for_other.status_code == 403 and for_other.headers["Content-Type"] == "application/problem+json"
    assert report({**_fix(person, device), "source": f"/devices/{uuid.uuid4()}"}).status_code == 403
    legacy = requests.post(stack.api_url + "/api/locations", headers={"Authorization": f"Bearer {token}"},
                           json={"person_id": other, "latitude": 37.55, "longitude": -122.29,
                                 "creation_time": _now().strftime("%Y-%m-%dT%H:%M:%S")}, timeout=30)
    assert legacy.status_code == 403, legacy.text
    assert report(_fix(person, device)).status_code == 202
