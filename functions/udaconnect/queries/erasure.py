"""Erase a person: their row and everything that hangs off it, the erasure's record, in the caller's transaction.

The foreign keys do the work (ON DELETE CASCADE): `device` (its ids first written to `device_ended`, which the
revocation feed reads: an erased person's phones are refused like revoked ones), `location` (and through it
`encounter_scan`) and `encounter` (either side) go with the `person` row. Events about the person still
waiting in the outbox (their person.created, the encounters they started) are deleted too: no copy of their data
is published after the erasure. `person_erasure` keeps the id alone, so persist can tell an erased person's
in-flight fixes (dropped and counted) from an unknown person's (dead-lettered). Person ids come from an identity
column and are never given out again, so no later event can bring an erased person back: their fixes find no
`person` row.

Concurrent writers: persist's and encounters' inserts take a key-share lock on the person row (the foreign key);
the DELETE waits for them and its cascades see what they committed, and an insert that comes after the DELETE
fails its foreign key (persist then finds the id in `person_erasure`; encounters retries and finds no fix).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from udaconnect.contracts.names import ENCOUNTER_DETECTED, PERSON_CREATED

_DELETE = "DELETE FROM person WHERE id = :person RETURNING id"
#: Before the cascade takes them: the person's devices, still able to report for up to a year, enter the
#: revocation feed (device_ended), so ingest refuses their tokens as it does a revoked device's.
_END_DEVICES = ("INSERT INTO device_ended (id) SELECT id FROM device WHERE person_id = :person "
                "ON CONFLICT (id) DO NOTHING")
_RECORD = ("INSERT INTO person_erasure (person_id) VALUES (:person) "
           "ON CONFLICT (person_id) DO UPDATE SET erased_at = excluded.erased_at RETURNING erased_at")
#: Undelivered announcements naming the person: its person.created (subject = id) and any encounter.detected
#: of a pair holding it (subject = "a,b").
_OUTBOX = """
DELETE FROM event_outbox
WHERE (type = :created AND attributes->>'subject' = :id)
   OR (type = :detected AND (attributes->>'subject' LIKE :id || ',%' OR attributes->>'subject' LIKE '%,' || :id))
"""


def erase_person(conn: Connection, person_id: int) -> datetime | None:
    """Delete the person and what is theirs and record the erasure; when it committed, or None when there is no
    such person (nothing changes)."""
    conn.execute(text(_END_DEVICES), {"person": person_id})
    if conn.execute(text(_DELETE), {"person": person_id}).first() is None:
        return None
    conn.execute(text(_OUTBOX), {"id": str(person_id), "created": PERSON_CREATED, "detected": ENCOUNTER_DETECTED})
    erased_at: datetime = conn.execute(text(_RECORD), {"person": person_id}).scalar_one()
    return erased_at


def is_erased(conn: Connection, person_id: int) -> bool:
    return conn.execute(text("SELECT EXISTS (SELECT 1 FROM person_erasure WHERE person_id = :p)"),
                        {"p": person_id}).scalar() is True
