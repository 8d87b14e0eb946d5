"""schema/events/ holds the JSON Schema of every CloudEvent payload, generated from the models and never stale."""

from __future__ import annotations

import json

import jsonschema
import pytest

from udaconnect import schemas
from udaconnect.contracts.events import EVENT_TYPES, LOCATION_REPORTED, PERSON_CREATED


def test_schema_files_match_the_models() -> None:
    assert schemas.stale() == [], "schema/events/ is stale: run `udaconnect schemas` and commit the result"


def test_stale_detects_a_changed_or_missing_file(tmp_path) -> None:
    schemas.write(tmp_path)
    assert schemas.stale(tmp_path) == []
    (tmp_path / f"{LOCATION_REPORTED}.json").write_text("{}")
    (tmp_path / f"{PERSON_CREATED}.json").unlink()
    assert schemas.stale(tmp_path) == sorted([f"{LOCATION_REPORTED}.json", f"{PERSON_CREATED}.json"])


def _schema(event_type: str) -> dict:
    return json.loads((schemas.DIRECTORY / f"{event_type}.json").read_text())


@pytest.mark.parametrize("payload, valid", [
    ({"person_id": 5, "latitude": 37.5, "longitude": -122.2, "recorded_at": "2020-08-18T10:37:06Z"}, True),
    ({"person_id": 5, "latitude": 37.5, "longitude": -122.2, "recorded_at": "2020-08-18T10:37:06Z",
      "accuracy": 3}, True),
    ({"person_id": 5, "latitude": 91, "longitude": -122.2, "recorded_at": "2020-08-18T10:37:06Z"}, False),
    ({"person_id": 5, "latitude": 1, "longitude": 1}, False),
    ({"person_id": 5, "latitude": 1, "longitude": 1, "recorded_at": "2020-08-18T10:37:06Z", "x": 1}, False),
])
def test_location_reported_schema_agrees_with_the_model(payload: dict, valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(_schema(LOCATION_REPORTED))
    assert validator.is_valid(payload) is valid
    model_ok = True
    try:
        EVENT_TYPES[LOCATION_REPORTED].model_validate(payload)
    except ValueError:
        model_ok = False
    assert model_ok is valid


def test_every_event_type_has_a_schema_with_its_id() -> None:
    for event_type in EVENT_TYPES:
        schema = _schema(event_type)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/{event_type}.json") and schema["title"] == event_type


def test_cli_check_reports_stale(capsys) -> None:
    from udaconnect.cli import main

    assert main(["schemas", "--check"]) == 0
