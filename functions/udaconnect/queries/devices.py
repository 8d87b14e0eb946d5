"""A person's enrolled devices: enrol (a signed device token, shown once, kept only as its SHA-256), list, revoke."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from udaconnect.auth import issue
from udaconnect.contracts.api import Device, EnrolledDevice
from udaconnect.errors import Conflict, NotFound
from udaconnect.settings import Settings
from udaconnect.storage.tables import device, device_ended, person

#: A device token's lifetime: a phone enrolled once keeps reporting for the conference season; revoking the
#: device (DELETE .../devices/{id}) ends it sooner.
TOKEN_TTL = timedelta(days=365)
_COLUMNS = (device.c.id.label("device_id"), device.c.name, device.c.created_at, device.c.revoked_at)
#: pg_advisory_xact_lock's first key for "a person's devices are being enrolled" (the second is the person's id):
#: two enrolments of one person at once take turns, so neither slips past UDACONNECT_MAX_DEVICES.
_ENROLLING = 0x75646576


def digest(token: str) -> bytes:
    """What the database keeps of a device token."""
    return hashlib.sha256(token.encode()).digest()


def enrol(conn: Connection, settings: Settings, person_id: int, name: str = "") -> EnrolledDevice:
    """A new device of `person_id` and its token (NotFound for a person that does not exist; Conflict when the
    person already has UDACONNECT_MAX_DEVICES active devices: each device has a rate limit of its own, so devices
    without end would be limits without end)."""
    _person_exists(conn, person_id)
    conn.execute(select(func.pg_advisory_xact_lock(_ENROLLING, person_id)))
    active = conn.execute(select(func.count()).select_from(device).where(
        device.c.person_id == person_id, device.c.revoked_at.is_(None))).scalar_one()
    if active >= settings.max_devices:
        raise Conflict(f"person {person_id} already has {active} active devices, the most allowed "
                       f"(UDACONNECT_MAX_DEVICES={settings.max_devices}): revoke one "
                       f"(DELETE /api/persons/{person_id}/devices/{{device_id}}) before enrolling another")
    device_id = str(uuid.uuid4())
    token = issue(settings, "device", person_id=person_id, device_id=device_id, ttl=TOKEN_TTL)
    created = conn.execute(insert(device).values(id=device_id, person_id=person_id, name=name,
                                                 token_sha256=digest(token)).returning(device.c.created_at))
    return EnrolledDevice(device_id=device_id, name=name, token=token, created_at=created.scalar_one())


def list_devices(conn: Connection, person_id: int) -> list[Device]:
    """The person's devices, revoked ones too, oldest first."""
    _person_exists(conn, person_id)
    rows = conn.execute(select(*_COLUMNS).where(device.c.person_id == person_id)
                        .order_by(device.c.created_at, device.c.id))
    return [Device.model_validate(row._mapping) for row in rows]


def revoke(conn: Connection, person_id: int, device_id: str) -> None:
    """Revoke `person_id`'s device (again is a no-op); NotFound when it is not theirs or does not exist."""
    try:
        key = str(uuid.UUID(device_id))
    except ValueError:
        raise NotFound(f"device {device_id[:64]!r} does not exist") from None
    found = conn.execute(update(device).where(device.c.id == key, device.c.person_id == person_id)
                         .values(revoked_at=func.coalesce(device.c.revoked_at, func.now()))
                         .returning(device.c.id)).first()
    if found is None:
        raise NotFound(f"person {person_id} has no device {key}")


def _person_exists(conn: Connection, person_id: int) -> None:
    if conn.execute(select(person.c.id).where(person.c.id == person_id)).first() is None:
        raise NotFound(f"person {person_id} does not exist")


def revoked_since(conn: Connection, since: datetime | None) -> tuple[list[str], datetime]:
    """Devices revoked, or ended by their person's erasure, after `since` (every such device whose token may
    still be valid without one), and the database's clock now, for the next call's `since`."""
    now = conn.execute(select(func.now())).scalar_one()
    floor = since if since is not None else now - TOKEN_TTL
    revoked = select(device.c.id, device.c.revoked_at.label("at")).where(device.c.revoked_at > floor)
    ended = select(device_ended.c.id, device_ended.c.ended_at.label("at")).where(device_ended.c.ended_at > floor)
    rows = conn.execute(revoked.union_all(ended).order_by("at"))
    return [str(row.id) for row in rows], now
