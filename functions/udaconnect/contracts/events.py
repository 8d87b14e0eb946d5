"""CloudEvent types and payloads: what devices report and what functions announce (schemas in schema/events/)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from udaconnect.contracts.names import (
    ACCURACY_MAX,
    DEVICE_SOURCE_PREFIX,
    LATITUDE_MAX,
    LOCATION_REPORTED,
    LONGITUDE_MAX,
    PERSON_CREATED,
    PERSON_ID_MAX,
    PERSONS_SOURCE,
)
from udaconnect.contracts.person import Person

__all__ = ["DEVICE_SOURCE_PREFIX", "EVENT_TYPES", "LOCATION_REPORTED", "PERSON_CREATED", "PERSONS_SOURCE",
           "LocationReported", "PersonCreated"]


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("must include a UTC offset, e.g. 2020-07-07T10:00:00Z")
    return value


class LocationReported(BaseModel):
    """A position fix reported by a person's device."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.location.reported.v1")

    person_id: int = Field(ge=1, le=PERSON_ID_MAX, examples=[5])
    latitude: float = Field(ge=-LATITUDE_MAX, le=LATITUDE_MAX, allow_inf_nan=False, examples=[37.55363])
    longitude: float = Field(ge=-LONGITUDE_MAX, le=LONGITUDE_MAX, allow_inf_nan=False, examples=[-122.290883])
    recorded_at: Annotated[datetime, AfterValidator(_aware)] = Field(
        description="When the fix was taken, ISO 8601 with offset.", examples=["2020-08-18T10:37:06Z"])
    accuracy: float | None = Field(default=None, ge=0, le=ACCURACY_MAX, allow_inf_nan=False,
                                   description="Horizontal accuracy in meters (68 % confidence), when known.")


class PersonCreated(Person):
    """A person was added to the directory."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="io.udaconnect.person.created.v1", defer_build=True)


#: Every event type this project produces or consumes, with its payload.
EVENT_TYPES: dict[str, type[BaseModel]] = {LOCATION_REPORTED: LocationReported, PERSON_CREATED: PersonCreated}
