"""The original UdaConnect connection search, reimplemented faithfully on the original schema (for comparison).

Schema: geometry with SRID 0, a B-tree on the coordinate, no index on person_id, naive TIMESTAMP. Algorithm
(../shared/notes/original-udaconnect.md): own locations with start <= t < end; every person loaded; then one
query per own location with `coordinate::geography` (defeating any index) and others' range end + 1 day.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

SCHEMA = """
DROP TABLE IF EXISTS legacy_location;
CREATE TABLE legacy_location (
    id SERIAL PRIMARY KEY, person_id INT NOT NULL, coordinate GEOMETRY NOT NULL, creation_time TIMESTAMP NOT NULL
);
INSERT INTO legacy_location (id, person_id, coordinate, creation_time)
    SELECT id, person_id, ST_SetSRID(coordinate::geometry, 0), creation_time AT TIME ZONE 'UTC' FROM location;
CREATE INDEX legacy_coordinate_idx ON legacy_location (coordinate);
CREATE INDEX legacy_creation_time_idx ON legacy_location (creation_time);
ANALYZE legacy_location;
"""

_OWN = ("SELECT id, person_id, coordinate, creation_time FROM legacy_location "
        "WHERE person_id = %s AND creation_time < %s AND creation_time >= %s")
_NEAR = """
SELECT person_id, id, ST_X(coordinate), ST_Y(coordinate), creation_time
FROM legacy_location
WHERE ST_DWithin(coordinate::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)
AND person_id != %s
AND TO_DATE(%s, 'YYYY-MM-DD') <= creation_time
AND TO_DATE(%s, 'YYYY-MM-DD') > creation_time
"""


def find_contacts(cursor: Any, person_id: int, start: date, end: date, meters: float = 5) -> list[dict[str, Any]]:
    """The original's PersonService/ConnectionService.find_contacts, step by step."""
    cursor.execute(_OWN + "", (person_id, end, start))
    own = [(row[0], row[1]) for row in cursor.fetchall()]
    cursor.execute("SELECT id, first_name, last_name, company_name FROM person")  # every person, every request
    persons = {row[0]: {"id": row[0], "first_name": row[1], "last_name": row[2], "company_name": row[3]}
               for row in cursor.fetchall()}
    cursor.execute("SELECT id, ST_X(coordinate), ST_Y(coordinate) FROM legacy_location WHERE id = ANY(%s)",
                   ([i for i, _ in own],))
    points = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    end_plus_one = (end + timedelta(days=1)).isoformat()
    result = []
    for location_id, _ in own:  # N+1: one query per own location
        x, y = points[location_id]
        cursor.execute(_NEAR, (x, y, meters, person_id, start.isoformat(), end_plus_one))
        for other, other_id, ox, oy, when in cursor.fetchall():
            result.append({"person": persons[other], "location": {
                "id": other_id, "person_id": other, "longitude": str(ox), "latitude": str(oy),
                "creation_time": datetime.isoformat(when)}})
    json.dumps(result)  # the original answered JSON too (flask-restx marshalling, not reproduced here)
    return result
