"""No input a client can send produces a 500: random query strings, paths and bodies against the API targets."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROBLEM = "application/problem+json"
FIELDS = ["start_date", "end_date", "distance", "window", "limit", "q", "offset", "x"]
EDGES = ["", "0", "-1", "1e309", "nan", "-inf", "99999999999999999999", "2147483648", "9223372036854775808",
         "2020-02-30", "0000-01-01", "0001-01-01", "9999-12-31", "2020-01-01T00:00:00+23:59",
         "0001-01-01T00:00:00+23:00", "2020-01-01T24:00:00Z", "\x00", "a\x00b", "%", "'--", "\\", "\u202e",
         "2020-01-01T00:00:00-99:00", "1" * 400]
NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(EDGES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
LENIENT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(reply) -> None:  # type: ignore[no-untyped-def]
    assert reply.status_code < 500, (reply.status_code, reply.data[:300])
    framework_404 = reply.status_code == 404 and reply.content_type.startswith("text/html")
    if reply.status_code >= 400 and not framework_404:  # a path Werkzeug itself cannot route never reaches us
        assert reply.content_type == PROBLEM and reply.get_json()["detail"]


@pytest.fixture
def clients(db, persons_client, connections_client):  # type: ignore[no-untyped-def]
    persons_client.post("/api/persons", json={"first_name": "A", "last_name": "B", "company_name": "C"})
    return persons_client, connections_client


@pytest.mark.parametrize("field", FIELDS)
def test_every_edge_value_in_every_field(clients, field: str) -> None:
    persons, connections = clients
    base = {"start_date": "2020-01-01", "end_date": "2020-01-02"}
    for value in EDGES:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {**base, field: value}.items())
        check(persons.get(f"/api/persons?{quote(field)}={quote(value, safe='')}"))
        check(connections.get(f"/api/persons/1/connection?{query}"))
        check(connections.get(f"/api/persons/1/locations?{query}"))
        check(persons.get(f"/api/persons/{quote(value, safe='')}"))
        check(connections.get(f"/api/locations/{quote(value, safe='')}"))


@LENIENT
@given(params=st.dictionaries(st.sampled_from(FIELDS), NASTY, max_size=5), person=NASTY)
def test_query_strings(clients, params: dict[str, str], person: str) -> None:
    persons, connections = clients
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
    pid = quote(person, safe="") or "1"
    check(persons.get(f"/api/persons?{query}"))
    check(persons.get(f"/api/persons/{pid}"))
    check(connections.get(f"/api/persons/{pid}/connection?{query}"))
    check(connections.get(f"/api/persons/1/connection?{query}"))
    check(connections.get(f"/api/persons/1/locations?{query}"))
    check(connections.get(f"/api/locations/{pid}"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
PERSONISH = st.fixed_dictionaries({}, optional={"first_name": JSON, "last_name": JSON, "company_name": JSON,
                                                "id": JSON, "extra": JSON})


@LENIENT
@given(body=st.one_of(JSON, PERSONISH), raw=st.binary(max_size=60),
       content_type=st.sampled_from(["application/json", "text/plain", "", "application/merge-patch+json"]))
def test_person_bodies(clients, body, raw: bytes, content_type: str) -> None:  # type: ignore[no-untyped-def]
    persons, _ = clients
    check(persons.post("/api/persons", data=json.dumps(body), content_type="application/json"))
    check(persons.post("/api/persons", data=raw, content_type=content_type))
