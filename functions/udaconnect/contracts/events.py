"""CloudEvent types and payloads: what devices report and what functions announce (schemas in schema/events/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from udaconnect.contracts.names import (
    ACCURACY_MAX,
    ACCURACY_MIN,
    DEVICE_SOURCE_PREFIX,
    ENCOUNTER_DETECTED,
    ENCOUNTERS_SOURCE,
    FIRST_YEAR,
    LAST_YEAR,
    LATITUDE_MAX,
    LOCATION_REPORTED,
    LOCATION_STORED,
    LOCATIONS_REPORTED,
    LONGITUDE_MAX,
    MAX_FIXES,
    MAX_OFFSET_MINUTES,
    PERSIST_SOURCE,
    PERSON_CREATED,
    PERSON_DELETED,
    PERSON_ID_MAX,
    PERSONS_SOURCE,
)
from udaconnect.contracts.person import Person
from udaconnect.contracts.text import RECORDED_AT, RFC3339, matches

__all__ = ["DEVICE_SOURCE_PREFIX", "ENCOUNTERS_SOURCE", "ENCOUNTER_DETECTED", "EVENT_TYPES", "LOCATIONS_REPORTED",
           "LOCATION_REPORTED", "LOCATION_STORED", "PERSIST_SOURCE", "PERSON_CREATED", "PERSON_DELETED",
           "PERSONS_SOURCE", "EncounterDetected", "LocationReported", "LocationStored", "LocationsReported",
           "PersonCreated", "PersonDeleted", "ReportedFix"]


def _storable_time(value: datetime) -> datetime:
    """An instant with an offset PostgreSQL takes, in a year the database and every reader hold."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("must include a UTC offset, e.g. 2020-07-07T10:00:00Z")
    if abs(offset) > timedelta(minutes=MAX_OFFSET_MINUTES):
        raise ValueError("the UTC offset must be between -15:59 and +15:59")
    if not FIRST_YEAR <= value.year <= LAST_YEAR or not FIRST_YEAR <= value.astimezone(UTC).year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _json_number(value: Any) -> Any:
    """A JSON number, as the document says: not true/false nor a numeric string (pydantic would take them)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        raise ValueError("must be a number, not a string")
    return value


def _rfc3339_text(value: Any) -> Any:
    """An RFC 3339 date-time, as the document says: not a Unix time nor another of the forms pydantic reads (a
    datetime, from Python, is one already)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not matches(RFC3339, value):
        raise ValueError("must be an RFC 3339 date-time with a UTC offset, e.g. 2020-08-18T10:37:06Z")
    return value.removesuffix("\n")  # which the pattern's `$` lets through, as in every JSON Schema tool in Python


def _storable_accuracy(value: float | None) -> float | None:
    if value is not None and 0 < value < ACCURACY_MIN:
        raise ValueError(f"must be 0 or at least {ACCURACY_MIN} (meters)")
    return value


JsonNumber = BeforeValidator(_json_number)
Accuracy = Annotated[
    float | None, JsonNumber, AfterValidator(_storable_accuracy),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": ACCURACY_MIN, "maximum": ACCURACY_MAX},
                              {"type": "number", "const": 0}, {"type": "null"}],
                    "description": f"Horizontal accuracy in meters (68 % confidence), when known: 0 or "
                                   f"{ACCURACY_MIN} to {ACCURACY_MAX}."}),
]


Latitude = Annotated[float, JsonNumber]
Longitude = Annotated[float, JsonNumber]
RecordedAt = Annotated[datetime, BeforeValidator(_rfc3339_text), AfterValidator(_storable_time)]
_RECORDED_AT = (f"When the fix was taken, ISO 8601 with a UTC offset between -15:59 and +15:59, in the "
                f"years {FIRST_YEAR} to {LAST_YEAR} (in UTC too), at most 5 minutes ahead of the server's clock.")


class LocationReported(BaseModel):
    """A position fix reported by a person's device."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.location.reported.v1")

    person_id: Annotated[int, JsonNumber] = Field(ge=1, le=PERSON_ID_MAX, examples=[5])
    latitude: Latitude = Field(ge=-LATITUDE_MAX, le=LATITUDE_MAX, allow_inf_nan=False, examples=[37.55363])
    longitude: Longitude = Field(ge=-LONGITUDE_MAX, le=LONGITUDE_MAX, allow_inf_nan=False, examples=[-122.290883])
    recorded_at: RecordedAt = Field(description=_RECORDED_AT, examples=["2020-08-18T10:37:06Z"],
                                    json_schema_extra={"pattern": RECORDED_AT})
    accuracy: Accuracy = Field(default=None, ge=0, le=ACCURACY_MAX, allow_inf_nan=False)


class ReportedFix(BaseModel):
    """One fix of a multi-fix report (its person is the report's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ReportedFix")

    latitude: Latitude = Field(ge=-LATITUDE_MAX, le=LATITUDE_MAX, allow_inf_nan=False, examples=[37.55363])
    longitude: Longitude = Field(ge=-LONGITUDE_MAX, le=LONGITUDE_MAX, allow_inf_nan=False, examples=[-122.290883])
    recorded_at: RecordedAt = Field(description=_RECORDED_AT, examples=["2020-08-18T10:37:06Z"],
                                    json_schema_extra={"pattern": RECORDED_AT})
    accuracy: Accuracy = Field(default=None, ge=0, le=ACCURACY_MAX, allow_inf_nan=False)


class LocationsReported(BaseModel):
    """A device's buffered fixes as one event: one person, 1 to MAX_FIXES fixes in time order. A fix is known by
    the event's (source, id) and its index in `fixes` (from 0), so a redelivery stores each fix once."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.locations.reported.v1")

    person_id: Annotated[int, JsonNumber] = Field(ge=1, le=PERSON_ID_MAX, examples=[5])
    fixes: list[ReportedFix] = Field(min_length=1, max_length=MAX_FIXES, description=(
        f"1 to {MAX_FIXES} fixes, oldest first (recorded_at never decreases); each is known by its index."))

    @model_validator(mode="after")
    def _in_time_order(self) -> LocationsReported:
        for index in range(1, len(self.fixes)):
            if self.fixes[index].recorded_at < self.fixes[index - 1].recorded_at:
                raise PydanticCustomError("time_order", "fixes[{index}].recorded_at is earlier than fix {before}: "
                                          "send fixes oldest first", {"index": index, "before": index - 1})
        return self


class PersonCreated(Person):
    """A person was added to the directory."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.person.created.v1", defer_build=True)


class PersonDeleted(BaseModel):
    """A person was erased, with their devices, fixes and encounters, in one transaction. The id is never given
    to anyone again: events still in flight for it are dropped, never stored."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.person.deleted.v1")

    person_id: int = Field(ge=1, le=PERSON_ID_MAX, examples=[5])
    erased_at: datetime = Field(description="When the erasure committed (ISO 8601 with offset).",
                                examples=["2020-08-18T10:37:06Z"])


class LocationStored(BaseModel):
    """A reported fix is in the location table (persist's reply; sent again for a redelivered report; for a
    multi-fix report, one per fix, published by persist before it answers)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.location.stored.v1")

    person_id: int = Field(ge=1, le=PERSON_ID_MAX, examples=[5])
    latitude: float = Field(ge=-LATITUDE_MAX, le=LATITUDE_MAX, allow_inf_nan=False, examples=[37.55363])
    longitude: float = Field(ge=-LONGITUDE_MAX, le=LONGITUDE_MAX, allow_inf_nan=False, examples=[-122.290883])
    recorded_at: datetime = Field(description="When the fix was taken (ISO 8601 with offset).",
                                  examples=["2020-08-18T10:37:06Z"])
    report_source: str = Field(description="The reporting CloudEvent's source: with report_id, the fix's key.",
                               examples=["/devices/phone-5"])
    report_id: str = Field(description="The reporting CloudEvent's id.", examples=["b8f5c7de-0001"])
    report_index: int | None = Field(
        default=None, ge=0, examples=[3],
        description=f"The fix's index in a {LOCATIONS_REPORTED} report (with source and id, the fix's key); "
                    f"absent for a single-fix report.")


class EncounterDetected(BaseModel):
    """Two persons started an encounter: a run of contacts within the encounter distance and window."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.encounter.detected.v1")

    encounter_id: int = Field(ge=1, examples=[12])
    person_ids: list[int] = Field(min_length=2, max_length=2, description="The pair, lower id first.",
                                  examples=[[5, 8]])
    first_seen: datetime = Field(description="The earliest fix of the run's contacts so far.",
                                 examples=["2020-08-18T10:37:06Z"])
    last_seen: datetime = Field(description="The latest fix of the run's contacts so far.",
                                examples=["2020-08-18T10:38:06Z"])
    longitude: float = Field(ge=-LONGITUDE_MAX, le=LONGITUDE_MAX, examples=[-122.290883],
                             description="Where: the mean of the contacts' midpoints so far.")
    latitude: float = Field(ge=-LATITUDE_MAX, le=LATITUDE_MAX, examples=[37.55363])
    contacts: int = Field(ge=0, description="Contacts counted so far (0 until both fixes of one were seen).")


#: Every event type this project produces or consumes, with its payload.
EVENT_TYPES: dict[str, type[BaseModel]] = {LOCATION_REPORTED: LocationReported, LOCATIONS_REPORTED: LocationsReported,
                                           PERSON_CREATED: PersonCreated, PERSON_DELETED: PersonDeleted,
                                           LOCATION_STORED: LocationStored,
                                           ENCOUNTER_DETECTED: EncounterDetected}
