"""The HTTP API's models: what clients send and receive (OpenAPI is generated from these)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_serializer,
)

from udaconnect.contracts import names
from udaconnect.contracts.person import Model as _Model
from udaconnect.contracts.person import NewPerson, Person, Printable
from udaconnect.contracts.text import DAY, INSTANT, matches, printable

__all__ = ["NewPerson", "Person", "Printable"]  # also API models, defined with the person.created payload

#: Distances beyond this are not "crossing paths" and would turn the search into a scan of the venue.
MAX_DISTANCE_M = 10_000.0
MAX_WINDOW_MIN = 7 * 24 * 60
MAX_PAGE = 1000
MAX_CONNECTIONS = 100_000
MAX_TRACK = 50_000


#: Years a conference can plausibly be in; also keeps "the day after" inside what Python and PostgreSQL hold.
FIRST_YEAR, LAST_YEAR = names.FIRST_YEAR, names.LAST_YEAR


def _day_or_instant(value: object) -> date | datetime:
    """YYYY-MM-DD is a whole UTC day; anything longer must be an ISO 8601 instant with an offset."""
    if isinstance(value, datetime | date):
        parsed: date | datetime = value
    elif isinstance(value, str) and matches(DAY, value):
        parsed = date.fromisoformat(value.strip())
    elif isinstance(value, str) and matches(INSTANT, value):
        parsed = datetime.fromisoformat(value.strip())
    else:  # the forms (and years) the OpenAPI document states; fromisoformat reads more
        raise ValueError(f"must be a date YYYY-MM-DD or an ISO 8601 date-time with seconds and a UTC offset (e.g. "
                         f"2020-07-07T10:00:00Z), in the years {FIRST_YEAR} to {LAST_YEAR}")
    if isinstance(parsed, datetime):
        if parsed.utcoffset() is None:
            raise ValueError("must include a UTC offset, e.g. 2020-07-07T10:00:00Z")
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
        try:
            parsed = parsed.astimezone(UTC)  # offsets up to ±23:59 parse here; PostgreSQL takes up to ±15:59
        except OverflowError:
            raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


def day_range(first: date | datetime, last: date | datetime, zone: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end) of a range from `first` to `last`: a day is all of itself in `zone` (the venue's), from its
    midnight to the next, whatever its length (23 or 25 hours at a change of clocks); an instant includes itself.
    Raises ValueError when the range ends before it starts."""
    from zoneinfo import ZoneInfo

    local = ZoneInfo(zone)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), local).astimezone(UTC)

    start = first if isinstance(first, datetime) else midnight(first)
    end = last + timedelta(microseconds=1) if isinstance(last, datetime) else midnight(last + timedelta(days=1))
    if end <= start:
        raise ValueError("end_date is before start_date")
    return start, end


DayOrInstant = Annotated[
    date | datetime,
    PlainValidator(_day_or_instant),
    # patterns, no format: a format would not have the whitespace _day_or_instant trims
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": DAY}, {"type": "string", "pattern": INSTANT}],
                    "description": f"YYYY-MM-DD (a whole day of the venue: midnight to midnight in /api/places' "
                                   f"time_zone, UTC where no venue is imported) or an ISO 8601 instant with a UTC "
                                   f"offset, in the years {names.FIRST_YEAR} to {names.LAST_YEAR} (in UTC too); "
                                   "surrounding spaces are trimmed."}),
]


class PlaceRef(_Model):
    """The venue place a location falls in (the smallest that holds it), or is within a few meters of."""

    id: str = Field(examples=["booth-12"])
    name: str = Field(examples=["Booth 12"])
    kind: str = Field(description="hall, room, stage, booth, coffee, food, lobby, entrance, ...",
                      examples=["booth"])


class Location(_Model):
    """One position fix of a person: (longitude, latitude) in WGS 84 degrees."""

    id: int = Field(examples=[29])
    person_id: int = Field(examples=[1])
    longitude: float = Field(ge=-180, le=180, examples=[-122.290883])
    latitude: float = Field(ge=-90, le=90, examples=[37.55363])
    creation_time: datetime = Field(description="When the fix was taken, ISO 8601 with offset.",
                                    examples=["2020-08-18T10:37:06+00:00"])
    place: PlaceRef | None = Field(default=None, description="Where in the venue (null: in no place, or no venue "
                                                             "imported); added to the original's fields.")

    @field_serializer("creation_time", when_used="json")
    def _iso(self, value: datetime) -> str:
        # the same form PostgreSQL writes in connection results: 2020-08-18T10:37:06+00:00
        return value.isoformat()


class TrackedLocation(Location):
    """One of the person's own fixes, as their track shows it: `untrusted` says why a fix is kept but not
    believed (it proves no meeting and no search or encounter uses it)."""

    untrusted: Literal["late", "speed", "burst", "imprecise"] | None = Field(
        default=None, description="null: trusted. late: older than UDACONNECT_MAX_FIX_AGE when it arrived; "
        "speed: too far from the person's neighbouring fixes for UDACONNECT_MAX_SPEED; burst: another place "
        "within a second of a trusted fix; imprecise: its accuracy is worse than UDACONNECT_MAX_ACCURACY.")


class PersonDetail(Person):
    """One person as GET /api/persons/{id} shows them to themselves and organizers: with the span of their record,
    so a page can open on the days they were there."""

    first_seen: datetime | None = Field(default=None, examples=["2020-07-06T16:02:00+00:00"],
                                        description="Their first fix the record believes (null: none yet).")
    last_seen: datetime | None = Field(default=None, examples=["2020-07-08T00:41:00+00:00"],
                                       description="Their latest believed fix (null: none yet).")

    @field_serializer("first_seen", "last_seen", when_used="json")
    def _iso(self, value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None


class Connection(_Model):
    """Another person met, at the first of their locations within the distance."""

    person: Person
    location: Location


class Area(_Model):
    """A coarse area: the center of a ~110 x 90 m cell (0.001 degrees) holding the location, and its reach."""

    longitude: float = Field(ge=-180, le=180, examples=[-122.291])
    latitude: float = Field(ge=-90, le=90, examples=[37.554])
    radius: float = Field(description="Meters from the center within which the location was.", examples=[75])


class Presence(_Model):
    """Where and which day another person was at a place this person was at too, at another time."""

    place: PlaceRef | None = Field(description="The venue place, or null where there is none (then `area`).")
    area: Area | None = Field(description="A coarse area, where no place names the spot (else null).")
    day: date = Field(description="The day, in the venue's time zone (UDACONNECT_VENUE_TIME_ZONE).",
                      examples=["2020-08-18"])


class PlaceShared(_Model):
    """An attendee's search without `window`: another person who was at one of the same places on some day, not
    necessarily at the same time. It names the place (or a coarse area) and the day, never the other person's
    coordinates or minute: being there would not have told more."""

    person: Person
    presence: Presence


class ConnectionQuery(_Model):
    """Whom person P crossed paths with."""

    start_date: DayOrInstant = Field(
        description="First day (inclusive, the venue's) as YYYY-MM-DD, or an ISO 8601 instant with offset.")
    end_date: DayOrInstant = Field(
        description="Last day (inclusive, the venue's) as YYYY-MM-DD, or an ISO 8601 instant with offset (inclusive).")
    distance: float = Field(default=5, gt=0, le=MAX_DISTANCE_M, allow_inf_nan=False,
                            description="Meters between the two fixes (a finite number).")
    window: float | None = Field(
        default=None, gt=0, le=MAX_WINDOW_MIN, allow_inf_nan=False,
        description="Minutes: the two fixes must also be this close in time (people who were there together).")
    limit: int | None = Field(default=None, ge=1, le=MAX_CONNECTIONS, description="At most this many people.")


class TrackQuery(_Model):
    """A person's own locations over a range of days."""

    start_date: DayOrInstant = Field(description="First day (inclusive, the venue's), or an instant with offset.")
    end_date: DayOrInstant = Field(description="Last day (inclusive, the venue's), or an instant (inclusive).")
    limit: int = Field(default=5000, ge=1, le=MAX_TRACK, description="At most this many locations, earliest first.")


class EncounterQuery(_Model):
    """A person's encounters over a range: those with a contact between start_date and end_date."""

    start_date: DayOrInstant = Field(description="First day (inclusive, the venue's), or an instant with offset.")
    end_date: DayOrInstant = Field(description="Last day (inclusive, the venue's), or an instant (inclusive).")
    limit: int = Field(default=1000, ge=1, le=MAX_CONNECTIONS, description="At most this many, earliest first.")


class Encounter(_Model):
    """A run of contacts with another person: fixes of both within the encounter distance and window, with no gap
    longer than the window."""

    id: int = Field(examples=[12], description="Increasing in the order encounters were detected.")
    person: Person = Field(description="The other person.")
    first_seen: datetime = Field(examples=["2020-08-18T10:14:00+00:00"])
    last_seen: datetime = Field(examples=["2020-08-18T10:31:00+00:00"])
    longitude: float = Field(examples=[-122.290883], description="Where: the mean of the contacts' midpoints.")
    latitude: float = Field(examples=[37.55363])
    contacts: int = Field(ge=0, description="Pairs of fixes within the distance and window.")

    @field_serializer("first_seen", "last_seen", when_used="json")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()


class PersonQuery(_Model):
    """Search and paging of the person directory."""

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Printable,
                 WithJsonSchema({"type": "string", "pattern": printable(200)})] | None = Field(
        default=None, description="Case-insensitive match on first name, last name or company; trimmed, at most "
                                  "200 characters, no control characters.")
    limit: int | None = Field(default=None, ge=1, le=MAX_PAGE, description="Page size (all when absent).")
    offset: int = Field(default=0, ge=0, le=2**31 - 1, description="Persons to skip.")


class FieldProblem(_Model):
    field: str
    message: str


class Problem(_Model):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = Field(default_factory=list)


class InvalidEvent(_Model):
    """One refused event of a request: its index (0 outside a batch) and its id as sent."""

    index: int
    id: Any = Field(default=None, description="The event's id as sent (any JSON value, when it was not a string).")
    fixes: list[int] | None = Field(default=None, description="A multi-fix event's bad fixes, by index (absent "
                                                              "when no single fix is to blame).")


class EventsProblem(Problem):
    """Problem details naming each refused event of a POST /api/events."""

    invalid: list[InvalidEvent] = Field(default_factory=list)


class Health(_Model):
    status: str = "ok"


class RevokedDevicesQuery(_Model):
    """Which revoked devices to list: those revoked after `since`."""

    since: DayOrInstant | None = Field(
        default=None, description="The `until` of the last answer (an ISO 8601 instant with offset, or a UTC day); "
                                  "without it, every device revoked within a device token's lifetime.")


class NewDevice(_Model):
    """A phone to enrol for a person: only a name to tell it apart (optional)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), Printable,
                    WithJsonSchema({"type": "string", "pattern": printable(100)})] = Field(
        default="", examples=["Taco's phone"], description="At most 100 characters once trimmed; no control "
                                                          "characters.")


class Device(_Model):
    """An enrolled phone of a person (its token is never shown again)."""

    device_id: str = Field(examples=["0b7c4a8e-3f0e-4c55-9d0c-2f4e8c1f5a10"],
                           description="Its events' source is /devices/<device_id>.")
    name: str = Field(examples=["Taco's phone"])
    created_at: datetime = Field(examples=["2026-12-01T09:00:00+00:00"])
    revoked_at: datetime | None = Field(default=None, description="When it was revoked (null: it may report).")

    @field_serializer("created_at", "revoked_at", when_used="json")
    def _iso(self, value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None


class EnrolledDevice(_Model):
    """A device just enrolled, with its bearer token: shown this once, only its SHA-256 is kept."""

    device_id: str = Field(examples=["0b7c4a8e-3f0e-4c55-9d0c-2f4e8c1f5a10"])
    name: str = Field(examples=["Taco's phone"])
    token: str = Field(description="The device's bearer token for POST /api/events (Authorization: Bearer); "
                                   "it reports this person's fixes with source /devices/<device_id> only.")
    created_at: datetime = Field(examples=["2026-12-01T09:00:00+00:00"])

    @field_serializer("created_at", when_used="json")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()
