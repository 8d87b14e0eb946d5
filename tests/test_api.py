"""The HTTP API contract: status codes, content types, problem details, field names, the original's bugs fixed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from udaconnect.contracts.api import Connection, Location, Person, Problem, TrackedLocation
from udaconnect.openapi import render
from udaconnect.settings import PROJECT_ROOT
from udaconnect.storage import bulk

PROBLEM = "application/problem+json"


@pytest.fixture
def seeded(db):
    raw = db.raw_connection()
    bulk.copy_persons(raw, [(1, "Taco", "Fargo", "Alpha Omega Upholstery"), (5, "Pam", "Trexler", "Hampton"),
                            (6, "Paul", "Badman", "Paul Badman & Associates")])
    t = datetime(2020, 8, 15, 10, tzinfo=UTC)
    bulk.copy_locations(raw, [(1, -106.5721, 35.0584, t), (5, -106.57211, 35.05841, t), (6, -122.29, 37.55, t)])
    raw.commit()
    raw.close()
    return db


def assert_problem(reply, status: int, field: str | None = None) -> dict:
    assert reply.status_code == status, reply.data
    assert reply.content_type == PROBLEM
    body = Problem.model_validate(reply.get_json())
    assert body.status == status and body.detail
    if field is not None:
        assert field in [e.field for e in body.errors], body
    return reply.get_json()


def test_persons_are_listed_by_id_with_the_original_field_names(seeded, persons_client) -> None:
    reply = persons_client.get("/api/persons")
    assert reply.status_code == 200 and reply.content_type == "application/json"
    body = reply.get_json()
    assert [p["id"] for p in body] == [1, 5, 6]
    assert list(body[0]) == ["id", "first_name", "last_name", "company_name"]
    assert reply.headers["X-Total-Count"] == "3"


def test_persons_search_and_paging(seeded, persons_client) -> None:
    assert [p["id"] for p in persons_client.get("/api/persons?q=paul").get_json()] == [6]
    assert [p["id"] for p in persons_client.get("/api/persons?q=HAMPTON").get_json()] == [5]
    assert persons_client.get("/api/persons?q=%25").get_json() == []  # LIKE wildcards are literal
    page = persons_client.get("/api/persons?limit=2")
    assert [p["id"] for p in page.get_json()] == [1, 5]
    assert page.headers["Link"] == '</api/persons?limit=2&offset=2>; rel="next"'
    last = persons_client.get("/api/persons?limit=2&offset=2")
    assert [p["id"] for p in last.get_json()] == [6] and "Link" not in last.headers
    assert_problem(persons_client.get("/api/persons?limit=0"), 400, "limit")
    assert_problem(persons_client.get("/api/persons?offset=-1"), 400, "offset")
    assert_problem(persons_client.get("/api/persons?limit=1&limit=2"), 400, "limit")


def test_creating_a_person_after_seeded_ids_works(seeded, persons_client) -> None:
    reply = persons_client.post("/api/persons", json={"first_name": "Ada", "last_name": "L", "company_name": "X"})
    assert reply.status_code == 201
    created = Person.model_validate(reply.get_json())
    assert created.id > 6 and reply.headers["Location"] == f"/api/persons/{created.id}"
    # the person as created, and the span of a record that has no fix yet
    assert persons_client.get(f"/api/persons/{created.id}").get_json() == {
        **reply.get_json(), "first_seen": None, "last_seen": None}


@pytest.mark.parametrize("body, field", [
    ({"first_name": "A", "last_name": "B"}, "company_name"),
    ({"first_name": "", "last_name": "B", "company_name": "C"}, "first_name"),
    ({"first_name": 1, "last_name": "B", "company_name": "C"}, "first_name"),
    ({"first_name": "A", "last_name": "B", "company_name": "C", "id": 1}, "id"),
    ([1, 2], "body"),
])
def test_bad_person_bodies_name_the_field(db, persons_client, body, field) -> None:
    assert_problem(persons_client.post("/api/persons", json=body), 400, field)


def test_malformed_json_and_wrong_content_type(db, persons_client) -> None:
    assert_problem(persons_client.post("/api/persons", data="{bad", content_type="application/json"), 400, "body")
    assert_problem(persons_client.post("/api/persons", data="a=b", content_type="text/plain"), 400, "body")
    assert_problem(persons_client.post("/api/persons", data=b"\xff\xfe", content_type="application/json"), 400)


@pytest.mark.parametrize("path", ["/api/persons/404", "/api/persons/abc", "/api/persons/-1",
                                  "/api/persons/99999999999999999999999", "/api/nothing"])
def test_unknown_persons_are_404(db, persons_client, path) -> None:
    assert_problem(persons_client.get(path), 404)


def test_unsupported_method_is_405_with_allow(db, persons_client) -> None:
    reply = persons_client.put("/api/persons/1")
    assert_problem(reply, 405)
    assert reply.headers["Allow"] == "GET, DELETE"


def test_a_function_grants_no_origin_and_sends_the_security_headers(db, persons_client) -> None:
    """CORS is the gateway's to decide (UDACONNECT_CORS_ORIGINS): a function never answers `*` any more."""
    reply = persons_client.options("/api/persons", headers={"Origin": "http://localhost:30000",
                                                             "Access-Control-Request-Method": "POST"})
    assert reply.status_code == 204 and "Access-Control-Allow-Origin" not in reply.headers
    for answer in (reply, persons_client.get("/api/persons"), persons_client.get("/api/persons/999999")):
        assert not [name for name, _ in answer.headers if name.lower().startswith("access-control-")]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_location_has_numbers_with_the_right_labels(seeded, connections_client) -> None:
    reply = connections_client.get("/api/locations/1")
    body = Location.model_validate(reply.get_json())
    assert (body.longitude, body.latitude) == (-106.5721, 35.0584)
    assert reply.get_json()["creation_time"] == "2020-08-15T10:00:00+00:00"
    assert_problem(connections_client.get("/api/locations/999"), 404)
    assert_problem(connections_client.get("/api/locations/x"), 404)


def test_someone_elses_location_answers_as_one_that_does_not_exist(seeded, connections_client) -> None:
    """403 against 404 would tell which ids exist: another person's location is 404, with an unknown id's body."""
    from bearer import headers

    owner = connections_client.get("/api/locations/1").get_json()["person_id"]
    other = headers(role="attendee", person_id=owner + 1)
    theirs = connections_client.get("/api/locations/1", headers=other)
    unknown = connections_client.get("/api/locations/999999", headers=other)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.get_json() == json.loads(unknown.get_data(as_text=True).replace("999999", "1"))
    assert dict(theirs.headers) == dict(unknown.headers) | {"Content-Length": theirs.headers["Content-Length"]}
    mine = connections_client.get("/api/locations/1", headers=headers(role="attendee", person_id=owner))
    assert mine.status_code == 200


def test_connections_answer_the_original_clients_request(seeded, connections_client) -> None:
    reply = connections_client.get("/api/persons/1/connection?start_date=2020-01-01&end_date=2020-12-30&distance=5")
    assert reply.status_code == 200 and reply.content_type == "application/json"
    (met,) = [Connection.model_validate(c) for c in reply.get_json()]
    assert met.person.id == 5 and met.location.person_id == 5
    assert reply.get_json()[0]["location"]["creation_time"] == "2020-08-15T10:00:00+00:00"


def test_connections_accept_instants_with_offset(seeded, connections_client) -> None:
    base = "/api/persons/1/connection?distance=5"
    hit = connections_client.get(base + "&start_date=2020-08-15T09:00:00Z&end_date=2020-08-15T12:00:00%2B02:00")
    assert [c["person"]["id"] for c in hit.get_json()] == [5]  # 12:00+02:00 is 10:00Z, inclusive
    miss = connections_client.get(base + "&start_date=2020-08-15T10:00:01Z&end_date=2020-08-16")
    assert miss.get_json() == []


def test_connections_as_geojson(seeded, connections_client) -> None:
    reply = connections_client.get("/api/persons/1/connection?start_date=2020-08-15&end_date=2020-08-15",
                                   headers={"Accept": "application/geo+json"})
    assert reply.status_code == 200 and reply.content_type == "application/geo+json"
    body = reply.get_json()
    assert body["type"] == "FeatureCollection"
    (feature,) = body["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-106.57211, 35.05841]}
    assert feature["properties"]["person"]["id"] == 5


@pytest.mark.parametrize("query, field", [
    ("end_date=2020-12-30", "start_date"),
    ("start_date=2020-01-01", "end_date"),
    ("start_date=2020-13-01&end_date=2020-12-30", "start_date"),
    ("start_date=yesterday&end_date=2020-12-30", "start_date"),
    ("start_date=2020-01-01T00:00:00&end_date=2020-12-30", "start_date"),  # no offset: ambiguous
    ("start_date=2020-12-30&end_date=2020-01-01", "end_date"),
    ("start_date=2020-01-01&end_date=2020-12-30&distance=abc", "distance"),
    ("start_date=2020-01-01&end_date=2020-12-30&distance=-5", "distance"),
    ("start_date=2020-01-01&end_date=2020-12-30&distance=0", "distance"),
    ("start_date=2020-01-01&end_date=2020-12-30&distance=nan", "distance"),
    ("start_date=2020-01-01&end_date=2020-12-30&distance=inf", "distance"),
    ("start_date=2020-01-01&end_date=2020-12-30&distance=1e9", "distance"),
    ("start_date=2020-01-01&end_date=2020-12-30&window=0", "window"),
    ("start_date=2020-01-01&end_date=2020-12-30&window=x", "window"),
    ("start_date=2020-01-01&end_date=2020-12-30&limit=0", "limit"),
    ("start_date=2020-01-01&end_date=2020-12-30&bogus=1", "bogus"),
])
def test_bad_connection_queries_name_the_field(seeded, connections_client, query, field) -> None:
    assert_problem(connections_client.get(f"/api/persons/1/connection?{query}"), 400, field)


def test_connections_of_an_unknown_person_are_404(seeded, connections_client) -> None:
    assert_problem(connections_client.get("/api/persons/77/connection?start_date=2020-01-01&end_date=2020-01-02"),
                   404)


def test_health(persons_client, connections_client) -> None:
    for client in (persons_client, connections_client):
        assert client.get("/health").get_json() == {"status": "ok"}


def test_checked_in_openapi_document_is_current() -> None:
    checked_in = (PROJECT_ROOT / "schema" / "openapi.json").read_text()
    assert checked_in == render(), "schema/openapi.json is stale: run `udaconnect openapi > schema/openapi.json`"


def test_openapi_is_served_and_names_every_route(persons_client) -> None:
    document = persons_client.get("/api/openapi.json").get_json()
    assert document == json.loads(render())
    assert set(document["paths"]) == {"/api/persons", "/api/persons/{person_id}", "/api/persons/{person_id}/locations",
                                      "/api/persons/{person_id}/connection", "/api/locations/{location_id}",
                                      "/api/events", "/api/locations", "/api/persons/{person_id}/encounters",
                                      "/api/persons/{person_id}/encounters/live", "/api/places",
                                      "/api/persons/{person_id}/devices",
                                      "/api/persons/{person_id}/devices/{device_id}", "/api/devices/revoked"}
    params = {p["name"] for p in document["paths"]["/api/persons/{person_id}/connection"]["get"]["parameters"]}
    assert params == {"person_id", "start_date", "end_date", "distance", "window", "limit"}


def test_a_persons_own_track(seeded, connections_client) -> None:
    reply = connections_client.get("/api/persons/1/locations?start_date=2020-08-15&end_date=2020-08-15")
    assert reply.status_code == 200
    (only,) = [TrackedLocation.model_validate(item) for item in reply.get_json()]
    assert only.person_id == 1 and (only.longitude, only.latitude) == (-106.5721, 35.0584) and only.untrusted is None
    assert connections_client.get("/api/persons/1/locations?start_date=2020-08-16&end_date=2020-08-16").get_json() == []
    assert_problem(connections_client.get("/api/persons/1/locations?start_date=2020-08-16"), 400, "end_date")
    assert_problem(connections_client.get("/api/persons/9/locations?start_date=2020-08-16&end_date=2020-08-17"), 404)


def test_openapi_documents_ingest_every_status_and_the_input_rules() -> None:
    """Finding 8: the document omitted POST /api/events and /api/locations, 413/503/504 and the input rules."""
    document = json.loads(render())
    events = document["paths"]["/api/events"]["post"]
    assert set(events["requestBody"]["content"]) == {"application/json", "application/cloudevents+json",
                                                     "application/cloudevents-batch+json"}
    assert {"ce-id", "ce-source", "ce-type", "ce-specversion", "ce-time"} <= {p["name"] for p in events["parameters"]}
    assert {"202", "400", "408", "413", "415", "431", "503", "504"} <= set(events["responses"])
    assert {"202", "400", "413", "503"} <= set(document["paths"]["/api/locations"]["post"]["responses"])
    search = document["paths"]["/api/persons/{person_id}/connection"]["get"]["responses"]
    assert "took too long" in search["504"]["description"]
    assert search["504"]["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in document["paths"].values():
        for operation in path.values():
            assert {"503", "504", "431"} <= set(operation["responses"]), operation["operationId"]
            for status, answer in operation["responses"].items():
                assert status < "400" or list(answer["content"]) == [PROBLEM], (operation["operationId"], status)
    text = json.dumps(document)
    assert "1900" in text and "9998" in text and "control characters" in text and "trimmed" in text
    assert "405" in document["info"]["description"] and "Allow" in document["info"]["description"]


def test_a_distance_that_is_not_a_number_is_reported_as_such(seeded, connections_client) -> None:
    for value in ("nan", "inf", "-inf"):
        body = assert_problem(connections_client.get(
            f"/api/persons/1/connection?start_date=2020-01-01&end_date=2020-01-02&distance={value}"), 400, "distance")
        (message,) = [e["message"] for e in body["errors"] if e["field"] == "distance"]
        assert "finite number" in message and "10000" not in message, message


def test_allow_names_only_the_methods_a_path_serves() -> None:
    """Finding 8: GET /api/persons/{id} said Allow: POST but answered POST with 405."""
    from udaconnect.routes import route_for

    assert route_for("/api/persons/1").allow == "DELETE, GET, HEAD, OPTIONS"  # type: ignore[union-attr]
    assert "POST" in route_for("/api/persons").allow  # type: ignore[union-attr]
    assert route_for("/api/events").allow == "OPTIONS, POST"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/api/persons/1%0A/locations", "/api/persons/%0A1", "/api/locations/%0D%0A1"])
def test_a_newline_in_the_path_is_a_problem_not_werkzeugs_html(persons_client, connections_client, path: str) -> None:
    """Issue 23: Werkzeug's "/<path:path>" stopped at a decoded newline, so its HTML 404 reached the client
    (schemathesis: undocumented Content-Type) instead of the function's problem."""
    client = persons_client if path.startswith("/api/persons/%") else connections_client
    reply = client.get(path)
    assert 400 <= reply.status_code < 500 and reply.content_type == PROBLEM, (reply.status_code, reply.data[:200])


def test_a_path_ending_in_a_newline_names_no_route() -> None:
    """A route's pattern ends in `$`, which re.match also lets match before a final newline: `/api/persons/%0A`
    (decoded, "/api/persons/\\n") listed the directory. The whole path must match."""
    from udaconnect.routes import route_for

    assert route_for("/api/persons/").name == "persons" and route_for("/api/persons/1").name == "person"  # type: ignore[union-attr]
    # the person "\n" (a path parameter, refused as an id by its handler), never the directory
    assert route_for("/api/persons/\n").name == "person"  # type: ignore[union-attr]
    for path in ("/api/persons\n", "/api/persons/1/\n", "/api/events\n", "/api/persons/1/connection\n"):
        assert route_for(path) is None, repr(path)
