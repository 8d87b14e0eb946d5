"""The PostGIS schema as SQLAlchemy Core tables (the Alembic migrations in schema/ create it)."""

from __future__ import annotations

from geoalchemy2 import Geography
from sqlalchemy import (
    JSON,
    REAL,
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

person = Table(
    "person",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("first_name", Text, nullable=False),
    Column("last_name", Text, nullable=False),
    Column("company_name", Text, nullable=False),
)

location = Table(
    "location",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
    # (longitude, latitude) on the WGS 84 spheroid: distances in meters, as GeoJSON orders axes
    Column("coordinate", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("creation_time", DateTime(timezone=True), nullable=False),
    Column("accuracy", REAL, nullable=True),
    # the CloudEvent that reported this fix: a redelivered event never makes a second row
    Column("event_source", Text, nullable=True),
    Column("event_id", Text, nullable=True),
    # the fix's index in a multi-fix report (migration 0005; 0 for a single fix): with source and id, its key
    Column("event_index", Integer, CheckConstraint("event_index >= 0", name="location_event_index_check"),
           nullable=False, server_default="0"),
    # the ~8 m space-time grid cell (migration 0002): computed by PostgreSQL, never written
    Column("cell", BigInteger, Computed("udaconnect_cell(ST_X(coordinate::geometry), ST_Y(coordinate::geometry))")),
    UniqueConstraint("event_source", "event_id", "event_index", name="location_event_key"),
)

#: Fixes kept but not believed (migration 0010), each with its reason (udaconnect.plausibility): read by the
#: owner's track and the organizers' counts, never by the search, encounters or the live stream.
location_untrusted = Table(
    "location_untrusted",
    metadata,
    Column("id", BigInteger, primary_key=True),  # location's sequence: ids are unique across both tables
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
    Column("coordinate", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("creation_time", DateTime(timezone=True), nullable=False),
    Column("accuracy", REAL, nullable=True),
    Column("event_source", Text, nullable=True),
    Column("event_id", Text, nullable=True),
    Column("event_index", Integer, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_source", "event_id", "event_index", name="location_untrusted_event_key"),
)

#: CloudEvents committed with the change they announce, until the broker holds them (udaconnect.events.outbox).
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("source", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("type", Text, nullable=False),
    # every other attribute in its wire form: specversion, subject, datacontenttype, partitionkey, ...
    Column("attributes", JSON().with_variant(JSONB(), "postgresql"), nullable=False, server_default="{}"),
    Column("data", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("source", "id", name="event_outbox_event_key"),
)

#: Runs of contacts between two persons (migration 0004); written by udaconnect.encounters.store only.
encounter = Table(
    "encounter",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("person_a", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
    Column("person_b", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("contacts", Integer, nullable=False, server_default="0"),
    Column("longitude", Float, nullable=False),
    Column("latitude", Float, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("person_a", "person_b", "first_seen", name="encounter_run_key"),
)

#: The fixes encounter detection has taken into account (a redelivered fix finds itself here).
encounter_scan = Table(
    "encounter_scan",
    metadata,
    Column("location_id", BigInteger, ForeignKey("location.id", ondelete="CASCADE"), primary_key=True),
)

#: Phones enrolled by their attendee (migration 0007): only the SHA-256 of each token is kept.
device = Table(
    "device",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("person_id", Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("token_sha256", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

#: Devices ended by their person's erasure (migration 0011): ids alone, for the revocation feed.
device_ended = Table(
    "device_ended",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("ended_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: Reads of a person's data by someone else (an organizer): who, what, whose, when (migration 0007).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("person_id", Integer, nullable=True),
    Column("detail", Text, nullable=False, server_default=""),
)

#: The id of each erased person (migration 0007): persist drops their in-flight events instead of dead-lettering.
person_erasure = Table(
    "person_erasure",
    metadata,
    Column("person_id", Integer, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
