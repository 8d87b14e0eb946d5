"""The PostGIS schema as SQLAlchemy Core tables (the Alembic migrations in schema/ create it)."""

from __future__ import annotations

from geoalchemy2 import Geography
from sqlalchemy import (
    REAL,
    BigInteger,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

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
    # the ~8 m space-time grid cell (migration 0002): computed by PostgreSQL, never written
    Column("cell", BigInteger, Computed("udaconnect_cell(ST_X(coordinate::geometry), ST_Y(coordinate::geometry))")),
    UniqueConstraint("event_source", "event_id", name="location_event_key"),
)
