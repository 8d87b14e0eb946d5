"""Encounters in PostGIS: each stored fix's contacts through the grid index, merged into the `encounter` table.

One detection at a time (a transaction-scoped advisory lock): merging needs the pair's runs as they are, and
with one writer encounter ids are also committed in increasing order, which is what lets a live stream resume
from an id (Last-Event-ID). A fix is taken into account once (`encounter_scan`): a redelivered fix finds itself
there and changes nothing, so it never makes a second run or a second announcement. Contacts of a fix are looked
for both ways in time, so a late or out-of-order fix meets earlier and later fixes of others alike; a contact is
found by whichever of its two fixes is detected second (that one sees the other committed) and counted there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from udaconnect.encounters.rule import Contact, Run, by_pair, merged

#: pg_advisory_xact_lock key of the detector (and of a rebuild): one writer of `encounter` at a time.
LOCK = 0x75_64_61_65_6E_63  # "udaenc"
#: The NOTIFY channel carrying "<encounter id>,<person_a>,<person_b>" for each new encounter, at commit.
CHANNEL = "udaconnect_encounter"

# The contacts of fixes: other persons' fixes within the distance (the same spheroid test as the connection
# search) and the window (inclusive both ways), found through the grid's index-only scan, or the GiST where the
# grid would need too many cells.
_CONTACTS = """
SELECT f.person_id, g.person_id, f.creation_time, g.creation_time,
       (ST_X(f.coordinate::geometry) + ST_X(g.coordinate::geometry)) / 2,
       (ST_Y(f.coordinate::geometry) + ST_Y(g.coordinate::geometry)) / 2,
       {counted}
FROM location f CROSS JOIN LATERAL (
    SELECT g.* FROM unnest(udaconnect_cells_near(f.coordinate, :distance)) AS c(cell) CROSS JOIN LATERAL (
        SELECT g.id, g.person_id, g.coordinate, g.creation_time FROM location g
        WHERE g.cell = c.cell
          AND g.creation_time >= f.creation_time - :window AND g.creation_time <= f.creation_time + :window
          AND g.person_id <> f.person_id {other}
          AND _ST_DWithin(g.coordinate, f.coordinate, :distance, true)
        OFFSET 0) AS g
    UNION ALL
    SELECT g.id, g.person_id, g.coordinate, g.creation_time FROM location g
    WHERE udaconnect_cells_near(f.coordinate, :distance) IS NULL
      AND ST_DWithin(g.coordinate, f.coordinate, :distance)
      AND g.creation_time >= f.creation_time - :window AND g.creation_time <= f.creation_time + :window
      AND g.person_id <> f.person_id {other}
) AS g
WHERE {fixes}
"""
#: Fixes being detected now: a contact with another of them is counted by the later id, with an older one
#: only when that one was detected already (else its own detection counts it).
FRESH_CONTACTS = _CONTACTS.format(
    counted="CASE WHEN g.id = ANY(:fresh) THEN g.id < f.id "
            "ELSE EXISTS (SELECT 1 FROM encounter_scan s WHERE s.location_id = g.id) END",
    other="", fixes="f.id = ANY(:fresh)")
#: Every contact with a fix from `since` on, once each (from the lower person id's side): the rebuild.
ALL_CONTACTS = _CONTACTS.format(
    counted="true", fixes="f.creation_time >= CAST(:since AS timestamptz) - :window",
    other="AND g.person_id > f.person_id AND g.creation_time >= CAST(:since AS timestamptz) - :window "
          "AND greatest(f.creation_time, g.creation_time) >= CAST(:since AS timestamptz)")
#: A fix is keyed by its report's (source, id) and its index in it: a multi-fix report's N announcements each
#: take their own fix, not all N of them again (N x N rows for N announcements). No index: every fix of the report.
_SCAN = """
INSERT INTO encounter_scan (location_id)
SELECT l.id FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[]), CAST(:indexes AS int[])) AS k(source, id, idx)
JOIN location l ON l.event_source = k.source AND l.event_id = k.id AND (k.idx IS NULL OR l.event_index = k.idx)
ON CONFLICT DO NOTHING RETURNING location_id
"""
_NEAR = """
SELECT e.id, e.person_a, e.person_b, e.first_seen, e.last_seen, e.contacts, e.longitude, e.latitude
FROM unnest(CAST(:a AS int[]), CAST(:b AS int[]), CAST(:lo AS timestamptz[]), CAST(:hi AS timestamptz[]))
     AS r(a, b, lo, hi)
JOIN encounter e ON e.person_a = r.a AND e.person_b = r.b
 AND e.first_seen <= r.hi + :window AND e.last_seen >= r.lo - :window
"""


@dataclass(frozen=True)
class Stored:
    """An encounter row."""

    id: int
    person_a: int
    person_b: int
    run: Run


def lock(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})


def _contacts(rows: Iterable[Sequence[Any]]) -> list[Contact]:
    return [Contact(p, q, min(tp, tq), max(tp, tq), lon, lat, bool(counted))
            for p, q, tp, tq, lon, lat, counted in rows]


def detect(conn: Connection, reports: Sequence[tuple[str, str] | tuple[str, str, int | None]], distance: float,
           window: timedelta) -> list[Stored]:
    """Take these fixes into account, in the caller's transaction: each is (source, id) of its report, or
    (source, id, index) for one fix of a multi-fix report. The encounters this started (to announce once they
    commit). Fixes seen before, or not stored, change nothing."""
    lock(conn)
    keys = [(r[0], r[1], r[2] if len(r) > 2 else None) for r in reports]
    fresh = [row[0] for row in conn.execute(text(_SCAN), {"sources": [k[0] for k in keys],
                                                           "ids": [k[1] for k in keys],
                                                           "indexes": [k[2] for k in keys]})]
    if not fresh:
        return []
    found = conn.execute(text(FRESH_CONTACTS), {"fresh": fresh, "distance": distance, "window": window})
    return apply(conn, by_pair(_contacts(found), window), window)


def apply(conn: Connection, pairs: dict[tuple[int, int], list[Run]], window: timedelta) -> list[Stored]:
    """Merge these runs into the stored ones (the caller holds the lock): a run touching stored runs of its pair
    joins them, the oldest row absorbing the others; a run touching none is a new encounter, returned."""
    wanted = [(a, b, run) for (a, b), runs in pairs.items() for run in runs]
    if not wanted:
        return []
    columns = {"a": [a for a, _, _ in wanted], "b": [b for _, b, _ in wanted],
               "lo": [r.first_seen for _, _, r in wanted], "hi": [r.last_seen for _, _, r in wanted]}
    stored: dict[tuple[int, int], dict[int, Stored]] = {}
    for row in conn.execute(text(_NEAR), {**columns, "window": window}):
        stored.setdefault((row[1], row[2]), {})[row[0]] = Stored(row[0], row[1], row[2], Run(*row[3:]))
    updates: dict[int, Stored] = {}
    deleted: set[int] = set()
    inserts: list[tuple[int, int, Run]] = []
    for a, b, run in wanted:
        rows = stored.setdefault((a, b), {})
        touching = sorted((s for s in rows.values() if s.run.touches(run, window)), key=lambda s: s.id)
        if not touching:
            pending = [i for i, (pa, pb, r) in enumerate(inserts) if (pa, pb) == (a, b) and r.touches(run, window)]
            if pending:  # runs of one batch are apart already; kept for safety
                inserts[pending[0]] = (a, b, merged([inserts[pending[0]][2], run]))
            else:
                inserts.append((a, b, run))
            continue
        keep = Stored(touching[0].id, a, b, merged([*(s.run for s in touching), run]))
        for gone in touching[1:]:
            deleted.add(gone.id)
            updates.pop(gone.id, None)
            del rows[gone.id]
        rows[keep.id] = updates[keep.id] = keep
    if deleted:
        conn.execute(text("DELETE FROM encounter WHERE id = ANY(:ids)"), {"ids": sorted(deleted)})
    if updates:
        conn.execute(text("""
            UPDATE encounter e SET first_seen = u.first_seen, last_seen = u.last_seen, contacts = u.contacts,
                   longitude = u.longitude, latitude = u.latitude, updated_at = now()
            FROM unnest(CAST(:ids AS bigint[]), CAST(:first AS timestamptz[]), CAST(:last AS timestamptz[]),
                        CAST(:contacts AS int[]), CAST(:lon AS float8[]), CAST(:lat AS float8[]))
                 AS u(id, first_seen, last_seen, contacts, longitude, latitude)
            WHERE e.id = u.id"""), _columns(list(updates.values())))
    if not inserts:
        return []
    new = [Stored(0, a, b, run) for a, b, run in inserts]
    returned = conn.execute(text("""
        INSERT INTO encounter (person_a, person_b, first_seen, last_seen, contacts, longitude, latitude)
        SELECT * FROM unnest(CAST(:a AS int[]), CAST(:b AS int[]), CAST(:first AS timestamptz[]),
                             CAST(:last AS timestamptz[]), CAST(:contacts AS int[]), CAST(:lon AS float8[]),
                             CAST(:lat AS float8[]))
        RETURNING id, person_a, person_b, first_seen"""), _columns(new)).all()
    ids = {(a, b, first): i for i, a, b, first in returned}
    created = [Stored(ids[(s.person_a, s.person_b, s.run.first_seen)], s.person_a, s.person_b, s.run) for s in new]
    created.sort(key=lambda s: s.id)
    conn.execute(text("SELECT pg_notify(:channel, n) FROM unnest(CAST(:notes AS text[])) AS n"),
                 {"channel": CHANNEL, "notes": [f"{s.id},{s.person_a},{s.person_b}" for s in created]})
    return created


def _columns(items: list[Stored]) -> dict[str, list[Any]]:
    return {"ids": [s.id for s in items], "a": [s.person_a for s in items], "b": [s.person_b for s in items],
            "first": [s.run.first_seen for s in items], "last": [s.run.last_seen for s in items],
            "contacts": [s.run.contacts for s in items], "lon": [s.run.longitude for s in items],
            "lat": [s.run.latitude for s in items]}


def rebuild(conn: Connection, distance: float, window: timedelta, since: datetime | None = None) -> int:
    """Recompute the encounters from the stored fixes (all, or those from `since`), in the caller's transaction;
    how many encounters there are afterwards. With `since`, the cut moves back to the start of any run still
    going on within the window of it, so runs before the cut are kept whole and runs after it are recomputed."""
    lock(conn)
    cut: Any = "-infinity"
    if since is None:
        conn.execute(text("TRUNCATE encounter, encounter_scan"))
    else:
        cut = since
        while True:  # runs ending before cut - window cannot meet a contact with a fix from the cut on
            earlier = conn.execute(text("SELECT min(first_seen) FROM encounter WHERE first_seen < :cut "
                                        "AND last_seen + :window >= :cut"), {"cut": cut, "window": window}).scalar()
            if earlier is None:
                break
            cut = earlier
        conn.execute(text("DELETE FROM encounter WHERE first_seen >= :cut"), {"cut": cut})
    cut_param = cut
    found = conn.execute(text(ALL_CONTACTS), {"since": cut_param, "distance": distance, "window": window})
    apply(conn, by_pair(_contacts(found), window), window)
    conn.execute(text("INSERT INTO encounter_scan (location_id) SELECT id FROM location WHERE creation_time >= :cut "
                      "ON CONFLICT DO NOTHING"), {"cut": cut_param})
    return int(conn.execute(text("SELECT count(*) FROM encounter")).scalar_one())


def as_json(stored: Stored) -> dict[str, Any]:
    """The io.udaconnect.encounter.detected.v1 payload."""
    return {"encounter_id": stored.id, "person_ids": [stored.person_a, stored.person_b],
            "first_seen": stored.run.first_seen.isoformat(), "last_seen": stored.run.last_seen.isoformat(),
            "longitude": stored.run.longitude, "latitude": stored.run.latitude, "contacts": stored.run.contacts}


def detected_events(created: Sequence[Stored]) -> list[Any]:
    """The announcement of each new encounter, with a fixed id (a relay after a crash sends the same event)."""
    from udaconnect.contracts.names import ENCOUNTER_DETECTED, ENCOUNTERS_SOURCE
    from udaconnect.events import Event

    return [Event({"specversion": "1.0", "id": str(s.id), "source": ENCOUNTERS_SOURCE, "type": ENCOUNTER_DETECTED,
                   "subject": f"{s.person_a},{s.person_b}", "datacontenttype": "application/json",
                   "partitionkey": f"{s.person_a},{s.person_b}"},
                  json.dumps(as_json(s), separators=(",", ":")).encode()) for s in created]


_OF_PERSON = """
SELECT e.id, p.id, p.first_name, p.last_name, p.company_name, e.first_seen, e.last_seen, e.longitude, e.latitude,
       e.contacts
FROM encounter e JOIN person p ON p.id = CASE WHEN e.person_a = :person THEN e.person_b ELSE e.person_a END
WHERE (e.person_a = :person OR e.person_b = :person) AND {where}
ORDER BY {order} LIMIT :limit
"""
OF_PERSON_IN_RANGE = _OF_PERSON.format(where="e.first_seen < :end AND e.last_seen >= :start",
                                       order="e.first_seen, e.id")
OF_PERSON_AFTER = _OF_PERSON.format(where="e.id > :after", order="e.id")


def encounter_json(row: Sequence[Any]) -> dict[str, Any]:
    """An API Encounter from a row of OF_PERSON_*."""
    return {"id": row[0], "person": {"id": row[1], "first_name": row[2], "last_name": row[3],
                                     "company_name": row[4]},
            "first_seen": row[5].isoformat(), "last_seen": row[6].isoformat(), "longitude": row[7],
            "latitude": row[8], "contacts": row[9]}


def of_person(conn: Connection, person: int, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
    """`person`'s encounters with a contact in [start, end), earliest first."""
    return [encounter_json(r) for r in conn.execute(
        text(OF_PERSON_IN_RANGE), {"person": person, "start": start, "end": end, "limit": limit})]


def after(conn: Connection, person: int, last_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """`person`'s encounters detected after encounter `last_id`, in detection order."""
    return [encounter_json(r) for r in conn.execute(
        text(OF_PERSON_AFTER), {"person": person, "after": last_id, "limit": limit})]


def latest_id(conn: Connection) -> int:
    return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM encounter")).scalar_one())


def person_exists(conn: Connection, person: int) -> bool:
    return conn.execute(text("SELECT EXISTS (SELECT 1 FROM person WHERE id = :p)"), {"p": person}).scalar() is True
