"""The event contracts' names and limits, importable without pydantic (ingest and persist start without it).

udaconnect.contracts.events builds the payload models from these; nothing else defines them.
"""

from __future__ import annotations

#: Reverse-DNS, versioned: a breaking payload change gets a new type, so old and new can flow side by side.
LOCATION_REPORTED = "io.udaconnect.location.reported.v1"
#: A phone's buffered fixes as one event: one person, up to MAX_FIXES fixes in time order (each keeps its index).
LOCATIONS_REPORTED = "io.udaconnect.locations.reported.v1"
PERSON_CREATED = "io.udaconnect.person.created.v1"
#: A person erased themselves (or an organizer erased them): their devices, fixes and encounters are gone.
PERSON_DELETED = "io.udaconnect.person.deleted.v1"
#: persist announces each fix it holds (stored now or by an earlier delivery); encounters announces each new run.
LOCATION_STORED = "io.udaconnect.location.stored.v1"
ENCOUNTER_DETECTED = "io.udaconnect.encounter.detected.v1"
#: The CloudEvent extension attribute ingest sets on every report it accepts: when it arrived (RFC 3339, UTC),
#: which persist judges a fix's age by. A client's own value is replaced, never believed.
ARRIVED = "arrivedat"
#: The CloudEvent source prefix of a device's reports: /devices/<device-id>.
DEVICE_SOURCE_PREFIX = "/devices/"
PERSONS_SOURCE = "/udaconnect/persons"
#: The type of a Knative PingSource's events (the retention function's schedule).
PING = "dev.knative.sources.ping"
PERSIST_SOURCE = "/udaconnect/persist"
ENCOUNTERS_SOURCE = "/udaconnect/encounters"

#: A location report's fields and their bounds (inclusive).
LOCATION_FIELDS = ("person_id", "latitude", "longitude", "recorded_at", "accuracy")
#: A fix's fields inside a multi-fix report (the person is the report's).
FIX_FIELDS = ("latitude", "longitude", "recorded_at", "accuracy")
#: The most fixes one multi-fix report may hold (the contract's bound; Settings.max_fixes may lower it).
MAX_FIXES = 500
PERSON_ID_MAX = 2**31 - 1  # PostgreSQL integer
LATITUDE_MAX = 90
LONGITUDE_MAX = 180
ACCURACY_MAX = 100_000  # meters
#: A non-zero accuracy is at least a millimetre: the column is a REAL, which cannot hold values below ~1e-38.
ACCURACY_MIN = 0.001
#: Years a fix (and a search) can be in, local and UTC alike: PostgreSQL and Python both hold them, with a day
#: to spare either side.
FIRST_YEAR, LAST_YEAR = 1900, 9998
#: The largest UTC offset PostgreSQL takes in a timestamptz literal (±15:59); Python parses up to ±23:59.
MAX_OFFSET_MINUTES = 15 * 60 + 59
#: At most this many attributes per CloudEvent (required, optional and extensions): each travels as a header.
MAX_ATTRIBUTES = 50
