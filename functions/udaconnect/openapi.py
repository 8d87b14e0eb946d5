"""The OpenAPI document, generated from the contracts (schema/openapi.json is this, checked in)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from udaconnect.contracts import api
from udaconnect.contracts.events import LOCATION_REPORTED, LOCATIONS_REPORTED, LocationReported, LocationsReported
from udaconnect.contracts.names import LATITUDE_MAX, LONGITUDE_MAX, MAX_ATTRIBUTES, PERSON_ID_MAX
from udaconnect.contracts.text import (
    JSON_MEDIA_TYPE,
    LATITUDE_TEXT,
    LEGACY_TIME,
    LONGITUDE_TEXT,
    PERSON_ID_TEXT,
)

_REF = "#/components/schemas/{model}"
_MODELS = (api.NewPerson, api.Person, api.PersonDetail,
           api.Location, api.TrackedLocation, api.Connection, api.PlaceShared, api.Problem,
           api.EventsProblem,
           api.NewDevice, api.Device, api.EnrolledDevice,
           api.Health, api.Encounter)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


PROBLEM = "application/problem+json"


def _problem(description: str) -> dict[str, Any]:
    return _json(_ref("Problem"), description, PROBLEM)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", "")
        prop.pop("title", None)
        params.append({"name": name, "in": "query", "required": name in required,
                       "description": description, "schema": prop})
    return params


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": 1}}


#: Answers any operation may get from the gateway in front (each a problem+json).
_EVERYWHERE = {
    "431": "Too many request headers (more than 100) or more than 32 KiB of them.",
    "503": "The function behind this path, or its database or broker, is unavailable: try again (Retry-After).",
    "504": "The function behind this path did not answer within the gateway's timeout for it.",
}
#: Answers to any request with a body.
_WITH_BODY = {
    "408": "The body did not arrive in time.",
    "413": "The body is larger than this operation takes (64 KiB; 1 MiB for ingest), refused before it is read.",
}


def _problems(operation: dict[str, Any], *extra: dict[str, str]) -> dict[str, Any]:
    """`operation` with the problem answers every such operation can give added to its responses."""
    for answers in (_EVERYWHERE, *extra):
        for status, description in answers.items():
            operation["responses"].setdefault(status, _problem(description))
    return operation


def _ce_headers() -> list[dict[str, Any]]:
    described = {
        "ce-specversion": "Binary mode: `1.0`.",
        "ce-id": "Binary mode: the event's id, unique per source (a redelivered id is stored once).",
        "ce-source": "Binary mode: the device, `/devices/<device-id>`.",
        "ce-type": f"Binary mode: `{LOCATION_REPORTED}` (one fix) or `{LOCATIONS_REPORTED}` (a device's "
                   f"buffered fixes, oldest first: one event, each fix known by its index).",
        "ce-time": "Binary mode, optional: when the event happened, an RFC 3339 timestamp.",
        "ce-subject": "Binary mode, optional.",
        "ce-dataschema": "Binary mode, optional.",
        "ce-partitionkey": "Binary mode, optional: ingest sets it to the person's id (their fixes stay in order).",
    }
    # plain strings: structured and batch requests may carry any ce-* headers (ignored), and OpenAPI cannot tie a
    # header's schema to the body's media type
    return [{"name": name, "in": "header", "required": False, "description": text, "schema": {"type": "string"}}
            for name, text in described.items()]


#: A CloudEvent's `time`: RFC 3339 as Python reads it (not the year 0 nor a leap second).
_TIME = {"type": "string", "format": "date-time",
         "pattern": "^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9]"}


def _cloudevent(one: dict[str, Any], many: dict[str, Any]) -> dict[str, Any]:
    """A structured-mode CloudEvent of either type, its data the type's payload."""
    data_base64 = {"type": "string", "contentEncoding": "base64", "contentMediaType": "application/json",
                   "description": "The data as base64 JSON (read instead of `data`)."}

    def typed(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"properties": {"type": {"const": event_type}, "data": data,
                               "data_base64": {**data_base64, "contentSchema": data}}}

    return {
        "type": "object", "description": f"A structured-mode CloudEvent (at most {MAX_ATTRIBUTES} attributes besides "
                                         "`data` or `data_base64`; extension attributes are 1-64 lower-case letters "
                                         "and digits, with string, integer or boolean values).",
        "required": ["specversion", "id", "source", "type"],
        "allOf": [{"anyOf": [{"required": ["data"]}, {"required": ["data_base64"]}]},
                  {"oneOf": [typed(LOCATION_REPORTED, one), typed(LOCATIONS_REPORTED, many)]},
                  # at most MAX_ATTRIBUTES besides data and data_base64, whichever are present
                  {"anyOf": [{"maxProperties": MAX_ATTRIBUTES + 1},
                             {"required": ["data", "data_base64"], "maxProperties": MAX_ATTRIBUTES + 2}]}],
        "propertyNames": {"pattern": "^(?:[a-z0-9]{1,64}|data_base64)$"},
        "properties": {"specversion": {"const": "1.0"}, "id": {"type": "string", "minLength": 1},
                       "source": {"type": "string", "minLength": 1},
                       "type": {"enum": [LOCATION_REPORTED, LOCATIONS_REPORTED]},
                       "time": _TIME,
                       "datacontenttype": {"type": "string", "pattern": JSON_MEDIA_TYPE,
                                           "description": "application/json (the default) or text/json, any case, "
                                                          "with parameters after a `;`."},
                       "data": {"oneOf": [one, many]}, "data_base64": data_base64},
        "additionalProperties": {"type": ["string", "integer", "boolean"]},
    }


def _legacy_number(maximum: int, text: str, what: str) -> dict[str, Any]:
    return {"anyOf": [{"type": "number", "minimum": -maximum, "maximum": maximum}, {"type": "string", "pattern": text}],
            "description": f"{what}, -{maximum} to {maximum}: a number, or a decimal string (`37.5`) as the "
                           f"original sent."}


def _ingest_paths(one: dict[str, Any], many: dict[str, Any]) -> dict[str, Any]:
    fix = {"oneOf": [one, many]}
    late = {"type": "integer", "minimum": 0, "description": "How many of the fixes are older than "
            "UDACONNECT_MAX_FIX_AGE (30 minutes) at arrival: stored, but kept apart as untrusted (shown in the "
            "owner's track, never used by a search or an encounter)."}
    accepted = _json({"type": "object", "required": ["accepted", "ids", "late"],
                      "properties": {"accepted": {"type": "integer"}, "ids": {"type": "array",
                                                                                 "items": {"type": "string"}},
                                     "late": late}},
                     "Every event was published to the broker; persist stores each once, and judges each fix "
                     "against the person's other fixes (all their devices): one that arrived late, needs an "
                     "impossible speed, repeats within a second at another place, or is less accurate than "
                     "UDACONNECT_MAX_ACCURACY is kept apart as untrusted.")
    refused = _json(_ref("EventsProblem"), "An event is invalid (none of the request was accepted): `errors` "
                    "names each field, prefixed with the event's index in a batch, a multi-fix event's fix by its "
                    "index (`data.fixes[3].latitude`); `invalid` lists the bad events' index and id (and `fixes`, "
                    "the bad fixes' indexes).", PROBLEM)
    events = _problems({
        "operationId": "reportLocations", "summary": "Report location fixes as CloudEvents",
        "description": "Binary mode (`ce-*` headers, the fix as the application/json body), structured mode "
                       "(`application/cloudevents+json`) or batch mode (`application/cloudevents-batch+json`, at "
                       "most 1000 events and 1 MiB). Each event is one fix or, as "
                       f"`{LOCATIONS_REPORTED}`, a device's buffered fixes (one person, at most "
                       "UDACONNECT_MAX_FIXES (500), oldest first). All or nothing: when any event or fix is "
                       "invalid, none is published. A fix is stored when its person exists (else it is "
                       "dead-lettered). With a device's token (Authorization: Bearer, from POST "
                       "/api/persons/{person_id}/devices) every event must be that person's, with the source "
                       "`/devices/<device_id>` (else 403 naming each event); an organizer may report for anyone.",
        "parameters": _ce_headers(),
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": fix},
            "application/cloudevents+json": {"schema": _cloudevent(one, many)},
            # at most 1000 events, said in words: a longer batch is a 413, which JSON Schema cannot tell from a 400
            "application/cloudevents-batch+json": {"schema": {"type": "array", "minItems": 1,
                                                              "items": _cloudevent(one, many)}}}},
        "responses": {"202": accepted, "400": refused,
                      "413": _problem("More than 1000 events, UDACONNECT_MAX_FIXES (500) fixes or 1 MiB: split "
                                      "the batch."),
                      "415": _problem("Not a CloudEvent: no ce-* headers and no CloudEvents content type.")},
    }, _WITH_BODY)
    legacy = _problems({
        "operationId": "reportLocation", "summary": "Report one location (the original UdaConnect body)",
        "description": "Stored asynchronously, as a location.reported event: the id names the report, not a row.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["person_id", "latitude", "longitude"],
            "properties": {
                "person_id": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": PERSON_ID_MAX},
                                        {"type": "string", "pattern": PERSON_ID_TEXT}],
                              "description": "The person's id (a number, or a numeric string as the original "
                                             "sent)."},
                "latitude": _legacy_number(LATITUDE_MAX, LATITUDE_TEXT, "Degrees"),
                "longitude": _legacy_number(LONGITUDE_MAX, LONGITUDE_TEXT, "Degrees"),
                "creation_time": {"anyOf": [{"type": "string", "maxLength": 0}, {"type": "null"},
                                            {"type": "string", "pattern": LEGACY_TIME}],
                                  "description": "ISO 8601, UTC when it has no offset; offsets within ±15:59, "
                                                 "years 1900 to 9998 (in UTC too), at most 5 minutes ahead of the "
                                                 "server's clock. Now when absent, null or empty."}}}}}},
        "responses": {"202": _json({"type": "object", "required": ["id", "late"],
                                    "properties": {"id": {"type": "string", "description": (
                                        "The report's CloudEvent id, not a location id: GET /api/locations/{id} "
                                        "does not know it (the row is written later, by persist). The stored fix "
                                        "is in the person's track, GET /api/persons/{person_id}/locations.")},
                                        "late": late}},
                                   "Accepted: published to the broker."),
                      "400": _problem("Invalid input: each bad field is named in `errors`.")},
    }, _WITH_BODY)
    return {"/api/events": {"post": events}, "/api/locations": {"post": legacy}}


def _device_paths(person_id: dict[str, Any], bad: dict[str, Any]) -> dict[str, Any]:
    missing = _problem("No such person (or no such device of theirs).")
    enrol = _problems({
        "operationId": "enrolDevice", "summary": "Enrol a phone for this person: its token, shown this once",
        "description": "The token (a signed JWT, valid 365 days) lets the phone POST /api/events for this person "
                       "only, with the source `/devices/<device_id>`; only its SHA-256 is kept. The body is "
                       "optional. A person has at most UDACONNECT_MAX_DEVICES (default 3) active devices: revoke "
                       "one to enrol another (409). Enrolments are paced per person: UDACONNECT_ENROL_RATE an hour "
                       "(default 6), bursts of 3, an organizer ten times as many (429, Retry-After).",
        "parameters": [person_id],
        "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("NewDevice")}}},
        "responses": {"201": _json(_ref("EnrolledDevice"), "Enrolled; Location names the device."),
                      "400": bad, "404": missing,
                      "409": _problem("The person already has UDACONNECT_MAX_DEVICES active devices (named)."),
                      "429": _problem("Over this person's enrolment pace (UDACONNECT_ENROL_RATE): wait "
                                      "Retry-After seconds.")}}, _WITH_BODY)
    listed = _problems({
        "operationId": "listDevices", "summary": "The person's devices (revoked ones too; never their tokens)",
        "parameters": [person_id],
        "responses": {"200": _json({"type": "array", "items": _ref("Device")}, "Devices, oldest first."),
                      "404": missing}})
    revoke = _problems({
        "operationId": "revokeDevice", "summary": "Revoke a device: what it reports from now on is never stored",
        "description": "Ingest refuses the device (401) within about 5 s (it refreshes its list of revoked "
                       "devices from GET /api/devices/revoked); persist drops whatever it accepted before, in the "
                       "transaction that would store it. Revoking again is a no-op.",
        "parameters": [person_id, {"name": "device_id", "in": "path", "required": True,
                                   "description": "The device's id.", "schema": {"type": "string",
                                                                                 "format": "uuid"}}],
        "responses": {"204": {"description": "Revoked."}, "404": missing}})
    revoked = _problems({
        "operationId": "listRevokedDevices", "summary": "Devices revoked after `since` (what ingest refuses)",
        "parameters": _query_parameters(api.RevokedDevicesQuery),
        "responses": {"200": _json({"type": "object", "required": ["revoked", "until"],
                                    "properties": {"revoked": {"type": "array", "items": {"type": "string"}},
                                                   "until": {"type": "string", "format": "date-time"}}},
                                   "Their ids, and the `since` of the next call."),
                      "400": bad}})
    return {"/api/persons/{person_id}/devices": {"get": listed, "post": enrol},
            "/api/persons/{person_id}/devices/{device_id}": {"delete": revoke},
            "/api/devices/revoked": {"get": revoked}}


def _event_stream() -> dict[str, Any]:
    """The live stream's media type: a stream of Server-Sent Events (WHATWG HTML 9.2), each described by
    `x-itemSchema` as OpenAPI 3.2's `itemSchema` describes one item of a sequential media type (3.1 has no field
    for it; tools that know neither see a text stream)."""
    encounter = {"type": "object", "required": ["event", "id", "data"], "properties": {
        "event": {"const": "encounter"}, "id": {"type": "string", "pattern": "^[0-9]{1,18}$"},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": _ref("Encounter")}}}
    ready = {"type": "object", "required": ["event", "id", "data"], "properties": {
        "event": {"const": "ready"}, "id": {"type": "string", "pattern": "^[0-9]{1,18}$",
                                           "description": "Where to resume from (Last-Event-ID)."},
        "data": {"const": "{}"}}}
    control = {"type": "object", "description": "The first message: `retry: 1000` (reconnect after 1 s), and a "
                                                "comment; a `: keep-alive` comment every 15 s.",
               "properties": {"retry": {"type": "integer", "minimum": 0}}, "not": {"required": ["event"]}}
    return {"schema": {"type": "string", "description": "A stream of Server-Sent Events (text/event-stream), "
                                                        "never one JSON document."},
            "x-itemSchema": {"oneOf": [ready, encounter, control]}}


def _encounter_paths(person_id: dict[str, Any], bad: dict[str, Any], missing: dict[str, Any]) -> dict[str, Any]:
    listed = _problems({
        "operationId": "listEncounters", "summary": "The person's encounters with a contact in the range",
        "description": "An encounter is a run of contacts with one other person (fixes of both within "
                       "UDACONNECT_ENCOUNTER_DISTANCE meters and UDACONNECT_ENCOUNTER_WINDOW minutes, defaults "
                       "5 and 5) with no gap longer than the window, detected as fixes are stored.",
        "parameters": [person_id, *_query_parameters(api.EncounterQuery)],
        "responses": {"200": _json({"type": "array", "items": _ref("Encounter")}, "Encounters, earliest first."),
                      "400": bad, "404": missing}})
    stream = {"description": "Server-Sent Events: `event: encounter`, `id:` the encounter id, `data:` an "
                             "Encounter as JSON; first a `ready` event whose id is where to resume from.",
              "content": {"text/event-stream": _event_stream()}}
    live = _problems({
        "operationId": "liveEncounters", "summary": "The person's new encounters as they are detected (SSE)",
        "description": "Each new encounter of the person within about a second of its detection, from any "
                       "replica. The stream ends after UDACONNECT_LIVE_TIMEOUT seconds (240, inside Knative's "
                       "300 s request timeout) and asks the client to reconnect after 1 s; with Last-Event-ID "
                       "it resumes after that encounter. A comment is sent every 15 s to keep it open.",
        "parameters": [person_id, {"name": "Last-Event-ID", "in": "header", "required": False,
                                   "description": "Resume after this encounter id (EventSource sends it).",
                                   "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}],
        "responses": {"200": stream, "400": bad, "404": missing}})
    return {"/api/persons/{person_id}/encounters": {"get": listed},
            "/api/persons/{person_id}/encounters/live": {"get": live}}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document: every operation, and who may call it."""
    return secured(_operations())


def _operations() -> dict[str, Any]:
    _, definitions = models_json_schema([(m, "serialization") for m in _MODELS], ref_template=_REF)
    multi = LocationsReported.model_json_schema(ref_template=_REF)
    fix_defs = multi.pop("$defs")
    person_id = _path("person_id", "The person's id.")
    bad = _problem("Invalid input: each bad field is named in `errors`.")
    missing = _problem("No such person or location.")
    connections_ok = _json({"type": "array", "items": {"anyOf": [_ref("Connection"), _ref("PlaceShared")]}},
                           "One entry per other person, at their first meeting, ordered by time. Who sees what: "
                           "with `window` (co-presence: fixes of both within the distance and the window) every "
                           "caller gets `Connection`s, the meeting point and time. Without `window` (the same "
                           "place at any time in the range), an attendee searching their own connections gets "
                           "`PlaceShared`: the place (or a coarse area) and the venue's day, never the other "
                           "person's coordinates or minute; organizers (and UDACONNECT_AUTH=open) get "
                           "`Connection`s. Only trusted fixes count, on both sides.")
    connections_ok["content"]["application/geo+json"] = {"schema": {
        "type": "object", "description": "A GeoJSON FeatureCollection of the meeting points (RFC 7946)."}}
    too_long = _problem("Search took too long: it was stopped at its budget (UDACONNECT_SEARCH_TIMEOUT). Ask "
                        "for fewer days, a shorter distance or a time window.")
    return {
        "openapi": "3.1.0",
        "info": {"title": "UdaConnect API", "version": "1.0.0",
                 "description": "Whom did a conference attendee cross paths with? Compatible with the original "
                                "UdaConnect API's paths and fields. Every error is application/problem+json "
                                "(RFC 9457); a method a path does not serve is 405 with a true `Allow` header; "
                                "text is trimmed and may not hold control characters; dates are in the years "
                                f"{api.FIRST_YEAR} to {api.LAST_YEAR}."},
        "paths": {
            "/api/persons": {
                "get": _problems({"operationId": "listPersons", "summary": "List or search persons, ordered by id",
                                  "parameters": _query_parameters(api.PersonQuery),
                                  "responses": {"200": _json({"type": "array", "items": _ref("Person")},
                                                             "Persons; X-Total-Count and a next Link header when "
                                                             "paged."),
                                                "400": bad}}),
                "post": _problems({"operationId": "createPerson", "summary": "Create a person",
                                   "requestBody": {"required": True,
                                                   "content": {"application/json": {"schema": _ref("NewPerson")}}},
                                   "responses": {"201": _json(_ref("Person"), "Created; Location names the new "
                                                                              "person."),
                                                 "400": bad}}, _WITH_BODY),
            },
            "/api/persons/{person_id}": {
                "get": _problems({"operationId": "getPerson", "summary": "One person", "parameters": [person_id],
                                  "responses": {"200": _json(_ref("PersonDetail"), "The person, with the span of their "
                                                                 "record."), "404": missing}}),
                "delete": _problems({
                    "operationId": "deletePerson", "summary": "Erase a person and everything about them",
                    "description": "In one transaction: the person, their devices, locations, encounters and "
                                   "pending announcements; io.udaconnect.person.deleted.v1 is announced and their "
                                   "reports still in flight are dropped, never stored. Person ids are not reused.",
                    "parameters": [person_id],
                    "responses": {"204": {"description": "Erased."}, "404": missing}})},
            "/api/persons/{person_id}/connection": {"get": _problems({
                "operationId": "findConnections", "summary": "Whom this person crossed paths with",
                "parameters": [person_id, *_query_parameters(api.ConnectionQuery)],
                "responses": {"200": connections_ok, "400": bad, "404": missing, "504": too_long}})},
            "/api/persons/{person_id}/locations": {"get": _problems({
                "operationId": "getTrack", "summary": "The person's own locations, by time",
                "parameters": [person_id, *_query_parameters(api.TrackQuery)],
                "responses": {"200": _json({"type": "array", "items": _ref("TrackedLocation")},
                                           "Locations by time, the untrusted ones too, each marked with its "
                                           "reason (`untrusted`)."),
                              "400": bad, "404": missing}})},
            **_encounter_paths(person_id, bad, missing),
            **_device_paths(person_id, bad),
            "/api/locations/{location_id}": {"get": _problems({
                "operationId": "getLocation", "summary": "One location",
                "parameters": [_path("location_id", "The location's id.")],
                "responses": {"200": _json(_ref("Location"), "The location."), "404": missing}})},
            "/api/places": {"get": _problems({
                "operationId": "listPlaces", "summary": "The venue's places (halls, rooms, booths, ...) as GeoJSON",
                "description": "Imported with `udaconnect places import VENUE.geojson`. A location in any answer "
                               "names the smallest place holding it, or the nearest within 3 m (`place`).",
                "responses": {"200": _json({"type": "object", "required": ["type", "features", "time_zone"],
                                            "description": "A GeoJSON FeatureCollection (RFC 7946), largest place "
                                                           "first; each feature's properties hold name, kind and "
                                                           "the venue file's own (a booth's exhibitor); time_zone "
                                                           "is the venue's (UDACONNECT_VENUE_TIME_ZONE).",
                                            "properties": {"type": {"const": "FeatureCollection"},
                                                           "time_zone": {"type": "string"},
                                                           "features": {"type": "array",
                                                                        "items": {"type": "object"}}}},
                                           "The places.", "application/geo+json")}})},
            **_ingest_paths(LocationReported.model_json_schema(ref_template=_REF), multi),
        },
        "components": {"schemas": {**definitions["$defs"], **fix_defs},
                       "securitySchemes": {"bearer": {
                           "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "`udaconnect token --person ID` (an attendee), `--organizer`; a device's "
                                          "token comes from POST /api/persons/{person_id}/devices."}}},
    }


#: What each Access allows, said on each operation (udaconnect.routes decides; every function checks).
_WHO = {"signed-in": "any signed-in attendee or organizer", "self": "the person named in the path, or an organizer",
        "organizer": "organizers only", "device": "an enrolled device, for its own person and source; or an organizer",
        "revocations": "ingest's service token (role service, scope revocations), or an organizer"}
_LIMITED = ("connections", "ingest")


def secured(doc: dict[str, Any]) -> dict[str, Any]:
    """Each operation with who may call it (its route's Access), its bearer security and 401/403 (and 429 where
    a rate limit applies) answers; public operations say `security: []`."""
    from udaconnect.routes import route_for

    for path, operations in doc["paths"].items():
        route = route_for(path.replace("{person_id}", "1").replace("{location_id}", "1")
                          .replace("{device_id}", "00000000-0000-4000-8000-000000000000"))
        if route is None:
            continue
        for operation in operations.values():
            if route.access == "public":
                operation["security"] = []
                continue
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"{operation.get('description', '')}\n\nWho may call: {_WHO[route.access]}."\
                .strip()
            _problems(operation, {"401": "No bearer token, or one that is expired, forged or for another audience.",
                                  "403": "A valid token that may not do this (not yours, or not your role)."})
            if route.target in _LIMITED:
                _problems(operation, {"429": "Over this token's or device's rate limit: wait Retry-After seconds."})
    return doc


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"
