"""The event contracts' names and limits, importable without pydantic (ingest and persist start without it).

udaconnect.contracts.events builds the payload models from these; nothing else defines them.
"""

from __future__ import annotations

#: Reverse-DNS, versioned: a breaking payload change gets a new type, so old and new can flow side by side.
LOCATION_REPORTED = "io.udaconnect.location.reported.v1"
PERSON_CREATED = "io.udaconnect.person.created.v1"
#: The CloudEvent source prefix of a device's reports: /devices/<device-id>.
DEVICE_SOURCE_PREFIX = "/devices/"
PERSONS_SOURCE = "/udaconnect/persons"

#: A location report's fields and their bounds (inclusive).
LOCATION_FIELDS = ("person_id", "latitude", "longitude", "recorded_at", "accuracy")
PERSON_ID_MAX = 2**31 - 1  # PostgreSQL integer
LATITUDE_MAX = 90
LONGITUDE_MAX = 180
ACCURACY_MAX = 100_000  # meters
