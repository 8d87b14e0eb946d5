"""One group's transaction: COPY straight into `location`, or, when that fails, COPY into a staging table and
one INSERT … SELECT that sorts the rows out.

The common group (new events of known persons) is a bulk load: one COPY and a commit. A group holding a
redelivered fix (unique (source, id, index): a multi-fix report's fixes share its source and id) or an unknown
person (the foreign key) makes that COPY fail as a whole;
it is rolled back and written again by the INSERT, which leaves those rows out so they never fail their
neighbours, and tells each row's outcome. Measured at 300-row groups: COPY ~65k rows/s, staging + INSERT
45–50k, execute_values(INSERT … VALUES) 34k.

Revoked devices: unless UDACONNECT_AUTH=open, the group's transaction first asks, in one query, which of its
/devices/<uuid> sources are enrolled devices not revoked; the rows of any other are left out (REVOKED: the
caller drops them, never dead-letters them). A device revoked once this query ran still has that group stored
(those fixes were reported before the revocation); every later group is refused.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from udaconnect.storage import copy_text

STORED, DUPLICATE, UNKNOWN_PERSON = "stored", "duplicate", "unknown-person"
#: The person was erased (person_erasure): their in-flight fix is dropped, not stored and not dead-lettered.
ERASED = "erased"
#: The database refused the row's values (e.g. out of a column's range): it never will take them.
UNSTORABLE = "unstorable"
#: Its source is /devices/<uuid> of a device that is revoked or was never enrolled: dropped, not stored.
REVOKED = "revoked-device"
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

    @property
    def key(self) -> tuple[str, str, int]:
        return self.event_source, self.event_id, self.event_index


def prepare(connection: Any) -> None:
    """Once per connection: the staging table lives as long as the session, emptied at every commit."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGING)
    connection.commit()


def store(connection: Any, rows: list[Row], devices_checked: bool = True) -> list[str]:
    """Write `rows` and commit; the outcome of each row, in order. `devices_checked` (auth on): rows from a
    revoked or unknown device are REVOKED, not written."""
    from psycopg2 import errors

    everything, refused = rows, frozenset[str]()
    try:
        if devices_checked:
            refused = _refused_devices(connection, rows)
            rows = [r for r in rows if r.event_source not in refused] if refused else rows
        with connection.cursor() as cursor:
            cursor.copy_expert(_COPY, io.StringIO("".join(map(_location_line, rows))))
        connection.commit()
        return _with_refused(everything, refused, [STORED] * len(rows))
    except (errors.UniqueViolation, errors.ForeignKeyViolation):
        connection.rollback()
    except _refused():
        connection.rollback()
    except BaseException:
        if not connection.closed:
            connection.rollback()
        raise
    return _with_refused(everything, refused, _isolated(connection, rows))


def _refused_devices(connection: Any, rows: list[Row]) -> frozenset[str]:
    """The /devices/<uuid> sources among `rows` that name no enrolled device, or a revoked one: one query."""
    devices: dict[str, str | None] = {}
    for source in {r.event_source for r in rows}:
        if match := _DEVICE_SOURCE.match(source):
            try:
                devices[source] = str(uuid.UUID(match[1]))
            except ValueError:
                devices[source] = None
    wanted = sorted({d for d in devices.values() if d})
    if not devices:
        return frozenset()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text FROM device WHERE id = ANY(%s::uuid[]) AND revoked_at IS NULL", (wanted,))
        live = {found for (found,) in cursor.fetchall()}
    return frozenset(source for source, device in devices.items() if device not in live)


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


def _isolated(connection: Any, rows: list[Row]) -> list[str]:
    """_sorted_out, and when the database refuses a value (which fails the whole group), the group halved until
    each refused row stands alone as UNSTORABLE: one bad report never fails its neighbours (no 503 for them, no
    retry for it)."""
    try:
        return _sorted_out(connection, rows)
    except _refused():
        if len(rows) == 1:
            return [UNSTORABLE]
    middle = len(rows) // 2
    return _isolated(connection, rows[:middle]) + _isolated(connection, rows[middle:])


def _sorted_out(connection: Any, rows: list[Row]) -> list[str]:
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert("COPY persist_staging FROM STDIN", io.StringIO("".join(map(_line, rows))))
            cursor.execute(_INSERT)
            inserted = set(cursor.fetchall())
            missing = {r.person_id for r in rows if r.key not in inserted}
            known = missing and _known(cursor, missing)
            erased = missing - known and _erased(cursor, missing - known)
        connection.commit()
    except BaseException:
        if not connection.closed:
            connection.rollback()
        raise
    return [STORED if r.key in inserted else DUPLICATE if r.person_id in known
            else ERASED if r.person_id in erased else UNKNOWN_PERSON for r in rows]


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
