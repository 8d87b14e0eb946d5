"""One group's transaction: COPY straight into `location`, or, when that fails, COPY into a staging table and
one INSERT … SELECT that sorts the rows out.

The common group (new events of known persons) is a bulk load: one COPY and a commit. A group holding a
redelivered fix (unique (source, id, index): a multi-fix report's fixes share its source and id) or an unknown
person (the foreign key) makes that COPY fail as a whole;
it is rolled back and written again by the INSERT, which leaves those rows out so they never fail their
neighbours, and tells each row's outcome. Measured at 300-row groups: COPY ~65k rows/s, staging + INSERT
45–50k, execute_values(INSERT … VALUES) 34k.

Who reported: unless UDACONNECT_AUTH=open, the group's transaction first asks, in one query, which of its
/devices/<uuid> sources are enrolled devices, not revoked, of the row's own person; the rows of any other, and of
any source that is not a device's unless an organizer imported it (Row.imported, from ingest's delivery proof),
are left out (REVOKED: the caller drops them, never dead-letters them). A device revoked once this query ran still
has that group stored (those fixes were reported before the revocation); every later group is refused.

Plausibility: with `rules` (persist always passes them), the transaction then takes a lock per person of the
group (pg_advisory_xact_lock, in person order, so two persist instances writing one person take turns and never
deadlock), reads each person's trusted fixes around the group's (the one before, those among, the one after:
location_person_time_idx) and judges the new ones in time order (udaconnect.plausibility). A fix it does not
believe goes to `location_untrusted` with its reason (UNTRUSTED), never to `location`; a key either table holds
is never written to the other (a redelivery is a DUPLICATE whichever way it was judged before).
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from udaconnect import plausibility
from udaconnect.storage import copy_text

STORED, DUPLICATE, UNKNOWN_PERSON = "stored", "duplicate", "unknown-person"
#: The person was erased (person_erasure): their in-flight fix is dropped, not stored and not dead-lettered.
ERASED = "erased"
#: The database refused the row's values (e.g. out of a column's range): it never will take them.
UNSTORABLE = "unstorable"
#: Its source is /devices/<uuid> of a device that is revoked or was never enrolled: dropped, not stored.
REVOKED = "revoked-device"
#: Kept, not believed: written to location_untrusted with its reason (udaconnect.plausibility).
UNTRUSTED = "untrusted"
#: pg_advisory_xact_lock's first key for "a person's fixes are being judged" (the second is the person's id).
_JUDGING = 0x75647063
_DEVICE_SOURCE = re.compile(r"^/devices/([0-9A-Fa-f-]{32,36})$")
_STAGING = ("CREATE TEMPORARY TABLE IF NOT EXISTS persist_staging (person_id integer, longitude float8, "
            "latitude float8, creation_time timestamptz, accuracy float8, event_source text, event_id text, "
            "event_index integer) "
            "ON COMMIT DELETE ROWS")
_COPY = ("COPY location (person_id, coordinate, creation_time, accuracy, event_source, event_id, event_index) "
         "FROM STDIN")
_INSERT = ("INSERT INTO location (person_id, coordinate, creation_time, accuracy, event_source, event_id, "
           "event_index) "
           "SELECT s.person_id, ST_SetSRID(ST_MakePoint(s.longitude, s.latitude), 4326)::geography, "
           "s.creation_time, s.accuracy, s.event_source, s.event_id, s.event_index "
           "FROM persist_staging s JOIN person ON person.id = s.person_id "
           "ON CONFLICT (event_source, event_id, event_index) DO NOTHING "
           "RETURNING event_source, event_id, event_index")


@dataclass(frozen=True)
class Row:
    person_id: int
    longitude: float
    latitude: float
    recorded_at: datetime
    accuracy: float | None
    event_source: str
    event_id: str
    event_index: int = 0  # the fix's index in a multi-fix report (0 for a single fix)
    arrived: datetime | None = None  # when it reached ingest (None: now)
    #: An organizer's report (ingest's delivery proof says so), or any with UDACONNECT_AUTH=open (nothing is checked):
    #: any source may be stored, and a fix without accuracy is trusted (udaconnect.plausibility.IMPRECISE)
    imported: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        return self.event_source, self.event_id, self.event_index


def prepare(connection: Any) -> None:
    """Once per connection: the staging table lives as long as the session, emptied at every commit; the
    judgement's statements prepared (parsed and planned once per session, not once per group)."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGING)
        cursor.execute("DEALLOCATE ALL")
        cursor.execute(f"PREPARE persist_lock(int, int[]) AS {_LOCK}")
        cursor.execute(f"PREPARE persist_neighbours(int[], timestamptz[], timestamptz[]) AS {_NEIGHBOURS}")
    connection.commit()


def store(connection: Any, rows: list[Row], devices_checked: bool = True,
          rules: plausibility.Rules | None = None) -> list[str]:
    """Write `rows` and commit; the outcome of each row, in order. `devices_checked` (auth on): rows from a
    revoked or unknown device are REVOKED, not written. `rules`: each fix judged first (see the module's doc)."""
    from psycopg2 import errors

    everything, refused = rows, frozenset[str]()
    try:
        if devices_checked:
            refused = _refused_devices(connection, rows)
            rows = [r for r in rows if r.event_source not in refused] if refused else rows
        apart: dict[tuple[str, str, int], str] = {}
        held: set[tuple[str, str, int]] = set()
        trusted = rows
        if rules is not None:
            with connection.cursor() as cursor:
                trusted, apart, held = _judge_and_set_apart(cursor, rows, rules)
            if len(trusted) + sum(r.key in apart or r.key in held for r in rows) < len(rows):
                raise _SortOut  # an untrusted fix not written: a redelivery, or an unknown person
        with connection.cursor() as cursor:
            cursor.copy_expert(_COPY, io.StringIO("".join(map(_location_line, trusted))))
        connection.commit()
        _count_untrusted(apart)
        return _with_refused(everything, refused, [UNTRUSTED if r.key in apart else DUPLICATE if r.key in held
                                                   else STORED for r in rows])
    except (errors.UniqueViolation, errors.ForeignKeyViolation, _SortOut):
        connection.rollback()
    except _refused():
        connection.rollback()
    except BaseException:
        if not connection.closed:
            connection.rollback()
        raise
    return _with_refused(everything, refused, _isolated(connection, rows, rules))


def _count_untrusted(apart: dict[tuple[str, str, int], str]) -> None:
    """Once committed: the fixes kept apart, by reason (udaconnect.telemetry.metrics)."""
    if apart:
        from collections import Counter

        from udaconnect.telemetry import metrics

        for reason, count in Counter(apart.values()).items():
            metrics.UNTRUSTED.labels(reason).inc(count)


class _SortOut(Exception):
    """The group needs the row-by-row path (_sorted_out) to tell each row's outcome."""


def _judge_and_set_apart(cursor: Any, rows: list[Row], rules: plausibility.Rules
                         ) -> tuple[list[Row], dict[tuple[str, str, int], str], set[tuple[str, str, int]]]:
    """The rows to write to `location`; the keys written to location_untrusted (with their reasons); the keys it
    held already."""
    reasons, kept_apart = _judged(cursor, rows, rules)
    apart = [(r, reason) for r, reason in zip(rows, reasons, strict=True) if reason is not None]
    written = _insert_untrusted(cursor, apart) if apart else {}
    believed = [r for r, reason in zip(rows, reasons, strict=True) if reason is None] if apart else rows
    # every believed fix was judged against its person's fixes in its time span, so kept_apart knows its key
    held = {r.key for r in believed if r.key in kept_apart}
    return ([r for r in believed if r.key not in held] if held else believed), written, held


def _judged(cursor: Any, rows: list[Row], rules: plausibility.Rules
            ) -> tuple[list[str | None], set[tuple[str, str, int]]]:
    """Each row's reason not to be believed (or None), against its person's trusted fixes, under their locks;
    the keys among its persons' fixes in the group's time span that location_untrusted holds (an earlier delivery
    of the same report kept them apart)."""
    now = datetime.now(UTC)
    arrived = [r.arrived or now for r in rows]
    by_person: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        if not plausibility.is_late(row.recorded_at, arrived[i], rules):
            by_person.setdefault(row.person_id, []).append(i)
    reasons: list[str | None] = [plausibility.LATE] * len(rows)
    if not by_person:
        return reasons, set()
    persons = sorted(by_person)
    first = [min(rows[i].recorded_at for i in by_person[p]) for p in persons]
    last = [max(rows[i].recorded_at for i in by_person[p]) for p in persons]
    # One round trip, two statements: the locks first, then the read, whose snapshot (READ COMMITTED: one per
    # statement) is taken once they are held, so it sees every fix a concurrent writer of these persons committed.
    cursor.execute("EXECUTE persist_lock(%s, %s::int[]); "
                   "EXECUTE persist_neighbours(%s::int[], %s::timestamptz[], %s::timestamptz[])",
                   (_JUDGING, persons, persons, first, last))
    around: dict[int, list[plausibility.Point]] = {}
    kept_apart: set[tuple[str, str, int]] = set()
    for person_id, at, longitude, latitude, accuracy, source, event_id, index in cursor.fetchall():
        if source is None:
            around.setdefault(person_id, []).append(plausibility.Point(at, longitude, latitude, accuracy))
        else:
            kept_apart.add((source, event_id, index))
    for person_id, indexes in by_person.items():
        judged = plausibility.judge(
            around.get(person_id, ()), [_point(rows[i]) for i in indexes], [arrived[i] for i in indexes], rules)
        for i, reason in zip(indexes, judged, strict=True):
            reasons[i] = reason
    return reasons, kept_apart


_LOCK = "SELECT pg_advisory_xact_lock($1, p) FROM unnest($2::int[]) AS p"
#: Per person of the group: its trusted fixes around the group's (the one before, those among, the one after), and
#: the keys of its untrusted fixes among them (event_source not null: a redelivery judged before).
_NEIGHBOURS = """
SELECT p.person_id, l.creation_time, ST_X(l.coordinate::geometry), ST_Y(l.coordinate::geometry), l.accuracy,
       NULL::text, NULL::text, NULL::int
FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS p(person_id, first, last)
CROSS JOIN LATERAL (
    (SELECT * FROM location b WHERE b.person_id = p.person_id AND b.creation_time < p.first
     ORDER BY b.creation_time DESC LIMIT 1)
    UNION ALL
    (SELECT * FROM location m WHERE m.person_id = p.person_id AND m.creation_time BETWEEN p.first AND p.last)
    UNION ALL
    (SELECT * FROM location a WHERE a.person_id = p.person_id AND a.creation_time > p.last
     ORDER BY a.creation_time LIMIT 1)
) AS l
UNION ALL
SELECT u.person_id, NULL, NULL, NULL, NULL, u.event_source, u.event_id, u.event_index
FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS p(person_id, first, last)
JOIN location_untrusted u ON u.person_id = p.person_id AND u.creation_time BETWEEN p.first AND p.last
"""


def _point(row: Row) -> plausibility.Point:
    return plausibility.Point(row.recorded_at, row.longitude, row.latitude, row.accuracy, vouched=row.imported)


def _insert_untrusted(cursor: Any, apart: list[tuple[Row, str]]) -> dict[tuple[str, str, int], str]:
    """Write `apart` to location_untrusted with their reasons: the keys written, with their reasons (not those
    either table holds, nor those of unknown persons)."""
    rows = [r for r, _ in apart]
    cursor.execute(_INSERT_UNTRUSTED, (
        [r.person_id for r in rows], [r.longitude for r in rows], [r.latitude for r in rows],
        [r.recorded_at for r in rows], [r.accuracy for r in rows], [r.event_source for r in rows],
        [r.event_id for r in rows], [r.event_index for r in rows], [reason for _, reason in apart],
        [r.arrived for r in rows]))
    reasons = {r.key: reason for r, reason in apart}
    return {key: reasons[key] for key in map(tuple, cursor.fetchall())}


_INSERT_UNTRUSTED = """
INSERT INTO location_untrusted (person_id, coordinate, creation_time, accuracy, event_source, event_id,
                                event_index, reason, received_at)
SELECT u.person_id, ST_SetSRID(ST_MakePoint(u.longitude, u.latitude), 4326)::geography, u.creation_time,
       u.accuracy, u.event_source, u.event_id, u.event_index, u.reason, u.received_at
FROM unnest(%s::int[], %s::float8[], %s::float8[], %s::timestamptz[], %s::float8[], %s::text[], %s::text[],
            %s::int[], %s::text[], %s::timestamptz[])
     AS u(person_id, longitude, latitude, creation_time, accuracy, event_source, event_id, event_index, reason,
          received_at)
JOIN person ON person.id = u.person_id
WHERE NOT EXISTS (SELECT 1 FROM location l WHERE l.event_source = u.event_source AND l.event_id = u.event_id
                  AND l.event_index = u.event_index)
ON CONFLICT (event_source, event_id, event_index) DO NOTHING
RETURNING event_source, event_id, event_index
"""


def _refused_devices(connection: Any, rows: list[Row]) -> frozenset[str]:
    """The sources among `rows` that may not be stored, in one query: a /devices/<uuid> source that names no
    enrolled device, a revoked one, or one enrolled for another person than a row's; any other source unless an
    organizer imported it (ingest's delivery proof said so: udaconnect.events.proof)."""
    devices: dict[str, str | None] = {}
    refused: set[str] = set()
    for row in rows:
        source = row.event_source
        if source in devices or source in refused:
            continue
        if match := _DEVICE_SOURCE.match(source):
            try:
                devices[source] = str(uuid.UUID(match[1]))
            except ValueError:
                devices[source] = None
        elif not row.imported:
            refused.add(source)
    wanted = sorted({d for d in devices.values() if d})
    if not wanted:
        return frozenset(refused | set(devices))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, person_id FROM device WHERE id = ANY(%s::uuid[]) AND revoked_at IS NULL",
                       (wanted,))
        live = dict(cursor.fetchall())
    # the device's own person, never another's: whatever route a report took, a device's source stands only for
    # the person it was enrolled for
    for row in rows:
        if row.event_source in devices:
            device = devices[row.event_source]
            if device is None or live.get(device) != row.person_id:
                refused.add(row.event_source)
    return frozenset(refused)


def _with_refused(rows: list[Row], refused: frozenset[str], outcomes: list[str]) -> list[str]:
    """The outcomes of the rows written, with REVOKED in the places of those left out."""
    if not refused:
        return outcomes
    written = iter(outcomes)
    return [REVOKED if r.event_source in refused else next(written) for r in rows]


def _refused() -> tuple[type[Exception], ...]:
    """Errors saying a value can never be stored (SQLSTATE classes 22 and 23 but for the two sorted out)."""
    from psycopg2 import errors

    return errors.DataError, errors.CheckViolation, errors.NotNullViolation


def _isolated(connection: Any, rows: list[Row], rules: plausibility.Rules | None = None) -> list[str]:
    """_sorted_out, and when the database refuses a value (which fails the whole group), the group halved until
    each refused row stands alone as UNSTORABLE: one bad report never fails its neighbours (no 503 for them, no
    retry for it)."""
    try:
        return _sorted_out(connection, rows, rules)
    except _refused():
        if len(rows) == 1:
            return [UNSTORABLE]
    middle = len(rows) // 2
    return _isolated(connection, rows[:middle], rules) + _isolated(connection, rows[middle:], rules)


def _sorted_out(connection: Any, every: list[Row], rules: plausibility.Rules | None) -> list[str]:
    apart: dict[tuple[str, str, int], str] = {}
    held: set[tuple[str, str, int]] = set()
    try:
        with connection.cursor() as cursor:
            rows = every
            if rules is not None:
                rows, apart, held = _judge_and_set_apart(cursor, every, rules)
            cursor.copy_expert("COPY persist_staging FROM STDIN", io.StringIO("".join(map(_line, rows))))
            cursor.execute(_INSERT)
            inserted = set(cursor.fetchall())
            done = inserted | apart.keys() | held
            missing = {r.person_id for r in every if r.key not in done}
            known = missing and _known(cursor, missing)
            erased = missing - known and _erased(cursor, missing - known)
        connection.commit()
        _count_untrusted(apart)
    except BaseException:
        if not connection.closed:
            connection.rollback()
        raise
    return [STORED if r.key in inserted else UNTRUSTED if r.key in apart else DUPLICATE if r.key in held
            or r.person_id in known else ERASED if r.person_id in erased else UNKNOWN_PERSON for r in every]


def _known(cursor: Any, person_ids: set[int]) -> set[int]:
    # Only rows the INSERT skipped get here: was it a redelivery, or a person that does not exist?
    cursor.execute("SELECT id FROM person WHERE id = ANY(%s)", (sorted(person_ids),))
    return {found for (found,) in cursor.fetchall()}


def _erased(cursor: Any, person_ids: set[int]) -> set[int]:
    # In the writing transaction: an erasure that committed before it is seen here (its person row is gone, so
    # the INSERT skipped the rows), and a person id is never reused, so no later fix of theirs is ever stored.
    cursor.execute("SELECT person_id FROM person_erasure WHERE person_id = ANY(%s)", (sorted(person_ids),))
    return {found for (found,) in cursor.fetchall()}


def _location_line(row: Row) -> str:
    return f"{row.person_id}\tSRID=4326;POINT({float(row.longitude)!r} {float(row.latitude)!r})\t{_rest(row)}"


def _line(row: Row) -> str:
    return f"{row.person_id}\t{float(row.longitude)!r}\t{float(row.latitude)!r}\t{_rest(row)}"


def _rest(row: Row) -> str:
    accuracy = copy_text.NULL if row.accuracy is None else repr(float(row.accuracy))
    return (f"{row.recorded_at.isoformat()}\t{accuracy}\t{copy_text.text(row.event_source)}\t"
            f"{copy_text.text(row.event_id)}\t{row.event_index:d}\n")
