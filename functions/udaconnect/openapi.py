"""The OpenAPI document, generated from the contracts (schema/openapi.json is this, checked in)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from udaconnect.contracts import api

_REF = "#/components/schemas/{model}"
_MODELS = (api.NewPerson, api.Person, api.Location, api.Connection, api.Problem, api.Health)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return _json(_ref("Problem"), description, "application/problem+json")


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


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    _, definitions = models_json_schema([(m, "serialization") for m in _MODELS], ref_template=_REF)
    person_id = _path("person_id", "The person's id.")
    bad = _problem("Invalid input: each bad field is named in `errors`.")
    missing = _problem("No such person or location.")
    connections_ok = _json({"type": "array", "items": _ref("Connection")},
                           "One entry per other person, at their first meeting, ordered by time.")
    connections_ok["content"]["application/geo+json"] = {"schema": {
        "type": "object", "description": "A GeoJSON FeatureCollection of the meeting points (RFC 7946)."}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "UdaConnect API", "version": "1.0.0",
                 "description": "Whom did a conference attendee cross paths with? Compatible with the original "
                                "UdaConnect API's paths and fields."},
        "paths": {
            "/api/persons": {
                "get": {"operationId": "listPersons", "summary": "List or search persons, ordered by id",
                        "parameters": _query_parameters(api.PersonQuery),
                        "responses": {"200": _json({"type": "array", "items": _ref("Person")},
                                                   "Persons; X-Total-Count and a next Link header when paged."),
                                      "400": bad}},
                "post": {"operationId": "createPerson", "summary": "Create a person",
                         "requestBody": {"required": True,
                                         "content": {"application/json": {"schema": _ref("NewPerson")}}},
                         "responses": {"201": _json(_ref("Person"), "Created; Location names the new person."),
                                       "400": bad}},
            },
            "/api/persons/{person_id}": {"get": {
                "operationId": "getPerson", "summary": "One person", "parameters": [person_id],
                "responses": {"200": _json(_ref("Person"), "The person."), "404": missing}}},
            "/api/persons/{person_id}/connection": {"get": {
                "operationId": "findConnections", "summary": "Whom this person crossed paths with",
                "parameters": [person_id, *_query_parameters(api.ConnectionQuery)],
                "responses": {"200": connections_ok, "400": bad, "404": missing}}},
            "/api/persons/{person_id}/locations": {"get": {
                "operationId": "getTrack", "summary": "The person's own locations, by time",
                "parameters": [person_id, *_query_parameters(api.TrackQuery)],
                "responses": {"200": _json({"type": "array", "items": _ref("Location")}, "Locations by time."),
                              "400": bad, "404": missing}}},
            "/api/locations/{location_id}": {"get": {
                "operationId": "getLocation", "summary": "One location",
                "parameters": [_path("location_id", "The location's id.")],
                "responses": {"200": _json(_ref("Location"), "The location."), "404": missing}}},
        },
        "components": {"schemas": definitions["$defs"]},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"
